"""The follow-up schedule in the database: claim what is due, start it, record the outcome.

A due follow-up is claimed by a conditional UPDATE (scheduled -> claimed, with a claim
token); a claim older than the lease (a worker killed mid-way) can be taken again. Once
Rasa has started the conversation, one transaction moves the row to `triggered` (only if
our claim still holds) and queues its text in the outbox, which then sends it exactly once.
A worker killed between Rasa's answer and that transaction costs one repeated greeting in
the conversation's event log, never a second text.
"""
from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Optional

from sqlalchemy import exists, or_, select, update

from bot.sms import outbox, rasa_client
from bot.sms.models import PROCEDURES, Discharge, FollowUp, InboundSms, OptOut, utcnow
from bot.sms.schedule import Rules, is_quiet
from bot.sms.settings import SmsSettings
from bot.sms.texts import followup_text, render_messages
from bot.storage.db import session

logger = logging.getLogger(__name__)


class LostClaim(Exception):
    pass


@dataclass
class Claimed:
    followup: FollowUp
    discharge: Discharge
    token: str
    opted_out: bool        # the number sent STOP
    recently_active: bool  # the patient texted us within SMS_SKIP_IF_ACTIVE_MINUTES


def skip_missed(now: datetime) -> int:
    """Follow-ups whose window passed unsent (the system was down): skipped, recorded."""
    with session() as s, s.begin():
        count = s.execute(
            update(FollowUp)
            .where(FollowUp.status == "scheduled", FollowUp.window_end <= now)
            .values(status="skipped", done_at=now,
                    reason="window missed: not sent before its window ended (system down?)")
            .execution_options(synchronize_session=False)).rowcount
    if count:
        logger.warning("%s follow-up(s) skipped: their window passed unsent", count)
    return count


def claim_due(cfg: SmsSettings, now: datetime, limit: int) -> list[Claimed]:
    """Claim up to `limit` due follow-ups, with what dispatch needs to know about each."""
    token = uuid.uuid4().hex
    stale = now - cfg.lease
    claimable = or_(FollowUp.status == "scheduled",
                    (FollowUp.status == "claimed") & (FollowUp.claimed_at < stale))
    with session() as s, s.begin():
        candidates = (select(FollowUp.id)
                      .where(claimable, FollowUp.next_attempt_at <= now, FollowUp.due_at <= now)
                      .order_by(FollowUp.due_at, FollowUp.id).limit(limit)
                      .scalar_subquery())
        s.execute(update(FollowUp).where(FollowUp.id.in_(candidates), claimable)
                  .values(status="claimed", claim_token=token, claimed_at=now,
                          attempts=FollowUp.attempts + 1)
                  .execution_options(synchronize_session=False))
    opted_out = (select(OptOut.opted_out).where(OptOut.phone == Discharge.phone)
                 .scalar_subquery())
    active = exists().where(InboundSms.discharge_id == Discharge.id,
                            InboundSms.status == "processed",
                            InboundSms.received_at >= now - cfg.skip_if_active)
    with session() as s:
        rows = s.execute(select(FollowUp, Discharge, opted_out, active)
                         .join(Discharge, Discharge.id == FollowUp.discharge_id)
                         .where(FollowUp.claim_token == token, FollowUp.status == "claimed")
                         .order_by(FollowUp.due_at, FollowUp.id)).all()
    return [Claimed(f, d, token, bool(out), bool(busy)) for f, d, out, busy in rows]


def _close(followup: FollowUp, token: str, now: datetime, status: str, reason: str) -> None:
    with session() as s, s.begin():
        s.execute(update(FollowUp)
                  .where(FollowUp.id == followup.id, FollowUp.claim_token == token,
                         FollowUp.status == "claimed")
                  .values(status=status, reason=reason, done_at=now, claim_token=None)
                  .execution_options(synchronize_session=False))


def _retry_later(cfg: SmsSettings, followup: FollowUp, token: str, now: datetime,
                 error: str) -> str:
    retry_at = now + outbox.backoff(cfg, followup.attempts)
    if retry_at >= followup.window_end or followup.attempts >= cfg.max_attempts:
        logger.error("follow-up %s failed after %s attempt(s): %s", followup.id,
                     followup.attempts, error)
        _close(followup, token, now, "failed", f"could not start it: {error}")
        return "failed"
    logger.warning("follow-up %s: %s; retry at %s", followup.id, error,
                   retry_at.isoformat(timespec="seconds"))
    with session() as s, s.begin():
        s.execute(update(FollowUp)
                  .where(FollowUp.id == followup.id, FollowUp.claim_token == token,
                         FollowUp.status == "claimed")
                  .values(status="scheduled", next_attempt_at=retry_at, reason=error[:2000],
                          claim_token=None)
                  .execution_options(synchronize_session=False))
    return "retry"


def dispatch(cfg: SmsSettings, claimed: Claimed, now: Optional[datetime] = None) -> str:
    """Start one claimed follow-up: returns sent, skipped, cancelled, retry, failed, queued."""
    started, now = time.monotonic(), now or utcnow()
    followup, discharge, token = claimed.followup, claimed.discharge, claimed.token
    reason = None
    if discharge.cancelled_at is not None:
        _close(followup, token, now, "cancelled", "discharge cancelled")
        return "cancelled"
    if now >= followup.window_end:
        reason = "window missed: not sent before its window ended (system down?)"
    elif is_quiet(now, Rules.from_settings(cfg)):
        reason = "window missed: inside the quiet hours"
    elif claimed.opted_out:
        reason = "opted out (STOP)"
    elif claimed.recently_active:
        reason = "the patient was already texting with us"
    if reason:
        _close(followup, token, now, "skipped", reason)
        return "skipped"
    try:
        messages = rasa_client.start_followup(cfg, discharge.conversation_id, discharge.is_child)
    except rasa_client.RasaError as error:
        return _retry_later(cfg, followup, token, now, str(error))
    bot_text = render_messages(messages, cfg.core.emergency_number)
    if not bot_text:
        return _retry_later(cfg, followup, token, now, "Rasa gave no message for the follow-up")
    body = followup_text(cfg.core, day=followup.day, procedure=PROCEDURES[discharge.procedure],
                         is_child=discharge.is_child, name=discharge.name,
                         use_names=cfg.use_names, bot_text=bot_text)
    try:
        with session() as s, s.begin():
            moved = s.execute(update(FollowUp)
                              .where(FollowUp.id == followup.id, FollowUp.claim_token == token,
                                     FollowUp.status == "claimed")
                              .values(status="triggered", reason=None)
                              .execution_options(synchronize_session=False)).rowcount
            if not moved:
                raise LostClaim()
            # Queued and claimed in the same transaction: sent right below, exactly once.
            ids, first = outbox.queue(s, to=discharge.phone, body=body,
                                      kind="followup", now=now, not_after=followup.window_end,
                                      discharge_id=discharge.id, followup_id=followup.id,
                                      claim=True)
            stopped = outbox.opted_out(s, discharge.phone)  # a STOP since the claim
    except LostClaim:
        logger.warning("follow-up %s: claim lost (lease passed); another worker has it",
                       followup.id)
        return "busy"
    results = []
    if first is not None:
        results.append(outbox.send_claimed(cfg, first[1], first[0], now, is_opted_out=stopped,
                                           started=started))
        ids = ids[1:]
    results += outbox.deliver_all(cfg, ids, now, started)
    return "sent" if results and all(r == "sent" for r in results) else "queued"
