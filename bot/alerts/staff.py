"""What the staff console calls: acknowledging an alert, and reading alerts and quiet
patients for its pages. Every function takes the caller's session, so the console records
the acknowledgement and its audit entry in one transaction:

    with session() as s, s.begin():
        done = staff.acknowledge(s, alert_id, by=me.username, now=now_utc(), via="console")
        if done.newly:
            audit.record(s, "alert_ack", staff=me, target=done.alert.conversation_id,
                         detail={"alert_id": done.alert.id, "level": done.alert.level}, ip=ip)
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Optional

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from bot.alerts.models import INCOMPLETE, NO_REPLY, Alert, Delivery, QuietPatient
from bot.questions import MAIN_QUESTIONS, QUESTIONS
from bot.sms.models import OutboundSms

VIA = ("console", "cli")


@dataclass(frozen=True)
class Acknowledged:
    alert: Alert
    newly: bool   # False: someone had acknowledged it already (alert.acknowledged_by says who)


def acknowledge(s: Session, alert_id: int, *, by: str, now: datetime,
                via: str = "console") -> Acknowledged:
    """Record who acknowledged the alert, and when (the first acknowledgement stands).
    Unsent messages about it are cancelled: someone is dealing with it. Raises LookupError
    for an unknown alert, ValueError for an empty name."""
    by = (by or "").strip()[:150]
    if not by:
        raise ValueError("Say who acknowledges the alert.")
    if via not in VIA:
        raise ValueError(f"via must be one of {', '.join(VIA)}")
    if s.get(Alert, alert_id) is None:
        raise LookupError(f"no alert {alert_id}")
    newly = s.execute(update(Alert)
                      .where(Alert.id == alert_id, Alert.acknowledged_at.is_(None))
                      .values(acknowledged_at=now, acknowledged_by=by, acknowledged_via=via)
                      .execution_options(synchronize_session=False)).rowcount == 1
    if newly:
        # Here, not at the top: the outbox's message wording reads the console's labels,
        # and the console reads this module.
        from bot.alerts import outbox
        outbox.cancel_for_alert(s, alert_id, f"acknowledged by {by} before it was sent")
    alert = s.get(Alert, alert_id)
    s.refresh(alert)
    return Acknowledged(alert, newly)


@dataclass(frozen=True)
class AlertRow:
    alert: Alert
    deliveries: list[Delivery]   # its own messages, and the held bundle's it went out in

    @property
    def delivery_state(self) -> str:
        """sent / sending / failed / cancelled / held / none, for a badge."""
        if self.alert.route == "held" and self.alert.released_at is None:
            return "held"
        states = {d.status for d in self.deliveries}
        for state in ("sent", "sending", "pending", "failed", "cancelled"):
            if state in states:
                return "sending" if state == "pending" else state
        return "none"


def _rows(s: Session, alerts: list[Alert]) -> list[AlertRow]:
    if not alerts:
        return []
    ids = [a.id for a in alerts]
    bundles = [a.bundle_id for a in alerts if a.bundle_id]
    deliveries = list(s.scalars(select(Delivery).where(
        or_(Delivery.alert_id.in_(ids), Delivery.bundle_id.in_(bundles or [-1])))
        .order_by(Delivery.id)))
    return [AlertRow(a, [d for d in deliveries
                         if d.alert_id == a.id or (a.bundle_id and d.bundle_id == a.bundle_id)])
            for a in alerts]


def open_alerts(s: Session, limit: int = 100) -> list[AlertRow]:
    """Alerts nobody has acknowledged, oldest first."""
    alerts = list(s.scalars(select(Alert).where(Alert.acknowledged_at.is_(None))
                            .order_by(Alert.raised_at, Alert.id).limit(limit)))
    return _rows(s, alerts)


def alerts_for(s: Session, conversation_id: str) -> list[AlertRow]:
    alerts = list(s.scalars(select(Alert).where(Alert.conversation_id == conversation_id)
                            .order_by(Alert.id)))
    return _rows(s, alerts)


def quiet_patients(s: Session, kind: Optional[str] = None, *, open_only: bool = True,
                   limit: int = 100) -> list[QuietPatient]:
    """"No reply: call the patient" (kind no_reply) and incomplete conversations, oldest first."""
    query = select(QuietPatient)
    if kind:
        query = query.where(QuietPatient.kind == kind)
    if open_only:
        query = query.where(QuietPatient.resolved_at.is_(None))
    return list(s.scalars(query.order_by(QuietPatient.since, QuietPatient.id).limit(limit)))


def quiet_for(s: Session, conversation_id: str) -> list[QuietPatient]:
    return list(s.scalars(select(QuietPatient)
                          .where(QuietPatient.conversation_id == conversation_id)
                          .order_by(QuietPatient.id)))


def resolve_quiet(s: Session, mark_id: int, *, now: datetime) -> Optional[QuietPatient]:
    """Staff have called or checked on the patient: the mark leaves the queue. None if it
    was resolved already (by a reply, or by a colleague). Raises LookupError if unknown."""
    if s.get(QuietPatient, mark_id) is None:
        raise LookupError(f"no quiet-patient mark {mark_id}")
    done = s.execute(update(QuietPatient)
                     .where(QuietPatient.id == mark_id, QuietPatient.resolved_at.is_(None))
                     .values(resolved_at=now, resolution="dealt_with")
                     .execution_options(synchronize_session=False)).rowcount == 1
    mark = s.get(QuietPatient, mark_id)
    s.refresh(mark)
    return mark if done else None


QUIET_TITLES = {NO_REPLY: "No reply: call the patient",
                INCOMPLETE: "Incomplete (questions left unanswered)"}


def describe_quiet(mark: QuietPatient) -> str:
    """What the mark means, in a line (question topics only, never the patient's words)."""
    details = mark.details or {}
    if mark.kind == NO_REPLY:
        n = int(details.get("unanswered", 1))
        return f"{n} follow-up text{'s' if n != 1 else ''} unanswered"
    answered = [QUESTIONS[q].asks_about for q in MAIN_QUESTIONS
                if q in (details.get("answered") or {})]
    return (f"{len(answered)} of {len(MAIN_QUESTIONS)} main questions answered"
            + (f" ({'; '.join(answered)})" if answered else ""))


# --- the figures the overview and the digest both show ------------------------------------

OPEN_ALERT: ColumnElement = Alert.acknowledged_at.is_(None)


def open_quiet(kind: str) -> tuple[ColumnElement, ...]:
    return (QuietPatient.kind == kind, QuietPatient.resolved_at.is_(None))


def failed_texts(since: datetime) -> ColumnElement:
    """Texts that failed to send, or were reported undelivered, since `since`."""
    o = OutboundSms
    return or_(o.status.in_(("failed", "expired")) & (o.created_at >= since),
               o.delivery_status.in_(("failed", "undelivered")) & (o.delivery_at >= since))


def failed_alert_messages(since: datetime) -> ColumnElement:
    return (Delivery.status == "failed") & (Delivery.created_at >= since)


@dataclass(frozen=True)
class Figures:
    open_alerts: int
    no_reply: int
    incomplete: int
    failed_texts: int            # since `since`
    failed_alert_messages: int   # since `since`
    since: datetime


def figures(s: Session, since: datetime) -> Figures:
    def count(model, *where) -> int:
        return s.scalar(select(func.count()).select_from(model).where(*where)) or 0
    return Figures(open_alerts=count(Alert, OPEN_ALERT),
                   no_reply=count(QuietPatient, *open_quiet(NO_REPLY)),
                   incomplete=count(QuietPatient, *open_quiet(INCOMPLETE)),
                   failed_texts=count(OutboundSms, failed_texts(since)),
                   failed_alert_messages=count(Delivery, failed_alert_messages(since)),
                   since=since)


def open_marks_by_conversation(s: Session, conversation_ids: list[str]) -> dict[str, set[str]]:
    """conversation id -> {"alert", "no_reply", "incomplete"} still open, for queue badges."""
    found: dict[str, set[str]] = {}
    if not conversation_ids:
        return found
    for cid in s.scalars(select(Alert.conversation_id).where(
            OPEN_ALERT, Alert.conversation_id.in_(conversation_ids))):
        found.setdefault(cid, set()).add("alert")
    for cid, kind in s.execute(select(QuietPatient.conversation_id, QuietPatient.kind).where(
            QuietPatient.resolved_at.is_(None), QuietPatient.conversation_id.in_(conversation_ids))):
        found.setdefault(cid, set()).add(kind)
    return found


def recently_acknowledged(s: Session, limit: int = 20) -> list[AlertRow]:
    alerts = list(s.scalars(select(Alert).where(Alert.acknowledged_at.isnot(None))
                            .order_by(Alert.acknowledged_at.desc(), Alert.id.desc()).limit(limit)))
    return _rows(s, alerts)
