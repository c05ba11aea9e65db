"""The daily digest: one email to ALERT_DIGEST_TO at ALERT_DIGEST_AT local time (TIMEZONE),
once per local day however many workers run or restart (the day is claimed by the unique
`run_on` of its bundle, in the transaction that queues the email).

What it says, since the previous digest: advice given, counted by level; then, whenever
raised, alerts nobody has acknowledged, patients marked "no reply: call the patient" and
conversations left incomplete, still open; texts that failed; alert messages that could not
be delivered. The console's 30-day chart comes as an inline PNG, with its numbers in the
text. Conversation links, never what a patient wrote; names and numbers only when
ALERT_INCLUDE_PATIENT_DETAILS allows them.
"""
from __future__ import annotations

import html
import logging
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Optional

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from bot.alerts import outbox, png, staff
from bot.alerts.facts import channel_label, level_label, local_time
from bot.alerts.models import INCOMPLETE, NO_REPLY, Alert, Bundle, Delivery, QuietPatient
from bot.alerts.settings import AlertSettings
from bot.alerts.triggers import severity
from bot.console import chart as console_chart
from bot.console import queue as console_queue
from bot.sms.models import Discharge, OutboundSms
from bot.storage.db import session
from bot.storage.models import TriageOutcome
from bot.storage.times import aware

logger = logging.getLogger(__name__)
LISTED = 50  # rows per list; the counts are always whole
LEVEL_ORDER = ("emergency", "urgent", "contact_team", "self_care")
CHART_CID, CHART_FILE = "chart-30-days@triage", "triage-30-days.png"


@dataclass
class Item:
    when: str
    text: str
    link: str


@dataclass
class Section:
    title: str
    total: int
    items: list[Item] = field(default_factory=list)
    empty: str = "None."


@dataclass
class Digest:
    day: date
    since: str
    until: str
    advice: dict[str, int]
    sections: list[Section]
    chart_days: list[tuple[date, int]]
    png: bytes


def scheduled_at(day: date, cfg: AlertSettings) -> datetime:
    return datetime.combine(day, cfg.digest_at, tzinfo=cfg.core.timezone).astimezone(timezone.utc)


def _patient(s, cfg: AlertSettings, discharge_id: Optional[int]) -> str:
    if not (cfg.include_patient_details and discharge_id):
        return ""
    found = s.execute(select(Discharge.name, Discharge.phone)
                      .where(Discharge.id == discharge_id)).first()
    return f" ({', '.join(p for p in ((found[0] or '').strip(), found[1]) if p)})" if found else ""


def _advice(s, start: datetime, end: datetime) -> dict[str, int]:
    rows = dict(s.execute(select(TriageOutcome.level, func.count())
                          .where(TriageOutcome.created_at >= start, TriageOutcome.created_at < end)
                          .group_by(TriageOutcome.level)).all())
    counts = {level: rows.pop(level, 0) for level in LEVEL_ORDER}
    counts.update(rows)  # a level this version does not know, shown as it is
    return counts


def _open_alerts(s, cfg: AlertSettings) -> Section:
    where = staff.OPEN_ALERT
    total = s.scalar(select(func.count()).select_from(Alert).where(where)) or 0
    alerts = sorted(s.scalars(select(Alert).where(where).order_by(Alert.raised_at).limit(LISTED)),
                    key=lambda a: (-severity(a.level), a.raised_at))  # the oldest, worst first
    items = [Item(local_time(a.raised_at, cfg),
                  f"{level_label(a.level)}, {channel_label(a.channel_group)}"
                  f"{_patient(s, cfg, a.discharge_id)}", cfg.transcript_url(a.conversation_id))
             for a in alerts]
    return Section("Alerts not acknowledged", total, items)


def _quiet(s, cfg: AlertSettings, kind: str) -> Section:
    where = staff.open_quiet(kind)
    total = s.scalar(select(func.count()).select_from(QuietPatient).where(*where)) or 0
    marks = list(s.scalars(select(QuietPatient).where(*where).order_by(QuietPatient.since)
                           .limit(LISTED)))
    items = [Item(local_time(m.since, cfg),
                  (staff.describe_quiet(m) if kind == NO_REPLY else
                   f"{channel_label(m.channel_group)}: {staff.describe_quiet(m)}")
                  + _patient(s, cfg, m.discharge_id), cfg.transcript_url(m.conversation_id))
             for m in marks]
    title = ("No reply: call the patient" if kind == NO_REPLY
             else "Incomplete conversations (questions left unanswered)")
    return Section(title, total, items)


def _failed_texts(s, cfg: AlertSettings, start: datetime) -> Section:
    o = OutboundSms
    where = staff.failed_texts(start)
    total = s.scalar(select(func.count()).select_from(o).where(where)) or 0
    rows = s.execute(select(o.created_at, o.kind, o.status, o.delivery_status,
                            Discharge.conversation_id, Discharge.id)
                     .outerjoin(Discharge, Discharge.id == o.discharge_id)
                     .where(where).order_by(o.id).limit(LISTED)).all()
    items = [Item(local_time(aware(at), cfg),
                  f"{kind.replace('_', ' ')} text: "
                  f"{'not delivered' if delivery in ('failed', 'undelivered') else status}"
                  f"{_patient(s, cfg, discharge_id)}",
                  cfg.transcript_url(cid) if cid else "")
             for at, kind, status, delivery, cid, discharge_id in rows]
    return Section("Texts that failed", total, items)


def _failed_alerts(s, start: datetime) -> Section:
    total = s.scalar(select(func.count()).select_from(Delivery)
                     .where(staff.failed_alert_messages(start))) or 0
    return Section("Alert messages that could not be delivered", total,
                   empty="None." if not total else "See python -m bot.alerts status.")


def _sync_console_queue() -> None:
    """The chart reads the console's queue table: bring it up to date first, outside our
    transaction (harmless if the console does it too)."""
    try:
        console_queue.sync()
    except Exception as error:
        logger.warning("digest chart: the console's queue could not be synced (%s)",
                       type(error).__name__)


def _chart(s, cfg: AlertSettings, now: datetime) -> tuple[list[tuple[date, int]], bytes]:
    today = now.astimezone(cfg.core.timezone).date()
    overview = console_queue.overview(s, days=30, today=today)
    days = [(day, sum(overview.per_day[day].values())) for day in overview.days]
    return days, png.render(console_chart.build(overview))


def period_start(s, now: datetime) -> datetime:
    last = s.scalar(select(func.max(Bundle.period_end)).where(Bundle.kind.in_(("daily", "manual"))))
    return aware(last) if last else now - timedelta(days=1)


def build(s, cfg: AlertSettings, now: datetime, start: datetime) -> Digest:
    days, image = _chart(s, cfg, now)
    return Digest(day=now.astimezone(cfg.core.timezone).date(), since=local_time(start, cfg),
                  until=local_time(now, cfg), advice=_advice(s, start, now),
                  sections=[_open_alerts(s, cfg), _quiet(s, cfg, NO_REPLY),
                            _quiet(s, cfg, INCOMPLETE), _failed_texts(s, cfg, start),
                            _failed_alerts(s, start)],
                  chart_days=days, png=image)


def subject(d: Digest, cfg: AlertSettings) -> str:
    waiting = d.sections[0].total
    return (f"Aftercare bot digest, {d.day:%a %d %b}: "
            f"{waiting} alert{'s' if waiting != 1 else ''} not acknowledged")


def text(d: Digest, cfg: AlertSettings) -> str:
    lines = [f"{cfg.core.department_name}: aftercare bot digest", f"From {d.since} to {d.until}.",
             "", "Advice given, by level:"]
    lines += [f"  {level_label(level)}: {n}" for level, n in d.advice.items()]
    for section in d.sections:
        lines += ["", f"{section.title}: {section.total}"]
        if not section.total:
            continue
        for item in section.items:
            lines.append(f"  - {item.when}: {item.text}" + (f"\n    {item.link}" if item.link else ""))
        if section.total > len(section.items) and section.items:
            lines.append(f"  ... and {section.total - len(section.items)} more in the console.")
    per_day = ", ".join(f"{day:%d %b} {n}" for day, n in d.chart_days if n)
    lines += ["", "Conversations per day, last 30 days (the chart in this email):",
              f"  {per_day or 'none'}", "", f"Staff console: {cfg.console_url}/"]
    return "\n".join(lines) + "\n"


def html_body(d: Digest, cfg: AlertSettings) -> str:
    e = html.escape
    parts = [f"<h2>{e(cfg.core.department_name)}: aftercare bot digest</h2>",
             f"<p>From {e(d.since)} to {e(d.until)}.</p>", "<h3>Advice given, by level</h3><ul>"]
    parts += [f"<li>{e(level_label(level))}: {n}</li>" for level, n in d.advice.items()]
    parts.append("</ul>")
    for section in d.sections:
        parts.append(f"<h3>{e(section.title)}: {section.total}</h3>")
        if not section.items:
            continue
        parts.append("<ul>")
        for item in section.items:
            link = f' <a href="{e(item.link)}">transcript</a>' if item.link else ""
            parts.append(f"<li>{e(item.when)}: {e(item.text)}{link}</li>")
        parts.append("</ul>")
        if section.total > len(section.items):
            parts.append(f"<p>... and {section.total - len(section.items)} more in the console.</p>")
    parts += ["<h3>Conversations per day, last 30 days</h3>",
              f'<p><img src="cid:{CHART_CID}" alt="Bar chart of conversations per day by level, '
              f'last 30 days" width="720"></p>',
              f'<p><a href="{e(cfg.console_url)}/">Open the staff console</a></p>']
    return "<!doctype html><html><body>" + "\n".join(parts) + "</body></html>"


def _queue(s, cfg: AlertSettings, bundle: Bundle, now: datetime) -> Digest:
    d = build(s, cfg, now, bundle.period_start)
    bundle.summary = {"advice": d.advice, **{section.title: section.total for section in d.sections}}
    outbox.queue_email(s, cfg, recipients=cfg.digest_to, subject=subject(d, cfg),
                       text=text(d, cfg), now=now, route="digest", kind=f"digest{bundle.id}",
                       bundle_id=bundle.id, html=html_body(d, cfg),
                       image=(d.png, CHART_CID, CHART_FILE))
    return d


def configured(cfg: AlertSettings) -> bool:
    return cfg.smtp is not None and bool(cfg.digest_to)


def run_if_due(cfg: AlertSettings, now: datetime) -> Optional[int]:
    """Queue today's digest if its time has come and nobody has yet; the bundle id if so."""
    if not configured(cfg):
        return None
    day = now.astimezone(cfg.core.timezone).date()
    if now < scheduled_at(day, cfg):
        return None
    with session() as s:
        if s.scalar(select(Bundle.id).where(Bundle.run_on == day)) is not None:
            return None
    _sync_console_queue()
    try:
        with session() as s, s.begin():
            bundle = Bundle(kind="daily", run_on=day, period_start=period_start(s, now),
                            period_end=now, created_at=now)
            s.add(bundle)
            s.flush()  # the claim: a second worker fails here
            _queue(s, cfg, bundle, now)
    except IntegrityError:
        return None
    logger.info("daily digest of %s queued", day)
    return bundle.id


def send_now(cfg: AlertSettings, now: datetime) -> int:
    """An extra digest now (it does not count as the day's); returns its bundle id."""
    if not configured(cfg):
        raise ValueError("set ALERT_SMTP_HOST, ALERT_EMAIL_FROM and ALERT_DIGEST_TO "
                         "(or ALERT_EMAIL_TO) to send the digest")
    _sync_console_queue()
    with session() as s, s.begin():
        bundle = Bundle(kind="manual", period_start=period_start(s, now), period_end=now,
                        created_at=now)
        s.add(bundle)
        s.flush()
        _queue(s, cfg, bundle, now)
    return bundle.id
