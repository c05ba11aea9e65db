"""Patients who went quiet, marked in `alerts_quiet` for the console and the digest.

- No reply, call the patient: an SMS discharge whose follow-up text got no reply within
  ALERT_NO_REPLY_HOURS, or whose last ALERT_NO_REPLY_IN_A_ROW follow-ups all went
  unanswered. Any text from the patient after them answers them (a STOP too: the patient
  chose). A follow-up the carrier reported undelivered is not counted: the digest lists it
  as a failed text. `since` is the first unanswered follow-up; a reply resolves the mark.
- Incomplete: a conversation (web or SMS) whose current session has a message from the
  patient, questions begun, no advice and main questions unanswered, quiet for
  ALERT_INCOMPLETE_MINUTES. `since` is its last message; any later message resolves it.

Which conversations to look at comes from a cursor on Rasa's `events` (user messages only):
each one's latest message time is kept in `alerts_watch`, and only those quiet for long
enough and not checked since their last message are read again. One open mark per kind and
conversation at most.
"""
from __future__ import annotations

import logging
from collections import defaultdict
from datetime import datetime, timezone

from sqlalchemy import and_, func, select, update

from bot.alerts.conversation import state_of
from bot.alerts.db import advance_cursor, insert_ignore, read_cursor, upsert_latest
from bot.alerts.models import INCOMPLETE, NO_REPLY, QuietPatient, Watch
from bot.alerts.settings import AlertSettings
from bot.console.events import EVENTS, events_exist
from bot.console.queue import channel_group
from bot.sms.models import Discharge, InboundSms, OutboundSms
from bot.storage.db import session
from bot.storage.times import aware

logger = logging.getLogger(__name__)
SOURCE = "events"
NOT_DELIVERED = ("undelivered", "failed")


def _epoch(value: float) -> datetime:
    return datetime.fromtimestamp(value, timezone.utc)


def _first_event_id(s, cfg: AlertSettings, now: datetime) -> int:
    first = s.scalar(select(func.min(EVENTS.c.id))
                     .where(EVENTS.c.timestamp >= (now - cfg.backfill).timestamp()))
    if first is not None:
        return first - 1
    return s.scalar(select(func.max(EVENTS.c.id))) or 0


def watch_messages(cfg: AlertSettings, now: datetime, batch: int = 2000) -> int:
    """Read the user messages stored since the last pass into `alerts_watch`; a message
    after an open "incomplete" mark resolves it. Returns the messages read."""
    read = 0
    while True:
        with session() as s, s.begin():
            if not events_exist(s.connection()):
                return read
            mark, low = read_cursor(s, SOURCE, lambda: _first_event_id(s, cfg, now))
            top = s.scalar(select(func.max(EVENTS.c.id))) or 0
            rows = s.execute(select(EVENTS.c.id, EVENTS.c.sender_id, EVENTS.c.timestamp)
                             .where(EVENTS.c.id > low, EVENTS.c.id <= top,
                                    EVENTS.c.type_name == "user")
                             .order_by(EVENTS.c.id).limit(batch)).all()
            latest: dict[str, float] = defaultdict(float)
            for _, sender, stamp in rows:
                latest[sender] = max(latest[sender], stamp or 0.0)
            for sender, stamp in latest.items():
                at = _epoch(stamp)
                upsert_latest(s, Watch.__table__,
                              {"conversation_id": sender, "last_user_at": at, "state": "pending"},
                              "conversation_id", "last_user_at", {"state": "pending"})
                s.execute(update(QuietPatient)
                          .where(QuietPatient.kind == INCOMPLETE,
                                 QuietPatient.conversation_id == sender,
                                 QuietPatient.resolved_at.is_(None), QuietPatient.since < at)
                          .values(resolved_at=now, resolution="new_message")
                          .execution_options(synchronize_session=False))
            full = len(rows) >= batch
            advance_cursor(s, SOURCE, rows[-1][0] if full else top)
            read += len(rows)
        if not full:
            return read


def _open_mark(s, kind: str, conversation_id: str) -> bool:
    return s.scalar(select(QuietPatient.id).where(
        QuietPatient.kind == kind, QuietPatient.conversation_id == conversation_id,
        QuietPatient.resolved_at.is_(None)).limit(1)) is not None


def _mark(s, cfg: AlertSettings, *, kind: str, conversation_id: str, group: str,
          discharge_id, since: datetime, now: datetime, details: dict) -> bool:
    if _open_mark(s, kind, conversation_id):
        return False
    sms = group == "sms" and discharge_id is not None
    reminder = ("waiting" if cfg.sms_reminder else "off") if sms else "not_sms"
    added = insert_ignore(s, QuietPatient.__table__, {
        "kind": kind, "conversation_id": conversation_id, "channel_group": group,
        "discharge_id": discharge_id, "since": since, "marked_at": now, "details": details,
        "reminder": reminder}, ["kind", "conversation_id", "since"])
    if added:
        logger.info("%s marked %s (discharge %s)", "SMS conversation" if sms else "conversation",
                    kind, discharge_id or "-")
    return added


def check_incomplete(cfg: AlertSettings, now: datetime, batch: int = 200) -> int:
    """Conversations quiet for ALERT_INCOMPLETE_MINUTES since their last message: marked
    incomplete when they stopped short of advice. Returns the marks added."""
    marked = 0
    cutoff = now - cfg.incomplete_after
    while True:
        with session() as s:
            due = s.execute(select(Watch.conversation_id, Watch.last_user_at)
                            .where(Watch.state == "pending", Watch.last_user_at <= cutoff)
                            .order_by(Watch.last_user_at).limit(batch)).all()
        for conversation_id, last_at in due:
            with session() as s, s.begin():
                checked = s.execute(update(Watch)
                                    .where(Watch.conversation_id == conversation_id,
                                           Watch.state == "pending",
                                           Watch.last_user_at == last_at)
                                    .values(state="checked")
                                    .execution_options(synchronize_session=False)).rowcount
                if not checked:  # a newer message came, or another worker has it
                    continue
                state = state_of(s, conversation_id)
                if state is None or not state.incomplete:
                    continue
                discharge_id = s.scalar(select(Discharge.id).where(
                    Discharge.conversation_id == conversation_id))
                group = "sms" if discharge_id is not None else channel_group(state.channel)
                marked += _mark(s, cfg, kind=INCOMPLETE, conversation_id=conversation_id,
                                group=group, discharge_id=discharge_id, since=last_at, now=now,
                                details={"answered": state.answered(),
                                         "unanswered": state.unanswered})
        if len(due) < batch:
            return marked


def _followups_sent(s, cfg: AlertSettings, now: datetime) -> dict[int, list[datetime]]:
    """Discharge id -> when each of its follow-up texts went (first part), oldest first."""
    o = OutboundSms
    rows = s.execute(select(o.discharge_id, o.followup_id, func.min(o.sent_at))
                     .join(Discharge, Discharge.id == o.discharge_id)
                     .where(o.kind == "followup", o.status == "sent",
                            o.sent_at >= now - cfg.no_reply_lookback,
                            Discharge.cancelled_at.is_(None),
                            (o.delivery_status.is_(None)) | (o.delivery_status.notin_(NOT_DELIVERED)))
                     .group_by(o.discharge_id, o.followup_id)).all()
    sent: dict[int, list[datetime]] = defaultdict(list)
    for discharge_id, _, at in rows:
        sent[discharge_id].append(at)
    return {d: sorted(times) for d, times in sent.items()}


def _last_replies(s, discharge_ids) -> dict[int, datetime]:
    if not discharge_ids:
        return {}
    return dict(s.execute(select(InboundSms.discharge_id, func.max(InboundSms.received_at))
                          .where(InboundSms.discharge_id.in_(list(discharge_ids)))
                          .group_by(InboundSms.discharge_id)).all())


def check_no_reply(cfg: AlertSettings, now: datetime) -> int:
    """Mark the SMS discharges whose follow-ups went unanswered; resolve the marks of those
    who have replied since, or whose discharge was cancelled. Returns the marks added."""
    marked = 0
    with session() as s, s.begin():
        _resolve_no_reply(s, now)
        sent = _followups_sent(s, cfg, now)
        replies = _last_replies(s, sent)
        conversations = dict(s.execute(select(Discharge.id, Discharge.conversation_id)
                                       .where(Discharge.id.in_(list(sent)))).all()) if sent else {}
        for discharge_id, times in sent.items():
            last_reply = aware(replies.get(discharge_id))
            unanswered = [aware(t) for t in times if last_reply is None or aware(t) > last_reply]
            if not unanswered:
                continue
            overdue = unanswered[0] <= now - cfg.no_reply_after
            if not (overdue or len(unanswered) >= cfg.no_reply_in_a_row):
                continue
            marked += _mark(s, cfg, kind=NO_REPLY, conversation_id=conversations[discharge_id],
                            group="sms", discharge_id=discharge_id, since=unanswered[0],
                            now=now, details={"unanswered": len(unanswered)})
    return marked


def _resolve_no_reply(s, now: datetime) -> None:
    q = QuietPatient
    replied = select(InboundSms.id).where(InboundSms.discharge_id == q.discharge_id,
                                          InboundSms.received_at > q.since).exists()
    cancelled = select(Discharge.id).where(Discharge.id == q.discharge_id,
                                           Discharge.cancelled_at.isnot(None)).exists()
    open_no_reply = and_(q.kind == NO_REPLY, q.resolved_at.is_(None))
    for condition, why in ((replied, "replied"), (cancelled, "cancelled")):
        s.execute(update(q).where(open_no_reply, condition)
                  .values(resolved_at=now, resolution=why)
                  .execution_options(synchronize_session=False))
