"""Every text we send: queued in `sms_outbox`, then delivered exactly once.

Delivery claims a row with a conditional UPDATE (pending -> sending, with a fresh claim
token), so the webhook's sender thread and any number of workers never send one row twice.
Texts to one number go out in the order they were queued (a row waits while an older row to
the same number is still pending or sending). A failed send is retried with exponential
back-off and recorded; a permanent error (bad number, unsubscribed) fails at once; a row
that cannot go out in time is recorded as expired. If a send ends without a clear answer
(a timeout, or the worker was killed mid-send: its claim outlives the lease), the row is
checked against Twilio's list of sent messages before it is ever sent again.
"""
from __future__ import annotations

import logging
import random
import time
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any, Literal, Optional, overload

from sqlalchemy import exists, select, update
from sqlalchemy.orm import aliased

from bot.sms import twilio_client
from bot.sms.models import FollowUp, OptOut, OutboundSms, utcnow
from bot.sms.settings import SmsSettings
from bot.sms.texts import split_body
from bot.storage.db import session

logger = logging.getLogger(__name__)
OPEN = ("pending", "sending")
ALLOWED_WHEN_OPTED_OUT = {"opt_out", "help"}  # the STOP confirmation, and HELP answers
MAX_DELAY = timedelta(minutes=30)


Claimed = Optional[tuple[str, OutboundSms]]  # (claim token, row) of a part sent at once


@overload
def queue(s, *, to: str, body: str, kind: str, now: datetime,
          not_after: Optional[datetime] = None, discharge_id: Optional[int] = None,
          followup_id: Optional[int] = None, inbound_id: Optional[int] = None,
          claim: Literal[False] = False) -> list[int]: ...
@overload
def queue(s, *, to: str, body: str, kind: str, now: datetime,
          not_after: Optional[datetime] = None, discharge_id: Optional[int] = None,
          followup_id: Optional[int] = None, inbound_id: Optional[int] = None,
          claim: Literal[True]) -> tuple[list[int], Claimed]: ...


def queue(s, *, to: str, body: str, kind: str, now: datetime,
          not_after: Optional[datetime] = None, discharge_id: Optional[int] = None,
          followup_id: Optional[int] = None, inbound_id: Optional[int] = None,
          claim: bool = False) -> list[int] | tuple[list[int], Claimed]:
    """Add a text to the outbox inside the caller's transaction; returns the row ids (one
    per part: bodies over Twilio's 1,600 characters are cut into several texts).

    With `claim`, the first part is inserted already claimed (`sending`) when nothing older
    to the same number is still waiting, so the caller can send it at once without another
    transaction: returns (ids, (token, row)) then, or (ids, None)."""
    ids: list[int] = []
    claimed: Claimed = None
    older = claim and s.scalar(select(OutboundSms.id).where(
        OutboundSms.to_number == to, OutboundSms.status.in_(OPEN)).limit(1)) is not None
    for part in split_body(body):
        row = OutboundSms(to_number=to, body=part, kind=kind, status="pending", attempts=0,
                          next_attempt_at=now, not_after=not_after, check_before_send=False,
                          discharge_id=discharge_id, followup_id=followup_id,
                          inbound_id=inbound_id, created_at=now)
        if claim and not older and not ids:
            token = uuid.uuid4().hex
            row.status, row.claim_token, row.claimed_at, row.attempts = "sending", token, now, 1
            claimed = (token, row)
        s.add(row)
        s.flush()
        ids.append(row.id)
    return (ids, claimed) if claim else ids


def opted_out(s, phone: str) -> bool:
    return bool(s.scalar(select(OptOut.opted_out).where(OptOut.phone == phone)))


def backoff(cfg: SmsSettings, attempts: int) -> timedelta:
    delay = min(cfg.retry_base * (2 ** max(0, attempts - 1)), MAX_DELAY)
    return delay * random.uniform(0.9, 1.1)


def _claim(row_id: int, now: datetime) -> Optional[tuple[str, OutboundSms, bool]]:
    token = uuid.uuid4().hex
    older = aliased(OutboundSms)
    with session() as s, s.begin():
        claimed = s.execute(
            update(OutboundSms)
            .where(OutboundSms.id == row_id, OutboundSms.status == "pending",
                   OutboundSms.next_attempt_at <= now,
                   ~exists().where(older.to_number == OutboundSms.to_number,
                                   older.id < OutboundSms.id, older.status.in_(OPEN)))
            .values(status="sending", claim_token=token, claimed_at=now,
                    attempts=OutboundSms.attempts + 1)
            .execution_options(synchronize_session=False)).rowcount
        if not claimed:
            return None
        row = s.get(OutboundSms, row_id)
        return token, row, opted_out(s, row.to_number)


def moved_on(now: datetime, since: float) -> datetime:
    """The pass's clock (`now`, fixed in tests) moved on by the real time since `since`
    (time.monotonic()): a follow-up waits for Rasa before it is sent, and `sent_at` is when
    Twilio took the text, not when the pass began."""
    return now + timedelta(seconds=max(0.0, time.monotonic() - since))


def _finish(row: OutboundSms, token: str, now: datetime, status: str, *,
            sid: Optional[str] = None, error: Optional[str] = None,
            retry_at: Optional[datetime] = None, check: bool = False,
            sent_at: Optional[datetime] = None) -> None:
    values: dict[str, Any] = {"status": status, "claim_token": None}
    if sid:
        values.update(twilio_sid=sid, sent_at=sent_at or now)
    if error is not None:
        values["last_error"] = error[:2000]
    if retry_at is not None:
        values.update(next_attempt_at=retry_at, check_before_send=check)
    with session() as s, s.begin():
        done = s.execute(update(OutboundSms)
                         .where(OutboundSms.id == row.id, OutboundSms.claim_token == token,
                                OutboundSms.status == "sending")
                         .values(**values).execution_options(synchronize_session=False)).rowcount
        if not done:
            logger.warning("outbox %s: claim lost before it was marked %s", row.id, status)
            return
        if row.followup_id is None:
            return
        if status == "sent":
            s.execute(update(FollowUp).where(FollowUp.id == row.followup_id,
                                             FollowUp.status == "triggered")
                      .values(status="sent", done_at=now)
                      .execution_options(synchronize_session=False))
        elif status in ("failed", "expired", "suppressed"):
            final = "skipped" if status == "suppressed" else "failed"
            s.execute(update(FollowUp).where(FollowUp.id == row.followup_id,
                                             FollowUp.status == "triggered")
                      .values(status=final, done_at=now, reason=f"text {status}: {error}")
                      .execution_options(synchronize_session=False))


def deliver(cfg: SmsSettings, row_id: int, now: Optional[datetime] = None) -> str:
    """Try to send one queued text now. Returns what happened: sent, retry, failed,
    expired, suppressed, or busy (not claimable: already taken, done, or waiting)."""
    started, now = time.monotonic(), now or utcnow()
    claim = _claim(row_id, now)
    if claim is None:
        return "busy"
    token, row, is_opted_out = claim
    return send_claimed(cfg, row, token, now, is_opted_out, started=started)


def send_claimed(cfg: SmsSettings, row: OutboundSms, token: str, now: datetime,
                 is_opted_out: bool, started: Optional[float] = None) -> str:
    """Send a row we hold the claim of (status `sending`, our token). `started` is the
    time.monotonic() at which `now` was read."""
    started = time.monotonic() if started is None else started
    if row.not_after is not None and now > row.not_after:
        logger.error("text %s to %s expired unsent (%s): %s", row.id, row.to_number, row.kind,
                     row.last_error or "its time passed")
        _finish(row, token, now, "expired", error=row.last_error or "its time passed unsent")
        return "expired"
    if is_opted_out and row.kind not in ALLOWED_WHEN_OPTED_OUT:
        _finish(row, token, now, "suppressed", error="the recipient opted out (STOP)")
        return "suppressed"
    try:
        sid = None
        if row.check_before_send:
            sid = twilio_client.find_sent(cfg, row.to_number, row.body, since=row.created_at)
            if sid:
                logger.info("text %s was already at Twilio (%s): not sent again", row.id, sid)
        if sid is None:
            sid = twilio_client.send(cfg, row.to_number, row.body)
    except twilio_client.SendError as error:
        return _failed(cfg, row, token, now, error)
    _finish(row, token, now, "sent", sid=sid, sent_at=moved_on(now, started))
    return "sent"


def _failed(cfg: SmsSettings, row: OutboundSms, token: str, now: datetime,
            error: twilio_client.SendError) -> str:
    attempts = row.attempts  # counted at the claim
    if error.permanent:
        logger.error("text %s to %s failed for good: %s", row.id, row.to_number, error)
        _finish(row, token, now, "failed", error=str(error))
        return "failed"
    retry_at = now + backoff(cfg, attempts)
    if attempts >= cfg.max_attempts or (row.not_after and retry_at > row.not_after):
        status = "failed" if attempts >= cfg.max_attempts else "expired"
        logger.error("text %s to %s %s after %s attempt(s): %s", row.id, row.to_number, status,
                     attempts, error)
        _finish(row, token, now, status, error=f"after {attempts} attempt(s): {error}")
        return status
    logger.warning("text %s to %s: attempt %s failed (%s); retry at %s", row.id, row.to_number,
                   attempts, error, retry_at.isoformat(timespec="seconds"))
    _finish(row, token, now, "pending", error=str(error), retry_at=retry_at,
            check=row.check_before_send or error.ambiguous)
    return "retry"


def deliver_all(cfg: SmsSettings, ids: Iterable[int], now: Optional[datetime] = None,
                started: Optional[float] = None) -> list[str]:
    """In order (used by the webhook for one reply, which may have several parts)."""
    results = []
    for row_id in ids:
        try:
            at = moved_on(now, started) if now and started is not None else now
            results.append(deliver(cfg, row_id, at))
        except Exception:  # the row stays claimed; the lease hands it to the worker later
            logger.exception("delivering text %s", row_id)
            results.append("error")
    return results


def due_ids(now: datetime, limit: int) -> list[int]:
    with session() as s:
        return list(s.scalars(select(OutboundSms.id)
                              .where(OutboundSms.status == "pending",
                                     OutboundSms.next_attempt_at <= now)
                              .order_by(OutboundSms.id).limit(limit)))


def release_stale(cfg: SmsSettings, now: datetime) -> int:
    """Rows left `sending` by a worker that died: back to pending, to be checked at Twilio
    before any new attempt."""
    with session() as s, s.begin():
        return s.execute(update(OutboundSms)
                         .where(OutboundSms.status == "sending",
                                OutboundSms.claimed_at < now - cfg.lease)
                         .values(status="pending", claim_token=None, check_before_send=True,
                                 next_attempt_at=now,
                                 last_error="claim expired: the sender stopped mid-send")
                         .execution_options(synchronize_session=False)).rowcount


# Twilio's message states in the order they happen; callbacks can arrive out of order, and
# a later state never goes back to an earlier one.
DELIVERY_ORDER = {"accepted": 0, "queued": 0, "sending": 1, "sent": 2, "delivered": 3,
                  "undelivered": 3, "failed": 3, "read": 4}


def record_delivery(twilio_sid: str, state: str, error_code: Optional[str],
                    now: datetime) -> bool:
    """Store what a status callback says about one of our texts; False if it is not ours or
    says nothing newer than what we know."""
    state = state.lower()
    if state not in DELIVERY_ORDER:
        return False
    with session() as s, s.begin():
        row = s.scalars(select(OutboundSms).where(OutboundSms.twilio_sid == twilio_sid)).first()
        if row is None or DELIVERY_ORDER.get(row.delivery_status or "", -1) > DELIVERY_ORDER[state]:
            return False
        row.delivery_status, row.delivery_at = state, now
        row.delivery_error = (error_code or None) if state in ("undelivered", "failed") else None
        if state in ("undelivered", "failed"):
            logger.warning("text %s (%s) was not delivered: Twilio error %s", row.id, row.kind,
                           error_code or "none given")
        return True
