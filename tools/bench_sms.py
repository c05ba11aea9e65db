"""Benchmark: dispatching 10,000 due follow-ups against the fake Twilio API.

`python -m tools.bench_sms [N]` (for `make bench`): a throw-away SQLite database migrated
with Alembic, N discharges registered, all their evening-of-day-0 follow-ups due at once,
then one `Dispatcher.run_once` with the default settings (SMS_WORKER_THREADS=8): each
follow-up is claimed, started through a stand-in for Rasa's trigger_intent API
(tests/fakes/rasa.py: the real Rasa answers a turn in ~100 ms, which would measure Rasa, not
the dispatcher), queued in the outbox and sent through the `twilio` client to
bot/sms/local_twilio.py, and every step is recorded in the database. The two fakes run in a
process of their own (as the real servers would), so the figure is the dispatcher's. Prints
a JSON summary and checks that every follow-up was sent exactly once.
"""
from __future__ import annotations

import json
import multiprocessing
import os
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path


def _serve_fakes(conn) -> None:
    """In a child process: the fake Twilio and the fake Rasa, until told to stop."""
    from bot.sms.local_twilio import LocalTwilio
    from tests.fakes.rasa import FakeRasa


    with LocalTwilio() as twilio, FakeRasa() as rasa:
        conn.send({**twilio.env(), **rasa.env()})
        conn.recv()  # "stop"
        conn.send({"numbers": [m["to"] for m in twilio.messages],
                   "requests": len(twilio.requests), "triggers": sum(rasa.triggers.values())})


def bench_sms_dispatch(n: int = 10_000) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="bench-sms-"))
    os.environ["DATABASE_URL"] = f"sqlite:///{tmp / 'bench.db'}"
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import func, select

    from bot.config import PROJECT_ROOT, settings
    from bot.sms import discharges
    from bot.sms.models import FollowUp, OutboundSms
    from bot.sms.settings import sms_settings
    from bot.sms.worker import Dispatcher
    from bot.storage.db import session

    if settings().database_url != os.environ["DATABASE_URL"]:
        raise RuntimeError("bench_sms must run in a fresh process (settings already cached)")
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    command.upgrade(config, "heads")

    here, there = multiprocessing.get_context("spawn").Pipe()
    fakes = multiprocessing.get_context("spawn").Process(target=_serve_fakes, args=(there,),
                                                         daemon=True)
    fakes.start()
    try:
        if not here.poll(60):
            raise RuntimeError("the fake Twilio and Rasa servers did not start")
        for key, value in {**here.recv(), "SMS_FOLLOWUPS": "0@18:00,1@10:00",
                           "SMS_QUIET_HOURS": "21:00-08:00"}.items():
            os.environ[key] = value
        cfg = sms_settings()
        tz = cfg.timezone
        procedure = datetime(2026, 3, 10, 11, 0, tzinfo=tz)
        day0 = datetime(2026, 3, 10, 18, 0, tzinfo=tz)
        started = time.perf_counter()
        items = [discharges.validate({"phone": f"+4474009{i:05d}", "procedure": "bone_biopsy",
                                      "procedure_at": procedure, "is_child": i % 3 == 0},
                                     cfg, now=procedure)
                 for i in range(n)]
        discharges.register_many(items, source="bench", cfg=cfg, now=procedure)
        registered_s = time.perf_counter() - started

        dispatcher = Dispatcher(cfg)
        started = time.perf_counter()
        counts = dispatcher.run_once(day0)
        elapsed = time.perf_counter() - started
        dispatcher.close()

        with session() as s:
            sent = s.scalar(select(func.count()).select_from(OutboundSms)
                            .where(OutboundSms.status == "sent"))
            followups_sent = s.scalar(select(func.count()).select_from(FollowUp)
                                      .where(FollowUp.status == "sent"))
        here.send("stop")
        seen = here.recv()
        numbers = seen["numbers"]
        result = {
            "followups": n,
            "dispatch_seconds": round(elapsed, 2),
            "followups_per_second": round(n / elapsed, 1),
            "ms_per_followup": round(1000 * elapsed / n, 2),
            "threads": cfg.threads,
            "register_seconds": round(registered_s, 2),
            "twilio_requests": seen["requests"],
            "rasa_triggers": seen["triggers"],
            "sent_exactly_once": (len(numbers) == n == len(set(numbers)) == sent
                                  == followups_sent),
            "counts": {k: v for k, v in counts.items() if v},
            "database": "SQLite (WAL), throw-away file",
        }
    finally:
        fakes.join(30)
        if fakes.is_alive():
            fakes.terminate()
    if not result["sent_exactly_once"]:
        raise AssertionError(f"not every follow-up was sent exactly once: {result}")
    return result


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    result = bench_sms_dispatch(n)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
