"""Every alert message: queued in `alerts_deliveries` in the transaction that decided to
send it, then delivered exactly once (the design of bot/sms/outbox.py).

Delivery claims one row at a time with a conditional UPDATE (pending -> sending, with a
fresh claim token), so any number of workers never send one row twice; the result is
written only while the claim still holds, in the transaction that claims the next row.
A failed send is retried with exponential back-off (ALERT_RETRY_BASE_SECONDS, doubling,
at most ALERT_RETRY_MAX_SECONDS) until ALERT_GIVE_UP_HOURS after it was queued, then
recorded as failed; a permanent refusal (an address or URL the server rejects) fails at
once. A row left `sending` by a worker that
died (its claim older than ALERT_LEASE_SECONDS) goes back to pending as a possible repeat.

While a server is down, each pass tries it once: the first failure to reach it leaves the
rest of its rows for the next pass, so that when it comes back everything goes within a
pass, and an outage costs one connection attempt per pass, not one per message.
"""
from __future__ import annotations

import logging
import random
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Optional

from sqlalchemy import select, update

from bot.alerts import mail, webhook
from bot.alerts.facts import AlertFacts
from bot.alerts.models import Delivery
from bot.alerts.settings import AlertSettings
from bot.sms.outbox import moved_on
from bot.storage.db import session

logger = logging.getLogger(__name__)
EMAIL, WEBHOOK = "email", "webhook"


def queue_email(s, cfg: AlertSettings, *, recipients: Sequence[str], subject: str, text: str,
                now: datetime, route: str, kind: str, alert_id: Optional[int] = None,
                bundle_id: Optional[int] = None, html: Optional[str] = None,
                image: Optional[tuple[bytes, str, str]] = None) -> int:
    """Add an email to the outbox inside the caller's transaction; returns its row id."""
    assert cfg.smtp is not None  # callers queue email only when SMTP is configured
    message_id = mail.new_message_id(cfg.smtp.sender, kind)
    raw = mail.compose(smtp=cfg.smtp, recipients=recipients, subject=subject, text=text, now=now,
                       message_id=message_id, html=html, image=image)
    return _add(s, cfg, transport=EMAIL, route=route, recipients=",".join(recipients),
                subject=subject, payload=raw, message_id=message_id, now=now,
                alert_id=alert_id, bundle_id=bundle_id)


def queue_webhook(s, cfg: AlertSettings, *, title: str, facts: list[AlertFacts], note: str,
                  now: datetime, route: str, alert_id: Optional[int] = None,
                  bundle_id: Optional[int] = None) -> int:
    key = uuid.uuid4().hex
    body = webhook.payload(cfg.webhook_format, title=title, facts=facts, note=note,
                           delivery_key=key)
    return _add(s, cfg, transport=WEBHOOK, route=route, recipients=cfg.webhook_format,
                subject=title[:255], payload=body, message_id=key, now=now,
                alert_id=alert_id, bundle_id=bundle_id)


def _add(s, cfg: AlertSettings, *, now: datetime, **fields) -> int:
    row = Delivery(status="pending", attempts=0, next_attempt_at=now,
                   give_up_at=now + cfg.give_up_after, possible_repeat=False, created_at=now,
                   **fields)
    s.add(row)
    s.flush()
    return row.id


def backoff(cfg: AlertSettings, attempts: int) -> timedelta:
    delay = min(cfg.retry_base * (2 ** max(0, attempts - 1)), cfg.retry_max)
    return delay * random.uniform(0.9, 1.1)


def release_stale(cfg: AlertSettings, now: datetime) -> int:
    """Rows left `sending` by a worker that died: back to pending, as possible repeats."""
    with session() as s, s.begin():
        count = s.execute(update(Delivery)
                          .where(Delivery.status == "sending",
                                 Delivery.claimed_at < now - cfg.lease)
                          .values(status="pending", claim_token=None, possible_repeat=True,
                                  next_attempt_at=now,
                                  last_error="claim expired: the sender stopped mid-send")
                          .execution_options(synchronize_session=False)).rowcount
    if count:
        logger.warning("%s alert message(s) left mid-send by a stopped worker: sending again "
                       "marked as possible repeats", count)
    return count


def give_up_overdue(now: datetime) -> int:
    """Pending rows past their give-up time (never claimed during a long outage)."""
    with session() as s, s.begin():
        count = s.execute(update(Delivery)
                          .where(Delivery.status == "pending", Delivery.give_up_at <= now)
                          .values(status="failed",
                                  last_error="gave up: not delivered within ALERT_GIVE_UP_HOURS")
                          .execution_options(synchronize_session=False)).rowcount
    if count:
        logger.error("%s alert message(s) failed: not delivered in time", count)
    return count


def _due(now: datetime, down: set[str]):
    due = (Delivery.status == "pending") & (Delivery.next_attempt_at <= now)
    for server in down:  # servers found down this pass wait for the next
        transport, _, route = server.partition(":")
        skip = Delivery.transport == transport
        due &= ~(skip & (Delivery.route == route)) if route else ~skip
    return due


def _step(now: datetime, down: set[str], finish: Optional[tuple[Delivery, str, dict]] = None,
          claim: bool = True) -> Optional[tuple[str, Delivery]]:
    """One transaction: write the result of the row just sent (only while our claim holds),
    and claim the next due row (pending -> sending, a fresh token). Only the row being sent
    is ever `sending`, so a worker killed at any point leaves one row to the lease; and a
    message costs one transaction, not two."""
    with session() as s, s.begin():
        if finish is not None:
            row, token, values = finish
            done = s.execute(update(Delivery)
                             .where(Delivery.id == row.id, Delivery.claim_token == token,
                                    Delivery.status == "sending")
                             .values(claim_token=None, **values)
                             .execution_options(synchronize_session=False)).rowcount
            if not done:
                logger.warning("alert message %s: claim lost before it was marked %s", row.id,
                               values.get("status"))
        for _ in range(10 if claim else 0):  # another worker may take a row first
            row_id = s.scalar(select(Delivery.id).where(_due(now, down))
                              .order_by(Delivery.id).limit(1))
            if row_id is None:
                return None
            token = uuid.uuid4().hex
            taken = s.execute(update(Delivery)
                              .where(Delivery.id == row_id, _due(now, down))
                              .values(status="sending", claim_token=token, claimed_at=now,
                                      attempts=Delivery.attempts + 1)
                              .execution_options(synchronize_session=False)).rowcount
            if taken:
                return token, s.get(Delivery, row_id)
    return None


class Senders:
    """The transports of one pass: an SMTP connection kept open, and which servers were
    found down (their other rows wait for the next pass)."""

    def __init__(self, cfg: AlertSettings) -> None:
        self.cfg = cfg
        self.smtp = mail.SmtpSender(cfg.smtp) if cfg.smtp else None
        self.down: set[str] = set()

    @staticmethod
    def server_of(row: Delivery) -> str:
        return EMAIL if row.transport == EMAIL else f"{WEBHOOK}:{row.route}"

    def _url(self, route: str) -> str:
        return self.cfg.webhook_on_call_url if route == "on_call" else self.cfg.webhook_url

    def send(self, row: Delivery) -> str:
        if row.transport == EMAIL:
            if self.smtp is None:
                raise mail.DeliveryError("email is not configured (ALERT_SMTP_HOST)",
                                         permanent=True)
            raw = mail.marked_as_repeat(row.payload) if row.possible_repeat else row.payload
            return self.smtp.send(row.recipients.split(","), raw)
        url = self._url(row.route)
        if not url:
            raise mail.DeliveryError("no webhook URL is configured for this route",
                                     permanent=True)
        body = (webhook.marked_as_repeat(row.recipients, row.payload) if row.possible_repeat
                else row.payload)
        secret = self.cfg.webhook_secret if row.recipients == "plain" else ""
        webhook.post(url, body, timeout=self.cfg.webhook_timeout, secret=secret,
                     delivery_key=row.message_id)
        return ""

    def close(self) -> None:
        if self.smtp is not None:
            self.smtp.close()


def _send_claimed(senders: Senders, row: Delivery, now: datetime,
                  started: float) -> tuple[str, dict]:
    """Send one row we hold the claim of: (sent | retry | failed, the values to record)."""
    cfg = senders.cfg
    try:
        note = senders.send(row)
    except mail.DeliveryError as error:
        reason = str(error)
        if error.unreachable:
            senders.down.add(senders.server_of(row))
        retry_at = now + backoff(cfg, row.attempts)
        if error.permanent or retry_at >= row.give_up_at:
            why = "refused for good" if error.permanent else "gave up"
            logger.error("alert message %s (%s, %s) failed after %s attempt(s): %s", row.id,
                         row.transport, row.route, row.attempts, reason)
            return "failed", {"status": "failed", "last_error": f"{why}: {reason}"[:2000]}
        logger.warning("alert message %s (%s, %s): attempt %s failed (%s); retry at %s", row.id,
                       row.transport, row.route, row.attempts, reason,
                       retry_at.isoformat(timespec="seconds"))
        return "retry", {"status": "pending", "next_attempt_at": retry_at,
                         "last_error": reason[:2000],
                         "possible_repeat": row.possible_repeat or error.ambiguous}
    return "sent", {"status": "sent", "sent_at": moved_on(now, started), "last_error": note or None}


def deliver_due(cfg: AlertSettings, now: datetime, *, limit: int = 1000,
                stop: Callable[[], bool] = lambda: False) -> Counter:
    """One pass over the outbox: stale claims back, overdue rows failed, then up to `limit`
    due rows sent, one at a time, oldest first."""
    counts: Counter = Counter()
    started = time.monotonic()
    counts["released"] += release_stale(cfg, now)
    counts["gave_up"] += give_up_overdue(now)
    senders = Senders(cfg)
    try:
        claimed = _step(now, senders.down, claim=not stop())
        while claimed is not None:
            token, row = claimed
            try:
                outcome, values = _send_claimed(senders, row, now, started)
            except Exception:  # the row stays claimed; the lease hands it on later
                logger.exception("alert message %s", row.id)
                counts["error"] += 1
                claimed = _step(now, senders.down, claim=not stop())
                continue
            counts[outcome] += 1
            more = not stop() and sum(counts[k] for k in ("sent", "retry", "failed")) < limit
            claimed = _step(now, senders.down, finish=(row, token, values), claim=more)
    finally:
        senders.close()
    return counts


def cancel_for_alert(s, alert_id: int, why: str) -> int:
    """Inside the caller's transaction: unsent messages about an alert someone has dealt with."""
    return s.execute(update(Delivery)
                     .where(Delivery.alert_id == alert_id, Delivery.status == "pending")
                     .values(status="cancelled", last_error=why)
                     .execution_options(synchronize_session=False)).rowcount
