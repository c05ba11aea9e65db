"""The database side of the SMS webhook: stored texts, opt-outs, queued replies.

All of it is synchronous SQLAlchemy; the channel calls it in threads, never on the event loop.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Optional

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from bot.sms import outbox
from bot.sms.models import Discharge, InboundSms, OptOut, OutboundSms, utcnow
from bot.sms.settings import SmsSettings
from bot.sms.texts import help_text, opt_in_text, opt_out_text, unknown_sender_text
from bot.storage.db import session

logger = logging.getLogger(__name__)
UNKNOWN_REPLY_EVERY = timedelta(hours=24)  # never a reply loop with an auto-responder


def record(message_sid: str, from_number: str, to_number: Optional[str], body: str,
           num_media: int) -> tuple[int, bool]:
    """Store a text once per MessageSid: (row id, True) the first time, (id, False) after."""
    try:
        with session() as s, s.begin():
            row = InboundSms(message_sid=message_sid, from_number=from_number,
                             to_number=to_number, body=body, num_media=num_media,
                             status="received", received_at=utcnow())
            s.add(row)
            s.flush()
            return row.id, True
    except IntegrityError:
        with session() as s:
            existing = s.scalar(select(InboundSms.id).where(InboundSms.message_sid == message_sid))
        if existing is None:
            raise
        return existing, False


UNFINISHED = ("received", "processing")


@dataclass(frozen=True)
class ClaimedText:
    id: int
    message_sid: str
    phone: str
    body: str
    num_media: int
    attempts: int


def claim_next(phone: str, now: datetime, lease: timedelta) -> Optional[ClaimedText]:
    """Take the oldest unfinished text from `phone` for its turn, or None: none left, or the
    oldest is another process's (its claim younger than `lease`). Texts from one number are
    taken one at a time, in the order they came; the conditional UPDATE makes each claim
    exactly one process's."""
    with session() as s, s.begin():
        oldest = s.scalars(select(InboundSms).where(InboundSms.from_number == phone,
                                                    InboundSms.status.in_(UNFINISHED))
                           .order_by(InboundSms.id).limit(1)).first()
        if oldest is None:
            return None
        if oldest.status == "processing" and oldest.claimed_at and oldest.claimed_at > now - lease:
            return None
        taken = s.execute(
            update(InboundSms)
            .where(InboundSms.id == oldest.id, InboundSms.status == oldest.status,
                   InboundSms.attempts == oldest.attempts)
            .values(status="processing", claimed_at=now, attempts=oldest.attempts + 1)
            .execution_options(synchronize_session=False)).rowcount
        if taken != 1:
            return None
        return ClaimedText(oldest.id, oldest.message_sid, oldest.from_number, oldest.body,
                           oldest.num_media, oldest.attempts + 1)


def waiting_phones(now: datetime, received_before: datetime, lease: timedelta) -> list[str]:
    """Numbers with a text nobody is working on: received before `received_before` and never
    taken, or taken by a process that died (claim older than `lease`)."""
    with session() as s:
        return list(s.scalars(
            select(InboundSms.from_number).distinct().where(
                ((InboundSms.status == "received") & (InboundSms.received_at < received_before))
                | ((InboundSms.status == "processing") & (InboundSms.claimed_at < now - lease)))))


def finish(inbound_id: int, status: str, discharge_id: Optional[int] = None) -> None:
    with session() as s, s.begin():
        s.execute(update(InboundSms).where(InboundSms.id == inbound_id)
                  .values(status=status, discharge_id=discharge_id, processed_at=utcnow())
                  .execution_options(synchronize_session=False))


def reply(cfg: SmsSettings, inbound_id: int, to: str, body: str, *, kind: str, status: str,
          discharge_id: Optional[int] = None) -> list[int]:
    """Queue a reply and close the inbound text, in one transaction."""
    now = utcnow()
    with session() as s, s.begin():
        ids = outbox.queue(s, to=to, body=body, kind=kind, now=now,
                           not_after=now + cfg.reply_max_age, discharge_id=discharge_id,
                           inbound_id=inbound_id)
        s.execute(update(InboundSms).where(InboundSms.id == inbound_id)
                  .values(status=status, discharge_id=discharge_id, processed_at=now)
                  .execution_options(synchronize_session=False))
    return ids


def is_opted_out(phone: str) -> bool:
    with session() as s:
        return outbox.opted_out(s, phone)


def set_opt_out(phone: str, out: bool, keyword: str, now: Optional[datetime] = None) -> bool:
    """Record STOP (out=True) or START; True if that changed anything."""
    now = now or utcnow()
    for _ in range(2):
        try:
            with session() as s, s.begin():
                row = s.get(OptOut, phone)
                if row is None:
                    if not out:
                        return False  # never opted out: nothing to undo
                    s.add(OptOut(phone=phone, opted_out=True, changed_at=now, keyword=keyword))
                    return True
                return bool(s.execute(
                    update(OptOut).where(OptOut.phone == phone, OptOut.opted_out == (not out))
                    .values(opted_out=out, changed_at=now, keyword=keyword)
                    .execution_options(synchronize_session=False)).rowcount)
        except IntegrityError:  # two STOPs at once: the other one inserted it
            continue
    return False


def handle_keyword(cfg: SmsSettings, inbound_id: int, phone: str, word: str,
                   discharge: Optional[Discharge]) -> list[int]:
    core = cfg.core
    did = discharge.id if discharge else None
    if word == "stop":
        if set_opt_out(phone, True, "STOP"):
            logger.info("%s opted out of texts", phone)
            return reply(cfg, inbound_id, phone, opt_out_text(core), kind="opt_out",
                         status="keyword", discharge_id=did)
        finish(inbound_id, "keyword", did)  # already opted out: confirmed once, not again
        return []
    if word == "start":
        changed = set_opt_out(phone, False, "START")
        if changed or discharge is not None:
            return reply(cfg, inbound_id, phone, opt_in_text(core), kind="opt_in",
                         status="keyword", discharge_id=did)
        return reply_unknown(cfg, inbound_id, phone)
    return reply(cfg, inbound_id, phone, help_text(core), kind="help", status="keyword",
                 discharge_id=did)


def reply_unknown(cfg: SmsSettings, inbound_id: int, phone: str) -> list[int]:
    """The polite "this service is for patients after a biopsy" reply, at most once a day
    per number (the text itself is always stored)."""
    since = utcnow() - UNKNOWN_REPLY_EVERY
    with session() as s:
        recent = s.scalar(select(OutboundSms.id).where(
            OutboundSms.to_number == phone, OutboundSms.kind == "unknown_sender",
            OutboundSms.created_at >= since).limit(1))
    if recent is not None:
        finish(inbound_id, "unknown_sender")
        return []
    return reply(cfg, inbound_id, phone, unknown_sender_text(cfg.core), kind="unknown_sender",
                 status="unknown_sender")


def recently_active(discharge_id: int, since: datetime) -> bool:
    with session() as s:
        return s.scalar(select(InboundSms.id).where(
            InboundSms.discharge_id == discharge_id, InboundSms.received_at >= since,
            InboundSms.status == "processed").limit(1)) is not None
