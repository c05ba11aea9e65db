"""An asyncio load client for the REST channel: many multi-turn conversations at once.

Used by the fault tests (tests/live/test_scaled.py) and `make bench` (tools/bench_scale.py).
Every message carries metadata {"turn": i, "attempt": k}; SafeRestInput keeps it in the
tracker's user event, so a test can compare each stored conversation with what the client
sent and what it was answered (`check_tracker`). A turn that fails (no connection, HTTP 5xx,
timeout, or the fail-safe line) can be retried: with the same message id and "retry": true,
as our web chat does, so the bot processes it at most once.
Bounded by design: a fixed list of scripts, a fixed number of retries, a timeout per request.
"""
from __future__ import annotations

import asyncio
import statistics
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Optional

import aiohttp

from bot.policy import FAILSAFE_LINE


@dataclass
class Attempt:
    turn: int
    attempt: int
    status: Optional[int]  # None: no HTTP answer (refused, reset, timed out)
    latency: float
    replies: list[str] = field(default_factory=list)
    failsafe: bool = False
    error: str = ""
    started: float = 0.0  # time.monotonic() when sent

    @property
    def ok(self) -> bool:
        return self.status == 200 and bool(self.replies) and not self.failsafe


@dataclass
class ConversationLog:
    sender: str
    script: list[str]
    attempts: list[Attempt] = field(default_factory=list)

    def acknowledged(self) -> dict[int, Attempt]:
        """The attempt that got a real answer, per turn."""
        return {a.turn: a for a in self.attempts if a.ok}

    @property
    def complete(self) -> bool:
        return len(self.acknowledged()) == len(self.script)


async def say(session: aiohttp.ClientSession, url: str, sender: str, text: str, *,
              metadata: Optional[dict] = None, timeout: float = 60) -> Attempt:
    start, started = time.perf_counter(), time.monotonic()
    turn, attempt = (metadata or {}).get("turn", 0), (metadata or {}).get("attempt", 0)
    body = {"sender": sender, "message": text, "metadata": metadata or {},
            "message_id": f"{sender}-t{turn}"[-64:], "retry": attempt > 0}
    try:
        async with session.post(f"{url}/webhooks/rest/webhook", json=body,
                                headers={"X-Conversation-Id": sender},
                                timeout=aiohttp.ClientTimeout(total=timeout)) as response:
            body = await response.json(content_type=None) if response.status == 200 else None
            # Text replies only: a message's custom payload arrives as a reply of its own
            # but is stored inside the one bot event.
            replies = [m["text"] for m in body or [] if isinstance(m, dict) and m.get("text")]
            failsafe = any((m.get("custom") or {}).get("failsafe") for m in body or []
                           if isinstance(m, dict))
            return Attempt(turn, attempt, response.status, time.perf_counter() - start,
                           replies, failsafe, started=started)
    except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as error:
        return Attempt(turn, attempt, None, time.perf_counter() - start,
                       error=f"{type(error).__name__}: {error}", started=started)


async def converse(session: aiohttp.ClientSession, url: str, sender: str, script: list[str], *,
                   retries: int = 0, retry_pause: float = 1.0, timeout: float = 60,
                   on_turn: Optional[Callable[[Attempt], None]] = None) -> ConversationLog:
    log = ConversationLog(sender, script)
    for turn, text in enumerate(script):
        for attempt in range(retries + 1):
            result = await say(session, url, sender, text,
                               metadata={"turn": turn, "attempt": attempt}, timeout=timeout)
            log.attempts.append(result)
            if on_turn:
                on_turn(result)
            if result.ok:
                break
            await asyncio.sleep(retry_pause)
        else:
            return log  # gave up on this turn: the rest of the script is not sent
    return log


async def run_load(url: str, scripts: dict[str, list[str]], concurrency: int, **options
                   ) -> tuple[list[ConversationLog], float]:
    """All `scripts` (sender -> messages), at most `concurrency` conversations at a time.
    Returns the logs and the wall time in seconds."""
    gate = asyncio.Semaphore(concurrency)
    connector = aiohttp.TCPConnector(limit=concurrency * 2)

    async with aiohttp.ClientSession(connector=connector) as session:
        async def one(sender: str, script: list[str]) -> ConversationLog:
            async with gate:
                return await converse(session, url, sender, script, **options)

        start = time.perf_counter()
        logs = await asyncio.gather(*(one(s, script) for s, script in scripts.items()))
        return list(logs), time.perf_counter() - start


def percentiles(samples: list[float]) -> dict:
    if not samples:
        return {"n": 0}
    ordered = sorted(samples)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731
    return {"n": len(samples), "p50_ms": round(1000 * pick(0.5), 1),
            "p95_ms": round(1000 * pick(0.95), 1), "p99_ms": round(1000 * pick(0.99), 1),
            "mean_ms": round(1000 * statistics.mean(samples), 1)}


def summary(logs: list[ConversationLog], wall: float) -> dict:
    attempts = [a for log in logs for a in log.attempts]
    ok = [a.latency for a in attempts if a.ok]
    return {**percentiles(ok), "turns_per_s": round(len(ok) / wall, 2) if wall else 0.0,
            "errors": sum(not a.ok for a in attempts), "wall_s": round(wall, 1)}


# --- comparing a stored conversation with what the client saw ---------------------------------
def check_tracker(log: ConversationLog, events: list[dict]) -> list[str]:
    """Problems with one stored conversation, compared with the client's log (empty: none).

    - every acknowledged turn is stored answered exactly once, in the order sent, followed by
      exactly the bot messages the client got (retries carry the turn's message id, so a
      turn processed before its answer was lost is answered from the store, not again);
    - any other stored copy of a turn got the fail-safe line (it failed, and was processed
      again when retried), and no stored message is one the client never sent.
    """
    problems: list[str] = []
    sent = {(a.turn, a.attempt): a for a in log.attempts}
    acknowledged = log.acknowledged()
    answered = Counter()
    user_positions = [i for i, e in enumerate(events) if e.get("event") == "user"]
    last_turn = -1
    for n, position in enumerate(user_positions):
        meta = events[position].get("metadata") or {}
        key = (meta.get("turn"), meta.get("attempt"))
        if key not in sent:
            problems.append(f"stored a message the client never sent: {key}")
            continue
        if key[0] < last_turn:
            problems.append(f"turn {key} stored after turn {last_turn}: out of order")
        last_turn = key[0]
        end = user_positions[n + 1] if n + 1 < len(user_positions) else len(events)
        replies = [e["text"] for e in events[position + 1:end]
                   if e.get("event") == "bot" and e.get("text")]
        if not replies or replies == [FAILSAFE_LINE]:
            continue  # a copy that failed
        answered[key[0]] += 1
        if key[0] in acknowledged and replies != acknowledged[key[0]].replies:
            problems.append(f"turn {key}: stored replies {replies!r} differ from the replies "
                            f"the client got {acknowledged[key[0]].replies!r}")
    for turn in acknowledged:
        if answered[turn] != 1:
            problems.append(f"acknowledged turn {turn} stored answered {answered[turn]} times")
    return problems
