"""What the console shows of the care-team alerts: on the alerts page, on each transcript
and on the overview. Reads through `bot.alerts.staff`; this module only turns its rows into
lines a nurse reads (who was told, when, and who acknowledged)."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Optional

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.alerts import digest, staff
from bot.alerts.models import NO_REPLY, Delivery, QuietPatient
from bot.console.queue import CHANNEL_GROUPS, PROCEDURES, LevelInfo, level_info
from bot.sms import console_hooks as sms
from bot.sms.models import Discharge
from bot.storage.times import aware

ROUTES = {"department": "the department", "on_call": "the on-call address",
          "held": "held for the next opening"}
REMINDERS = {"waiting": "reminder text waiting for the end of the quiet hours",
             "queued": "one reminder text sent", "one_sent": "a reminder was sent already",
             "opted_out": "no reminder (the patient texted STOP)",
             "off": "no reminder (reminders are off)", "sms_off": "no reminder (SMS is off)",
             "cancelled": "no reminder (the follow-ups were cancelled)", "not_sms": ""}




@dataclass
class AlertView:
    id: int
    conversation_id: str
    level: LevelInfo
    channel: str
    raised_at: datetime
    route: str
    state: str                   # sent / sending / failed / cancelled / held / none
    told: list[str]              # one line per message: "email to a@x, sent 14:05"
    acknowledged_at: Optional[datetime]
    acknowledged_by: str
    held_until: Optional[datetime] = None


def _delivery_line(d: Delivery) -> str:
    """"email to ir-team@x.nhs.uk (on call): sent", for each message about the alert."""
    to = f"email to {d.recipients}" if d.transport == "email" else f"webhook ({d.recipients})"
    to += {"on_call": " (on call)", "digest": " (in the digest)"}.get(d.route, "")
    if d.status == "sent":
        return f"{to}: sent"
    if d.status == "failed":
        return f"{to}: could not be delivered ({d.last_error or 'no reason recorded'})"
    if d.status == "cancelled":
        return f"{to}: not sent ({d.last_error or 'cancelled'})"
    return f"{to}: sending (attempt {d.attempts + 1})"


def alert_view(row: staff.AlertRow) -> AlertView:
    a = row.alert
    return AlertView(id=a.id, conversation_id=a.conversation_id, level=level_info(a.level),
                     channel=CHANNEL_GROUPS.get(a.channel_group, a.channel),
                     raised_at=aware(a.raised_at), route=ROUTES.get(a.route, a.route),
                     state=row.delivery_state,
                     told=[_delivery_line(d) for d in row.deliveries],
                     acknowledged_at=aware(a.acknowledged_at),
                     acknowledged_by=a.acknowledged_by or "",
                     held_until=aware(a.held_until) if a.released_at is None else None)


def sent_times(rows: list[staff.AlertRow]) -> dict[int, Optional[datetime]]:
    """alert id -> when its first message went out."""
    return {r.alert.id: min((aware(d.sent_at) for d in r.deliveries if d.sent_at), default=None)
            for r in rows}


@dataclass
class QuietView:
    id: int
    kind: str
    title: str
    conversation_id: str
    channel: str
    since: datetime
    what: str
    phone: str = ""
    phone_e164: str = ""
    procedure: str = ""
    name: str = ""
    reminder: str = ""
    resolved_at: Optional[datetime] = None
    resolution: str = ""


def quiet_views(s: Session, marks: list[QuietPatient]) -> list[QuietView]:
    ids = [m.discharge_id for m in marks if m.discharge_id]
    discharges = {d.id: d for d in s.scalars(select(Discharge).where(Discharge.id.in_(ids)))} \
        if ids else {}
    region = sms.default_region() if discharges else ""
    views = []
    for m in marks:
        v = QuietView(id=m.id, kind=m.kind, title=staff.QUIET_TITLES.get(m.kind, m.kind),
                      conversation_id=m.conversation_id,
                      channel=CHANNEL_GROUPS.get(m.channel_group, m.channel_group),
                      since=aware(m.since), what=staff.describe_quiet(m),
                      reminder=REMINDERS.get(m.reminder or "", m.reminder or ""),
                      resolved_at=aware(m.resolved_at), resolution=m.resolution or "")
        d = discharges.get(m.discharge_id)
        if d is not None:
            v.phone = sms.phone_for_display(d.phone, region=region)
            v.phone_e164 = d.phone
            v.procedure = PROCEDURES.get(d.procedure, d.procedure)
            v.name = (d.name or "").strip()
        views.append(v)
    return views


@dataclass
class AlertsPage:
    open_alerts: list[AlertView]
    sent_at: dict[int, Optional[datetime]]
    no_reply: list[QuietView]
    incomplete: list[QuietView]
    acknowledged: list[AlertView]
    figures: staff.Figures


def figures(s: Session, now: Optional[datetime] = None) -> staff.Figures:
    now = now or datetime.now(timezone.utc)
    return staff.figures(s, digest.period_start(s, now))  # the digest's own period


def alerts_page(s: Session) -> AlertsPage:
    rows = staff.open_alerts(s)
    done = staff.recently_acknowledged(s)
    return AlertsPage(open_alerts=[alert_view(r) for r in rows],
                      sent_at=sent_times(rows + done),
                      no_reply=quiet_views(s, staff.quiet_patients(s, NO_REPLY)),
                      incomplete=quiet_views(s, staff.quiet_patients(s, "incomplete")),
                      acknowledged=[alert_view(r) for r in done], figures=figures(s))


@dataclass
class ConversationAlerts:
    alerts: list[AlertView] = field(default_factory=list)
    sent_at: dict[int, Optional[datetime]] = field(default_factory=dict)
    quiet: list[QuietView] = field(default_factory=list)

    @property
    def open_quiet(self) -> list[QuietView]:
        return [q for q in self.quiet if q.resolved_at is None]


def for_conversation(s: Session, conversation_id: str) -> ConversationAlerts:
    rows = staff.alerts_for(s, conversation_id)
    return ConversationAlerts([alert_view(r) for r in rows], sent_times(rows),
                              quiet_views(s, staff.quiet_for(s, conversation_id)))
