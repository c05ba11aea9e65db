"""`make bench`: speed and memory, written to results/bench.json (never asserted in tests).

Measures: the spaCy extractor alone; per-turn latency of the live bot (one
conversation at a time, and 10 at once) on SQLite; server memory; and a full
`rasa train` from scratch.
"""
from __future__ import annotations

import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bot.config import PROJECT_ROOT

RESULTS = PROJECT_ROOT / "results" / "bench.json"
SCRIPT = ["hi", "no", "a bit of blood but it stopped", "yes it stopped", "no", "no",
          "a bit sore", "3 days", "no", "no", "no", "no"]


def percentiles(samples: list[float]) -> dict:
    ordered = sorted(samples)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731
    return {"n": len(samples), "p50_ms": round(1000 * pick(0.5), 1),
            "p95_ms": round(1000 * pick(0.95), 1), "p99_ms": round(1000 * pick(0.99), 1),
            "mean_ms": round(1000 * statistics.mean(samples), 1)}


def bench_extraction() -> dict:
    from bot.extraction import extract
    from tests.vignettes import load

    messages = []
    for v in load():
        messages.append(v["opening"])
        for answer in list((v.get("answers") or {}).values()) + list((v.get("facts") or {}).values()):
            messages += answer if isinstance(answer, list) else [str(answer)]
    extract("warm up")
    times = []
    for message in messages:
        start = time.perf_counter()
        extract(message)
        times.append(time.perf_counter() - start)
    return {**percentiles(times), "messages_per_s": round(len(times) / sum(times))}


def rss_mb(pid: int) -> float:
    total = 0
    for p in [pid] + [int(c) for c in subprocess.run(["pgrep", "-P", str(pid)], capture_output=True,
                                                     text=True).stdout.split()]:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS"):
                    total += int(line.split()[1])
        except FileNotFoundError:
            pass
    return round(total / 1024, 1)


def conversation(bot, turns: list[float]) -> None:
    sender = f"bench-{uuid.uuid4().hex[:8]}"
    for text in SCRIPT:
        start = time.perf_counter()
        bot.say(sender, text)
        turns.append(time.perf_counter() - start)


def bench_live() -> dict:
    from bot.stack import Stack, free_port
    from tests.client import BotClient

    tmp = Path(tempfile.mkdtemp(prefix="triage-bench-"))
    os.environ["DATABASE_URL"] = f"sqlite:///{tmp / 'bench.db'}"
    subprocess.run([sys.executable, "-m", "alembic", "upgrade", "heads"], cwd=PROJECT_ROOT,
                   check=True, capture_output=True)
    stack = Stack(rasa_port=free_port(), action_port=free_port(), token=secrets.token_hex(8),
                  model=str(PROJECT_ROOT / "models" / "triage.tar.gz"), log_dir=tmp / "logs")
    start = time.perf_counter()
    stack.start()
    startup = time.perf_counter() - start
    try:
        bot = BotClient(stack.rasa_url, stack.token)
        conversation(bot, [])  # warm up
        sequential: list[float] = []
        for _ in range(10):
            conversation(bot, sequential)
        concurrent: list[float] = []
        start = time.perf_counter()
        with ThreadPoolExecutor(10) as pool:
            list(pool.map(lambda _: conversation(bot, concurrent), range(20)))
        wall = time.perf_counter() - start
        memory = {name: rss_mb(p.pid) for name, p in stack.processes.items()}
    finally:
        stack.stop()
    return {"startup_s": round(startup, 1),
            "one_at_a_time": percentiles(sequential),
            "ten_concurrent": {**percentiles(concurrent),
                               "turns_per_s": round(len(concurrent) / wall, 1)},
            "memory_rss_mb": memory}


def bench_training() -> dict:
    out = Path(tempfile.mkdtemp(prefix="triage-train-"))
    start = time.perf_counter()
    subprocess.run([str(Path(sys.executable).parent / "rasa"), "train", "--force", "--out", str(out),
                    "--quiet"], cwd=PROJECT_ROOT, check=True, capture_output=True)
    return {"full_train_s": round(time.perf_counter() - start, 1)}


def main() -> None:
    results = {"machine": {"cpus": os.cpu_count()}, "when": time.strftime("%Y-%m-%d %H:%M:%S"),
               "extraction": bench_extraction(), "live_sqlite": bench_live()}
    if "--no-train" not in sys.argv:
        results["training"] = bench_training()
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
