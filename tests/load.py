"""An asyncio load client for the REST channel: many multi-turn conversations at once.

Used by the fault tests (tests/test_scaled.py) and `make bench` (tests/bench_scale.py).
Every message carries metadata {"turn": i, "attempt": k}; SafeRestInput keeps it in the
tracker's user event, so a test can compare each stored conversation with what the client
sent and what it was answered (`check_tracker`). A turn that fails (no connection, HTTP 5xx,
timeout, or the fail-safe line) can be retried, as a patient would type it again.
Bounded by design: a fixed list of scripts, a fixed number of retries, a timeout per request.
"""
from __future__ import annotations

import asyncio
import statistics
import time
from dataclasses import dataclass, field
from typing import Callable, Optional

import aiohttp


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
    try:
        async with session.post(f"{url}/webhooks/rest/webhook",
                                json={"sender": sender, "message": text, "metadata": metadata or {}},
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

    - every acknowledged turn is stored exactly once, in the order sent;
    - a stored user message the client did not see answered is a failed attempt (it may
      have been processed before the failure), never one the client did not send;
    - the bot messages stored after an acknowledged turn are exactly those the client got.
    """
    problems: list[str] = []
    sent = {(a.turn, a.attempt): a for a in log.attempts}
    acknowledged = log.acknowledged()
    user_positions = [i for i, e in enumerate(events) if e.get("event") == "user"]
    seen: list[tuple[int, int]] = []
    for n, position in enumerate(user_positions):
        meta = events[position].get("metadata") or {}
        key = (meta.get("turn"), meta.get("attempt"))
        if key not in sent:
            problems.append(f"stored a message the client never sent: {key}")
            continue
        if seen and key[0] < seen[-1][0]:
            problems.append(f"turn {key} stored after turn {seen[-1]}: out of order")
        seen.append(key)
        end = user_positions[n + 1] if n + 1 < len(user_positions) else len(events)
        stored_replies = [e["text"] for e in events[position + 1:end]
                          if e.get("event") == "bot" and e.get("text")]
        if acknowledged.get(key[0]) is sent[key] and stored_replies != sent[key].replies:
            problems.append(f"turn {key}: stored replies {stored_replies!r} differ from the "
                            f"replies the client got {sent[key].replies!r}")
    for turn, attempt in acknowledged.items():
        count = seen.count((turn, attempt.attempt))
        if count != 1:
            problems.append(f"acknowledged turn {turn} (attempt {attempt.attempt}) stored "
                            f"{count} times")
    return problems
