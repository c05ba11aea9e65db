"""`make bench`, scale part: our bot against the Rasa framework floor, in one run.

Three targets, each started here and stopped afterwards, on loopback only:
  (a) bare   - the bot `rasa init` makes (moodbot), in a temp folder: the framework floor
  (b) single - our bot, one Rasa server + action server, SQLite
  (c) scaled - our bot, PostgreSQL + Redis lock store + 2 Rasa replicas behind nginx
Each gets the same load from tests/load.py: multi-turn conversations (12 turns), one at a
time and 20 at once; per-turn p50/p95/p99, turns/s, errors, and the servers' memory (RSS).
Then: how a turn's latency grows with the conversation's length (b, c), a full `rasa train`
of (a) and of ours, and a py-spy profile of one Rasa server under load (b).
Results: results/bench_scale.json and .md; the table in docs/benchmarks.md is rewritten from them.
"""
from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Optional

import requests

from bot.config import PROJECT_ROOT
from tests.load import run_load, summary

RESULTS = PROJECT_ROOT / "results" / "bench_scale.json"
REPORT = PROJECT_ROOT / "results" / "bench_scale.md"
BENCHMARKS_DOC = PROJECT_ROOT / "docs" / "benchmarks.md"
VENV_BIN = Path(sys.executable).parent
MODEL = PROJECT_ROOT / "models" / "triage.tar.gz"

TURNS = 12
OURS = ["hi, I had a bone marrow biopsy yesterday", "no", "a bit of blood on the plaster but it stopped",
        "yes it stopped when I pressed", "no", "no fever", "a bit sore but getting better", "3 days",
        "no", "no pus", "no lumps", "thanks"]
# The bare bot's script: its own training examples in the order of its stories and rules
# (a fresh model misreads other wordings: "I'm feeling down" was read as mood_great once, and
# the story had no answer to the "no" after it). bench_bare checks it answers every turn.
BARE = ["hi", "I am sad", "yes", "bye", "hello", "I'm so sad", "no", "hey",
        "I am great", "bye", "are you a bot?", "goodbye"]
BARE_TRAININGS = 3  # a bare model that leaves a turn unanswered is trained again, this often
SEQUENTIAL_CONVERSATIONS, CONCURRENT_CONVERSATIONS, CONCURRENCY = 10, 40, 20
LENGTHS = (10, 100, 500)


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its children, in MB."""
    children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    total = 0
    for p in [pid, *map(int, children)]:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS"):
                    total += int(line.split()[1])
        except FileNotFoundError:
            pass
    return round(total / 1024, 1)


def scripts(script: list[str], n: int, tag: str) -> dict[str, list[str]]:
    return {f"bench-{tag}-{i}-{uuid.uuid4().hex[:6]}": script for i in range(n)}


def load(url: str, script: list[str], tag: str) -> dict:
    asyncio.run(run_load(url, scripts(script, 4, f"{tag}-warm"), 4))  # every replica, warm
    logs, wall = asyncio.run(run_load(url, scripts(script, SEQUENTIAL_CONVERSATIONS, tag), 1))
    one = summary(logs, wall)
    logs, wall = asyncio.run(run_load(url, scripts(script, CONCURRENT_CONVERSATIONS, tag),
                                      CONCURRENCY))
    return {"one_at_a_time": one, f"{CONCURRENCY}_at_once": summary(logs, wall)}


def latency_by_length(url: str, token: str, script: list[str]) -> dict:
    """Median of 5 turns once the conversation holds at least N events."""
    sender, out, turn = f"bench-length-{uuid.uuid4().hex[:6]}", {}, 0
    http = requests.Session()

    def say(text: str) -> float:
        start = time.perf_counter()
        http.post(f"{url}/webhooks/rest/webhook", json={"sender": sender, "message": text},
                  headers={"X-Conversation-Id": sender}, timeout=120).raise_for_status()
        return time.perf_counter() - start

    def events() -> int:
        tracker = http.get(f"{url}/conversations/{sender}/tracker", timeout=120,
                           params={"token": token, "include_events": "ALL"}).json()
        return len(tracker["events"])

    for target in LENGTHS:
        while events() < target:
            say(script[turn % len(script)])
            turn += 1
        samples = sorted(say(script[(turn + i) % len(script)]) for i in range(5))
        turn += 5
        out[str(target)] = {"events": events(), "median_ms": round(1000 * samples[2], 1)}
    return out


def memory(processes: dict) -> dict:
    return {name: rss_mb(p.pid) for name, p in processes.items()}


# --- targets ---------------------------------------------------------------------------------
def bare_project(folder: Path) -> Path:
    folder.mkdir(parents=True)
    subprocess.run([str(VENV_BIN / "rasa"), "init", "--no-prompt", "--init-dir", str(folder)],
                   cwd=folder, check=True, capture_output=True, timeout=1800)
    return folder


class SilentModel(RuntimeError):
    """The bare bot left a turn of its script unanswered: its figures would not be a turn's."""


def bench_answering_bare(folder: Path) -> dict:
    """bench_bare, on a bare model trained again (at most BARE_TRAININGS times in all) while
    the one it has leaves a turn of the script unanswered."""
    for training in range(1, BARE_TRAININGS + 1):
        try:
            result = bench_bare(folder)
            result["trainings"] = training
            return result
        except SilentModel:
            if training == BARE_TRAININGS:
                raise
            train_seconds(folder, folder / "models")


def bench_bare(folder: Path) -> dict:
    from bot.stack import _healthy, free_port

    port, token = free_port(), secrets.token_hex(8)
    log = open(folder / "rasa.log", "ab")
    process = subprocess.Popen(
        [str(VENV_BIN / "rasa"), "run", "--enable-api", "--auth-token", token, "--port", str(port),
         "--interface", "127.0.0.1", "--model", "models"], cwd=folder, stdout=log,
        stderr=subprocess.STDOUT, start_new_session=True,
        env={**os.environ, "RASA_TELEMETRY_ENABLED": "false"})
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        while not _healthy(f"{url}/status?token={token}"):
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError(f"bare Rasa did not start; see {folder / 'rasa.log'}")
            time.sleep(0.5)
        logs, _ = asyncio.run(run_load(url, scripts(BARE, 1, "bare-check"), 1))
        unanswered = len(BARE) - sum(a.ok for log in logs for a in log.attempts)
        if unanswered:
            raise SilentModel(f"the bare model left {unanswered} of {len(BARE)} turns unanswered")
        result = load(url, BARE, "bare")
        result["memory_rss_mb"] = {"rasa": rss_mb(process.pid)}
        return result
    finally:
        os.killpg(process.pid, 15)
        process.wait(timeout=60)


def migrate(database_url: str) -> None:
    subprocess.run([str(VENV_BIN / "alembic"), "upgrade", "heads"], cwd=PROJECT_ROOT, check=True,
                   capture_output=True, env={**os.environ, "DATABASE_URL": database_url})


def single_stack(tmp: Path, name: str, action_port: Optional[int] = None):
    """Target (b), not started: one Rasa server and the action server on a new SQLite file.
    `action_port`: where Rasa calls the actions (by default, the action server's own port)."""
    from bot.stack import Stack, free_port

    database = f"sqlite:///{tmp / f'{name}.db'}"
    migrate(database)
    return Stack(rasa_port=free_port(), action_port=action_port or free_port(),
                 token=secrets.token_hex(8), model=str(MODEL), log_dir=tmp / f"{name}-logs",
                 env={"DATABASE_URL": database})


def bench_single(tmp: Path, run: int = 0, full: bool = True) -> dict:
    """`full`: also the profile and the latency by conversation length (first run only)."""
    stack = single_stack(tmp, f"single-{run}")
    start = time.perf_counter()
    stack.start()
    startup = time.perf_counter() - start
    try:
        result = load(stack.rasa_url, OURS, "single")
        result["memory_rss_mb"] = memory(stack.processes)
        result["startup_s"] = round(startup, 1)
        if full:
            result["profile"] = profile({name: stack.processes[name].pid
                                         for name in ("rasa", "actions")}, stack.rasa_url)
            result["latency_by_events"] = latency_by_length(stack.rasa_url, stack.token, OURS)
        return result
    finally:
        stack.stop()


class CountingProxy:
    """Forwards Rasa's action calls to the action server and counts them by action name,
    in a thread of its own (on loopback; used apart from the timed load, which it would slow)."""

    def __init__(self, port: int, target: str) -> None:
        self.port, self.target, self.calls = port, target, Counter()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        from aiohttp import ClientSession, web

        asyncio.set_event_loop(self._loop)

        async def new_session() -> ClientSession:  # made inside the loop it will run on
            return ClientSession()

        session = self._session = self._loop.run_until_complete(new_session())

        async def forward(request: web.Request) -> web.Response:
            body = await request.read()
            self.calls[json.loads(body).get("next_action", "?")] += 1
            async with session.post(self.target, data=body,
                                    headers={k: v for k, v in request.headers.items()
                                             if k.lower() not in ("host", "content-length")}
                                    ) as answer:
                return web.Response(body=await answer.read(), status=answer.status,
                                    content_type=answer.content_type)

        app = web.Application()
        app.router.add_post("/webhook", forward)
        runner = web.AppRunner(app)
        self._loop.run_until_complete(runner.setup())
        self._loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", self.port).start())
        self._ready.set()
        self._loop.run_forever()

    def __enter__(self) -> CountingProxy:
        self._thread.start()
        self._ready.wait(30)
        return self

    def __exit__(self, *exc) -> None:
        asyncio.run_coroutine_threadsafe(self._session.close(), self._loop).result(30)
        self._loop.call_soon_threadsafe(self._loop.stop)


def actions_per_turn(tmp: Path, conversations: int = 5) -> dict:
    """Action server calls per patient turn (b), counted by a proxy between Rasa and it."""
    from bot.stack import free_port

    proxy_port, action_port = free_port(), free_port()
    stack = single_stack(tmp, "calls", action_port=proxy_port)
    with CountingProxy(proxy_port, f"http://127.0.0.1:{action_port}/webhook") as proxy:
        stack.start_actions(port=action_port)
        stack.start_rasa()
        try:
            stack.wait_until_up()
            logs, _ = asyncio.run(run_load(stack.rasa_url, scripts(OURS, conversations, "calls"), 1))
            turns = sum(a.ok for log in logs for a in log.attempts)
        finally:
            stack.stop()
    return {"turns": turns, "calls": sum(proxy.calls.values()), "by_action": dict(proxy.calls),
            "per_turn": round(sum(proxy.calls.values()) / turns, 2) if turns else None}


def bench_scaled(tmp: Path, run: int = 0, full: bool = True) -> dict:
    from bot.scaled import ScaledStack
    from bot.stack import free_port

    stack = ScaledStack(rasa_port=free_port(), action_port=free_port(), token=secrets.token_hex(8),
                        data_dir=tmp / f"scaled-{run}", model=str(MODEL))
    start = time.perf_counter()
    stack.start()
    startup = time.perf_counter() - start
    try:
        result = load(stack.rasa_url, OURS, "scaled")
        result["memory_rss_mb"] = {**memory(stack.processes),
                                   "postgres": postgres_rss(stack.postgres)}
        result["startup_s"] = round(startup, 1)
        result["replicas"] = len(stack.replica_ports)
        if full:
            result["latency_by_events"] = latency_by_length(stack.rasa_url, stack.token, OURS)
        return result
    finally:
        stack.stop()


def postgres_rss(postgres) -> float:
    pid = int((postgres.data / "postmaster.pid").read_text().split()[0])
    return rss_mb(pid)


# --- profile and training ----------------------------------------------------------------------
def profile(pids: dict[str, int], url: str, seconds: int = 20) -> dict:
    """py-spy samples the servers (by name) while 20 conversations at a time run; for each,
    the functions where most samples were, by own time and including what they call (frames
    present in nearly every sample, the server's main loop, are left out)."""
    folder = Path(tempfile.mkdtemp(prefix="triage-profile-"))
    spies = {name: subprocess.Popen(
        [str(VENV_BIN / "py-spy"), "record", "--pid", str(pid), "--duration", str(seconds),
         "--rate", "100", "--format", "raw", "--output", str(folder / f"{name}.txt"),
         "--nonblocking"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        for name, pid in pids.items()}
    time.sleep(1)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        asyncio.run(run_load(url, scripts(OURS, CONCURRENCY, "profile"), CONCURRENCY))
    out = {}
    for name, spy in spies.items():
        _, error = spy.communicate(timeout=seconds + 60)
        raw = folder / f"{name}.txt"
        out[name] = summarise_profile(raw) if raw.exists() else {
            "error": error.decode(errors="replace")[-500:]}
    return out


def summarise_profile(raw: Path) -> dict:
    own, inclusive, total = Counter(), Counter(), 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames, n = stack.split(";"), int(count)
        total += n
        own[_frame(frames[-1])] += n
        for frame in {_frame(f) for f in frames}:
            inclusive[frame] += n
    top = lambda items: [{"function": f, "pct": round(100 * c / total, 1)}  # noqa: E731
                         for f, c in items[:15]]
    return {"samples": total, "own_time": top(own.most_common()),
            "including_callees": top([(f, c) for f, c in inclusive.most_common()
                                      if c < 0.5 * total]),
            "raw": str(raw)}


def _frame(frame: str) -> str:
    """'handle (rasa/core/processor.py:123)' -> 'rasa/core/processor.py:handle'."""
    match = re.match(r"(.*) \((.*?)(?::\d+)?\)$", frame.strip())
    if not match:
        return frame.strip()
    name, path = match.groups()
    path = re.sub(r".*site-packages/", "", path).replace(str(PROJECT_ROOT) + "/", "")
    return f"{path}:{name}"


def train_seconds(folder: Path, out: Path) -> float:
    start = time.perf_counter()
    subprocess.run([str(VENV_BIN / "rasa"), "train", "--force", "--out", str(out), "--quiet"],
                   cwd=folder, check=True, capture_output=True, timeout=3600)
    return round(time.perf_counter() - start, 1)


# --- report -----------------------------------------------------------------------------------
def ratios(results: dict) -> dict:
    bare = results["bare"]
    out = {}
    for name in ("single", "scaled"):
        mine = results[name]
        out[name] = {
            "p95_one_at_a_time_vs_bare": round(mine["one_at_a_time"]["p95_ms"]
                                               / bare["one_at_a_time"]["p95_ms"], 2),
            "throughput_at_20_vs_bare": round(mine["20_at_once"]["turns_per_s"]
                                              / bare["20_at_once"]["turns_per_s"], 2),
        }
    return out


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def combine(runs: list[dict]) -> dict:
    """The median of each figure over the runs (the first run's profile and lengths), and
    each ratio to the bare bot as the median of the same-run ratios with their spread."""
    out: dict = {}
    for target in ("bare", "single", "scaled"):
        first = runs[0][target]
        combined = dict(first)
        for load_name in ("one_at_a_time", f"{CONCURRENCY}_at_once"):
            section = dict(first[load_name])
            for key, value in first[load_name].items():
                if isinstance(value, (int, float)):
                    values = [r[target][load_name][key] for r in runs]
                    section[key] = sum(values) if key == "errors" else round(_median(values), 1)
            combined[load_name] = section
        combined["memory_rss_mb"] = {name: round(_median([r[target]["memory_rss_mb"][name]
                                                          for r in runs]), 1)
                                     for name in first["memory_rss_mb"]}
        out[target] = combined
    out["ratios"] = {}
    for target in ("single", "scaled"):
        out["ratios"][target] = {}
        for key in ("p95_one_at_a_time_vs_bare", "throughput_at_20_vs_bare"):
            values = [r["ratios"][target][key] for r in runs]
            out["ratios"][target][key] = round(_median(values), 2)
            out["ratios"][target][key + "_spread"] = [min(values), max(values)]
    return out


def _ratio(ratio: dict, key: str) -> str:
    low, high = ratio.get(key + "_spread", [ratio[key], ratio[key]])
    return f"{ratio[key]:.2f}x" + (f" ({low:.2f}–{high:.2f})" if low != high else "")


def table(results: dict) -> str:
    names = {"bare": "(a) bare `rasa init` bot, 1 server, in-memory",
             "single": "(b) ours, 1 Rasa + actions, SQLite",
             "scaled": f"(c) ours, {results['scaled'].get('replicas', 2)} Rasa replicas + actions, "
                       "PostgreSQL + Redis + nginx"}
    rows = ["| target | 1 at a time p50 / p95 / p99 ms | 20 at once p50 / p95 / p99 ms | "
            "turns/s at 20 | errors | memory MB (RSS) | vs (a): p95 at 1, turns/s at 20 |",
            "| --- | --- | --- | --- | --- | --- | --- |"]
    for key, label in names.items():
        r = results[key]
        one, many = r["one_at_a_time"], r["20_at_once"]
        mem = r["memory_rss_mb"]
        ratio = results["ratios"].get(key)
        rows.append(
            f"| {label} | {one['p50_ms']:.0f} / {one['p95_ms']:.0f} / {one['p99_ms']:.0f} | "
            f"{many['p50_ms']:.0f} / {many['p95_ms']:.0f} / {many['p99_ms']:.0f} | "
            f"{many['turns_per_s']:.1f} | {one['errors'] + many['errors']} | "
            f"{sum(mem.values()):,.0f} ({', '.join(f'{k} {v:,.0f}' for k, v in mem.items())}) | "
            + (f"{_ratio(ratio, 'p95_one_at_a_time_vs_bare')}, "
               f"{_ratio(ratio, 'throughput_at_20_vs_bare')} |" if ratio else "1, 1 |"))
    lengths = " | ".join(
        f"{n} events: {results['single']['latency_by_events'][n]['median_ms']:.0f} / "
        f"{results['scaled']['latency_by_events'][n]['median_ms']:.0f} ms" for n in map(str, LENGTHS))
    train = results["training_s"]
    if results["bare"].get("trainings", 1) > 1:
        rows += ["", f"The bare model answered its whole script after {results['bare']['trainings']} "
                     "trainings (`rasa init`'s model is not seeded)."]
    failed = {key: results[key]["one_at_a_time"]["errors"] + results[key][f"{CONCURRENCY}_at_once"]["errors"]
              for key in names}
    for key, count in failed.items():
        if count:
            rows += ["", f"**Not comparable:** {names[key].split(' ', 1)[0]} gave {count} turns with no "
                         "reply or an error (the ratios with it are not a measurement)."]
    calls = results.get("actions_per_turn")
    if calls:
        rows += ["", f"Action server calls per patient turn, (b): {calls['per_turn']} "
                     f"({calls['calls']} calls in {calls['turns']} turns: "
                     + ", ".join(f"{name} {n}" for name, n in sorted(calls["by_action"].items())) + ")."]
    rows += ["", f"Turn latency by conversation length, median, (b) / (c): {lengths}.",
             f"Full `rasa train`: (a) {train['bare']:.0f} s, ours {train['ours']:.0f} s. "
             f"Median of {results['runs']} runs (ratios: the median of the same-run ratios, "
             f"their range in brackets); measured {results['when']} on "
             f"{results['machine']['cpus']} cores."]
    return "\n".join(rows)


def write_readme(text: str) -> None:
    readme = BENCHMARKS_DOC.read_text()
    start, end = "<!-- bench-scale:start -->", "<!-- bench-scale:end -->"
    if start in readme:
        before, rest = readme.split(start, 1)
        BENCHMARKS_DOC.write_text(f"{before}{start}\n{text}\n{end}{rest.split(end, 1)[1]}")


def main(argv: list[str]) -> None:
    """`--runs N` (default 3): every target N times, one after the other in each run, so
    that a ratio compares figures taken minutes apart on the same machine."""
    runs = int(argv[argv.index("--runs") + 1]) if "--runs" in argv else 3
    tmp = Path(tempfile.mkdtemp(prefix="triage-bench-scale-"))
    tmp.chmod(0o755)  # PostgreSQL runs as `postgres` when we are root
    results = {"machine": {"cpus": os.cpu_count()}, "when": time.strftime("%Y-%m-%d %H:%M"),
               "turns_per_conversation": TURNS, "runs": runs}
    bare = bare_project(tmp / "bare")
    each = []
    for run in range(runs):
        one = {"bare": bench_answering_bare(bare), "single": bench_single(tmp, run, full=run == 0),
               "scaled": bench_scaled(tmp, run, full=run == 0)}
        one["ratios"] = ratios(one)
        each.append(one)
    results.update(combine(each))
    results["each_run"] = [{"ratios": r["ratios"]} for r in each]
    results["actions_per_turn"] = actions_per_turn(tmp)
    results["training_s"] = {"bare": train_seconds(bare, tmp / "bare-train"),
                             "ours": train_seconds(PROJECT_ROOT, tmp / "ours-train")}
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2))
    report = table(results)
    REPORT.write_text(report + "\n")
    write_readme(report)
    print(report)


if __name__ == "__main__":
    main(sys.argv[1:])
