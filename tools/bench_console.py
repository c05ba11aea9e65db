"""Staff console queue at 100,000 conversations (SQLite): `python -m tools.bench_console`.

Seeds a throw-away database (the real Alembic migrations) with 100,000 conversations'
triage outcomes over a year (5 % with a second outcome), reviews the older 80 %, then
times: the first catch-up of the queue table, the first, a middle and the last page of
the queue with and without filters, the match count and the overview. Writes
results/bench_console.json and prints a table; never asserted in tests.
"""
from __future__ import annotations

import json
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

CONVERSATIONS = 100_000
REPEAT = 20


def _ms(samples: list[float]) -> dict:
    ordered = sorted(samples)
    return {"p50_ms": round(1000 * statistics.median(ordered), 2),
            "p95_ms": round(1000 * ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))], 2)}


def _time(fn, repeat: int = REPEAT) -> dict:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return _ms(samples)


def seed(url: str, n: int, rng: random.Random) -> dict:
    from sqlalchemy import insert

    from bot.policy import POLICY_VERSION
    from bot.storage.db import engine
    from bot.storage.models import TriageOutcome

    now = datetime.now(timezone.utc).replace(tzinfo=None)
    levels = ["self_care"] * 45 + ["contact_team"] * 35 + ["urgent"] * 12 + ["emergency"] * 8
    rows = []
    for i in range(n):
        at = now - timedelta(seconds=rng.randrange(365 * 24 * 3600))
        cid = f"conv-{i:06d}-{rng.getrandbits(32):08x}"
        channel = "rest" if rng.random() < 0.7 else "sms"
        for k in range(2 if rng.random() < 0.05 else 1):
            rows.append({"conversation_id": cid, "channel": channel, "level": rng.choice(levels),
                         "findings": ["site.none"], "advice_ids": ["site_none"], "sources": [],
                         "unsure_slots": [], "red_flag_interrupt": False, "patient_is_child": False,
                         "advice_text": "advice", "policy_version": POLICY_VERSION,
                         "created_at": at + timedelta(minutes=5 * k)})
    rows.sort(key=lambda r: r["created_at"])  # ids grow with time, as in real use
    start = time.perf_counter()
    with engine(url).begin() as connection:
        connection.execute(insert(TriageOutcome), rows)
    return {"outcomes": len(rows), "insert_s": round(time.perf_counter() - start, 1)}


def review_older(url: str, fraction: float) -> dict:
    """Reviews (real rows) for the older part of the queue, then the refresh they need."""
    from sqlalchemy import insert, select

    from bot.console import auth, queue
    from bot.console.models import QueueEntry, Review
    from bot.storage.db import session

    with session(url) as s, s.begin():
        staff = auth.create_staff(s, "bench-nurse", "a long bench password", "clinician")
        entries = s.execute(select(QueueEntry.conversation_id, QueueEntry.last_outcome_id)
                            .order_by(QueueEntry.last_at)).all()
        older = entries[:int(len(entries) * fraction)]
        at = datetime.now(timezone.utc)
        s.execute(insert(Review), [{"conversation_id": cid, "staff_id": staff.id,
                                    "outcome": "no_action", "note": "", "last_outcome_id": last,
                                    "created_at": at} for cid, last in older])
    start = time.perf_counter()
    with session(url) as s, s.begin():
        queue.refresh(s, [cid for cid, _ in older])
    return {"reviewed": len(older), "refresh_s": round(time.perf_counter() - start, 1)}


def cursors_at(url: str, f, positions: list[int]):
    """The cursor that starts the page at each position (walked, not timed)."""
    from bot.console import queue
    from bot.storage.db import session

    wanted, found, seen, after = sorted(positions), {}, 0, None
    with session(url) as s:
        while wanted:
            current = queue.page(s, f, after, size=1000)
            for row in current.rows:
                seen += 1
                while wanted and seen == wanted[0]:
                    found[wanted.pop(0)] = row.cursor
            if not current.next_cursor:
                break
            after = queue.Cursor.decode(current.next_cursor)
    return found, seen


def bench_filters(url: str) -> dict:
    from bot.console import queue
    from bot.storage.db import session

    today = date.today()
    cases = {
        "no filter": queue.Filters(),
        "not reviewed, emergency+urgent": queue.Filters(levels=("emergency", "urgent"), reviewed=False),
        "SMS, last 90 days": queue.Filters(channel="sms", date_from=today - timedelta(days=90),
                                           date_to=today),
        "web, contact team, reviewed, Jan-Jun": queue.Filters(
            channel="web", levels=("contact_team",), reviewed=True,
            date_from=today - timedelta(days=360), date_to=today - timedelta(days=180)),
    }
    results = {}
    with session(url) as s:
        for name, f in cases.items():
            total = queue.count(s, f)
            cursors, seen = cursors_at(url, f, [max(1, total // 2), max(1, total - 10)])
            entry = {"matches": total, "count": _time(lambda: queue.count(s, f)),
                     "first page": _time(lambda: queue.page(s, f, None, 50))}
            for label, position in (("middle page", max(1, total // 2)),
                                    ("deep page", max(1, total - 10))):
                cursor = cursors.get(position)
                if cursor is not None:
                    entry[label] = _time(lambda: queue.page(s, f, cursor, 50))
                    entry[label]["position"] = position
            results[name] = entry
        results["search by conversation id"] = {
            "matches": 1, "first page": _time(lambda: queue.page(
                s, queue.Filters(search="conv-050000"), None, 50))}
        results["overview (30 days + waiting)"] = {"first page": _time(lambda: queue.overview(s))}
    return results


def bench_http(url: str) -> dict:
    """Whole requests through the real app (in-process aiohttp server): page + render."""
    import asyncio
    import re

    from aiohttp.test_utils import TestClient, TestServer

    from bot.console import auth, queue
    from bot.console.app import make_app
    from bot.console.settings import ConsoleSettings
    from bot.storage.db import session

    with session(url) as s, s.begin():
        auth.create_staff(s, "bench-admin", "a long bench password", "admin")
    f = queue.Filters()
    with session(url) as s:
        total = queue.count(s, f)
    cursors, _ = cursors_at(url, f, [total // 2, total - 10])

    async def run() -> dict:
        app = make_app(ConsoleSettings(sync_interval_seconds=0), database_url=url)
        async with TestClient(TestServer(app)) as client:
            page = await (await client.get("/login")).text()
            token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
            await client.post("/login", data={"csrf_token": token, "username": "bench-admin",
                                              "password": "a long bench password"})
            paths = {"GET /queue (first page)": "/queue",
                     "GET /queue (middle page)": f"/queue?after={cursors[total // 2].encode()}",
                     "GET /queue (deep page)": f"/queue?after={cursors[total - 10].encode()}",
                     "GET /queue?level=urgent&channel=sms": "/queue?level=urgent&channel=sms",
                     "GET / (overview)": "/"}
            out = {}
            for name, path in paths.items():
                samples = []
                for _ in range(REPEAT):
                    start = time.perf_counter()
                    response = await client.get(path)
                    await response.read()
                    assert response.status == 200, (path, response.status)
                    samples.append(time.perf_counter() - start)
                out[name] = _ms(samples)
            return out
    return asyncio.run(run())


def main() -> None:
    folder = Path(tempfile.mkdtemp(prefix="console-bench-"))
    url = f"sqlite:///{folder / 'bench.db'}"
    os.environ["DATABASE_URL"] = url
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from alembic import command
    from alembic.config import Config

    from bot.config import PROJECT_ROOT
    from bot.console import queue

    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    config.set_main_option("sqlalchemy.url", url)
    command.upgrade(config, "heads")

    n = int(os.environ.get("CONSOLE_BENCH_CONVERSATIONS", CONVERSATIONS))
    results: dict = {"conversations": n, "database": "SQLite (file, WAL)",
                     "when": time.strftime("%Y-%m-%d %H:%M:%S"), "cpus": os.cpu_count()}
    results["seed"] = seed(url, n, random.Random(5))
    start = time.perf_counter()
    queue.sync(url)
    results["first_sync_s"] = round(time.perf_counter() - start, 1)
    results["incremental_sync_nothing_new"] = _time(lambda: queue.sync(url), repeat=10)
    results["reviews"] = review_older(url, 0.8)
    results["queries"] = bench_filters(url)
    results["http"] = bench_http(url)

    out = Path(__file__).resolve().parent.parent / "results" / "bench_console.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(json.dumps({k: v for k, v in results.items() if k not in ("queries", "http")}, indent=2))
    print("\n| filter | matches | count p50 | first page p50 | middle page p50 | deep page p50 |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name, r in results["queries"].items():
        cell = lambda k: f"{r[k]['p50_ms']} ms" if k in r else "–"  # noqa: E731
        print(f"| {name} | {r.get('matches', '')} | {cell('count')} | {cell('first page')} | "
              f"{cell('middle page')} | {cell('deep page')} |")
    print("\n| whole request (login, query, render) | p50 | p95 |\n| --- | --- | --- |")
    for name, r in results["http"].items():
        print(f"| {name} | {r['p50_ms']} ms | {r['p95_ms']} ms |")


if __name__ == "__main__":
    main()
