"""The SMS worker (`python -m bot.sms.worker`; `make run` starts it).

Every SMS_POLL_SECONDS: record follow-ups whose window passed as skipped; hand rows a dead
sender left mid-send back (to be checked at Twilio first); claim the due follow-ups and
start each in Rasa, then send its text; send queued texts that are due (retries, replies
the webhook could not send). The blocking work (SQLAlchemy, the `twilio` and `requests`
clients) runs in a thread pool; the event loop only serves the discharge API (`bot.sms.api`).

Once a day, at RETENTION_PURGE_AT local time (default 03:30), it also runs the retention
purge (`bot.storage.retention.DailyPurge`) in a thread of its own, beside the dispatch.

Any number of workers may run at once: every row is claimed by a conditional UPDATE.
"""
from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import sys
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, time
from typing import Optional

from aiohttp import web

from bot.alerts.job import run_once as alerts_pass
from bot.sms import followups, heartbeat, outbox
from bot.sms.api import make_app
from bot.sms.models import utcnow
from bot.sms.settings import SmsSettings, sms_settings
from bot.storage import retention
from bot.storage.db import engine

logger = logging.getLogger("bot.sms.worker")
WORKER_NAME = f"{socket.gethostname()}:{os.getpid()}"


class Dispatcher:
    def __init__(self, cfg: SmsSettings) -> None:
        self.cfg = cfg
        self.pool = ThreadPoolExecutor(max_workers=cfg.threads, thread_name_prefix="sms")
        self.stopping = threading.Event()

    @property
    def batch(self) -> int:
        return self.cfg.threads * 16

    def run_once(self, now: Optional[datetime] = None) -> Counter:
        """One pass over everything that is due; returns what happened, counted."""
        counts: Counter = Counter()
        clock = (lambda: now) if now else utcnow
        counts["skipped"] += followups.skip_missed(clock())
        counts["released"] += outbox.release_stale(self.cfg, clock())
        if not self.cfg.twilio_configured:
            return counts
        while not self.stopping.is_set():
            claimed = followups.claim_due(self.cfg, clock(), self.batch)
            if not claimed:
                break
            for outcome in self.pool.map(lambda c: self._dispatch(c, now), claimed):
                counts[f"followup_{outcome}"] += 1
        while not self.stopping.is_set():
            ids = outbox.due_ids(clock(), self.batch)
            results = list(self.pool.map(lambda i: self._deliver(i, now), ids))
            counts.update(f"text_{r}" for r in results)
            if len(ids) < self.batch or all(r == "busy" for r in results):
                break
        return counts

    def _dispatch(self, claimed: followups.Claimed, now: Optional[datetime]) -> str:
        try:
            return followups.dispatch(self.cfg, claimed, now)
        except Exception:  # the claim stays; after the lease another pass takes it again
            logger.exception("follow-up %s", claimed.followup.id)
            return "error"

    def _deliver(self, row_id: int, now: Optional[datetime]) -> str:
        try:
            return outbox.deliver(self.cfg, row_id, now)
        except Exception:
            logger.exception("text %s", row_id)
            return "error"

    def close(self) -> None:
        self.stopping.set()
        self.pool.shutdown(wait=True)



async def serve(cfg: SmsSettings, purge_at: time) -> None:
    dispatcher = Dispatcher(cfg)
    daily_purge = retention.DailyPurge(engine(), at=purge_at, tz=cfg.timezone,
                                       retention_days=cfg.core.retention_days,
                                       stop=dispatcher.stopping.is_set)
    purging: Optional[asyncio.Future] = None
    alerting: Optional[asyncio.Future] = None
    runner = web.AppRunner(make_app(cfg), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, cfg.api_host, cfg.api_port).start()
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()

    def request_stop() -> None:
        stop.set()
        dispatcher.stopping.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, request_stop)
    logger.info("SMS worker up: discharge API on http://%s:%s, polling every %ss",
                cfg.api_host, cfg.api_port, cfg.poll_seconds)
    logger.info("Retention purge daily at %s %s: conversations quiet for %s days",
                f"{purge_at:%H:%M}", cfg.timezone.key, cfg.core.retention_days)
    if not cfg.twilio_configured:
        logger.warning("SMS sending is off: set TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and "
                       "TWILIO_FROM_NUMBER in .env. Follow-ups whose window passes meanwhile "
                       "are recorded as skipped.")
    if not cfg.api_token:
        logger.warning("The discharge API is off (503): set SMS_API_TOKEN in .env.")
    if cfg.lease.total_seconds() <= 2 * cfg.http_timeout:
        logger.warning("SMS_LEASE_SECONDS should be more than twice SMS_HTTP_TIMEOUT_SECONDS: "
                       "a slow worker's claims could be taken over while it still works")
    while not stop.is_set():
        try:
            counts = await loop.run_in_executor(None, dispatcher.run_once)
            done = {k: v for k, v in counts.items() if v}
            if done:
                logger.info("dispatch: %s", done)
            await loop.run_in_executor(None, heartbeat.beat, WORKER_NAME, utcnow(), done)
        except Exception:
            logger.exception("dispatch pass failed; trying again in %ss", cfg.poll_seconds)
        if purging is None or purging.done():  # a purge never holds up the texts
            purging = loop.run_in_executor(None, daily_purge.run_if_due)
        if alerting is None or alerting.done():  # an SMTP outage never holds up the texts
            alerting = loop.run_in_executor(
                None, lambda: alerts_pass(stop=dispatcher.stopping.is_set))
        try:
            await asyncio.wait_for(stop.wait(), timeout=cfg.poll_seconds)
        except asyncio.TimeoutError:
            pass
    await runner.cleanup()
    await loop.run_in_executor(None, dispatcher.close)
    if purging is not None:
        await purging  # stops at its next batch
    if alerting is not None:
        await alerting
    logger.info("SMS worker stopped")


def main() -> None:
    logging.basicConfig(level=logging.INFO, stream=sys.stdout,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("twilio.http_client").setLevel(logging.WARNING)
    try:
        cfg = sms_settings()
        purge_at = cfg.core.retention_purge_at
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    asyncio.run(serve(cfg, purge_at))


if __name__ == "__main__":
    main()
