"""The scaled profile under faults: PostgreSQL + Redis lock store + two Rasa
replicas and the action server behind nginx, all real, on loopback (the `scaled` fixture).

Every load here is bounded: a fixed set of scripted conversations, a fixed number of retries,
a timeout per request and per test. Stored conversations are compared with what the client
sent and was answered (tests/load.py: check_tracker).
"""
from __future__ import annotations

import asyncio
import re
import signal
import threading
import time
import uuid
from collections import defaultdict

import aiohttp
import pytest
import requests
from sqlalchemy import create_engine, inspect
from sqlalchemy import text as sql

from bot.policy import FAILSAFE_LINE
from tests.load import check_tracker, run_load, say

pytestmark = [pytest.mark.live, pytest.mark.timeout(600)]

OPENINGS = ["hi", "hello, I had a bone marrow biopsy on Monday", "hi its about my daughter's biopsy",
            "quick question about my hip after the biopsy", "hiya"]
ANSWERS = ["no", "no bleeding", "nope", "not really", "a bit sore but getting better", "no fever",
           "2 days ago", "no nothing like that", "no", "fine thanks"]


def scripts(prefix: str, conversations: int, turns: int) -> dict[str, list[str]]:
    """Varied multi-turn conversations (unique senders)."""
    out = {}
    for n in range(conversations):
        sender = f"{prefix}-{n}-{uuid.uuid4().hex[:6]}"
        out[sender] = [OPENINGS[n % len(OPENINGS)]] + [
            ANSWERS[(n + t) % len(ANSWERS)] for t in range(turns - 1)]
    return out


def tracker_events(scaled, sender: str, replica: str = "rasa-2") -> list[dict]:
    response = requests.get(f"{scaled.replica_url(replica)}/conversations/{sender}/tracker",
                            params={"token": scaled.token}, timeout=30)
    response.raise_for_status()
    return response.json()["events"]


def load_with_fault(scaled, conversations: dict, fault, *, after_ok_turns: int,
                    concurrency: int, retries: int, timeout: float = 45):
    """Run the load in a thread; once `after_ok_turns` turns were answered, call `fault()`
    (while the load goes on); return the load's logs."""
    answered, reached, out = 0, threading.Event(), {}

    def on_turn(attempt) -> None:
        nonlocal answered
        answered += attempt.ok
        if answered >= after_ok_turns:
            reached.set()

    def load() -> None:
        out["logs"], _ = asyncio.run(run_load(scaled.rasa_url, conversations, concurrency,
                                              retries=retries, timeout=timeout, on_turn=on_turn))

    thread = threading.Thread(target=load, daemon=True)
    thread.start()
    assert reached.wait(180), "the load never got going"
    fault()
    thread.join(timeout=400)
    assert not thread.is_alive(), "the load did not finish in time"
    return out["logs"]


def upstream_of_each_conversation(scaled) -> dict[str, set[str]]:
    seen = defaultdict(set)
    for line in (scaled.nginx.root / "access.log").read_text().splitlines():
        match = re.search(r"conversation=(\S+) upstream=(\S+)", line)
        if match and match.group(1) != "-":
            seen[match.group(1)].add(match.group(2))
    return seen


# --- shape of the profile ------------------------------------------------------------------
def test_nginx_names_no_version(tmp_root):
    """Its own Server header and its error pages say "nginx", no version (Rasa's Sanic sends
    no Server header at all). nginx alone, in front of replicas that are not running."""
    import subprocess

    from bot.services import Nginx, wait_for
    from bot.stack import free_port

    nginx = Nginx(tmp_root / f"nginx-{uuid.uuid4().hex[:6]}", rasa_port=free_port(),
                  action_port=free_port(), replica_ports=[free_port()],
                  actions_internal_port=free_port())

    def up() -> bool:
        try:
            return requests.get(nginx.health_url, timeout=2).ok
        except requests.ConnectionError:
            return False

    process = subprocess.Popen(nginx.command(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(up, 30, "nginx")
        health = requests.get(nginx.health_url, timeout=5)
        down = requests.get(f"http://127.0.0.1:{nginx.rasa_port}/status", timeout=10)
        assert down.status_code == 502
        for response in (health, down):
            assert response.headers["Server"] == "nginx"
            assert not re.search(r"nginx/\d", response.text)
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_rasa_events_table_has_a_sender_id_index_on_postgres(scaled):
    engine = create_engine(scaled.postgres.url, future=True)
    try:
        indexes = inspect(engine).get_indexes("events")
    finally:
        engine.dispose()
    assert any(index["column_names"] == ["sender_id"] for index in indexes), indexes


def test_a_triage_conversation_through_nginx_is_stored_in_postgres(scaled):
    sender = f"scaled-{uuid.uuid4().hex[:8]}"
    reply = requests.post(f"{scaled.rasa_url}/webhooks/rest/webhook", timeout=60,
                          json={"sender": sender, "message": "I had a biopsy and I am bleeding "
                                "heavily, it won't stop even when I press on it"}).json()
    assert "999" in " ".join(m.get("text", "") for m in reply)
    engine = create_engine(scaled.postgres.url, future=True)
    try:
        with engine.connect() as db:
            stored = db.execute(sql("SELECT count(*) FROM events WHERE sender_id = :s"),
                                {"s": sender}).scalar_one()
            level = db.execute(sql("SELECT level FROM triage_outcomes WHERE conversation_id = :s"),
                               {"s": sender}).scalar()
    finally:
        engine.dispose()
    assert stored > 3
    assert level == "emergency"


def test_nginx_keeps_each_conversation_on_one_replica_and_uses_both(scaled):
    conversations = scripts("sticky", 12, 3)
    logs, _ = asyncio.run(run_load(scaled.rasa_url, conversations, 6))
    assert all(log.complete for log in logs)
    upstreams = upstream_of_each_conversation(scaled)
    assert all(len(upstreams[sender]) == 1 for sender in conversations), upstreams
    used = set().union(*(upstreams[sender] for sender in conversations))
    assert used == {f"127.0.0.1:{port}" for port in scaled.replica_ports.values()}


def test_redis_lock_keeps_one_conversations_turns_in_order_across_replicas(scaled):
    """Twelve messages of one conversation sent at once, alternately to each replica
    directly: each must be fully handled (ending in action_listen) before the next starts."""
    sender = f"lock-{uuid.uuid4().hex[:8]}"
    urls = [scaled.replica_url(name) for name in scaled.replica_ports]

    async def burst():
        async with aiohttp.ClientSession() as session:
            return await asyncio.gather(*(
                say(session, urls[i % len(urls)], sender, ANSWERS[i % len(ANSWERS)],
                    metadata={"turn": i, "attempt": 0}, timeout=120) for i in range(12)))

    results = asyncio.run(burst())
    assert all(r.ok for r in results), [r for r in results if not r.ok]
    events = tracker_events(scaled, sender)
    users = [i for i, e in enumerate(events) if e["event"] == "user"]
    assert sorted(events[i]["metadata"]["turn"] for i in users) == list(range(12))
    for start, end in zip(users, users[1:] + [len(events)], strict=False):
        between = events[start + 1:end]
        assert not any(e["event"] == "user" for e in between)
        assert between and between[-1]["event"] == "action" \
            and between[-1]["name"] == "action_listen", between


# --- fault tests ---------------------------------------------------------------------------
def test_killing_a_replica_mid_load_loses_no_event_and_conversations_go_on(scaled):
    conversations = scripts("kill", 16, 8)
    victim = "rasa-1"
    victim_address = f"127.0.0.1:{scaled.replica_ports[victim]}"
    try:
        logs = load_with_fault(scaled, conversations, lambda: scaled.stop(victim, signal.SIGKILL),
                               after_ok_turns=30, concurrency=16, retries=6, timeout=75)
    finally:
        scaled.start_replica(victim)
        scaled.wait_until_up(timeout=300)
    assert all(log.complete for log in logs), [
        (log.sender, log.attempts[-1]) for log in logs if not log.complete]
    for log in logs:
        assert check_tracker(log, tracker_events(scaled, log.sender)) == [], log.sender
    upstreams = upstream_of_each_conversation(scaled)
    moved = [s for s in conversations if victim_address in upstreams[s] and len(upstreams[s]) > 1]
    assert moved, "no conversation was on the killed replica and moved to the other one"


def test_action_server_down_gives_the_failsafe_line_then_the_conversation_continues(scaled):
    sender = f"actions-down-{uuid.uuid4().hex[:8]}"
    url = f"{scaled.rasa_url}/webhooks/rest/webhook"
    first = requests.post(url, json={"sender": sender, "message": "hi"}, timeout=60).json()
    assert "?" in first[-1]["text"]
    scaled.stop("actions")
    try:
        start = time.monotonic()
        during = requests.post(url, json={"sender": sender, "message": "no"}, timeout=60).json()
        assert [m["text"] for m in during] == [FAILSAFE_LINE]
        assert time.monotonic() - start < 30
    finally:
        scaled.start_actions()
        scaled.wait_until_up(timeout=120)
    after = requests.post(url, json={"sender": sender, "message": "no"}, timeout=60).json()
    assert "?" in after[-1]["text"] and after[-1]["text"] != FAILSAFE_LINE


def test_postgres_restart_mid_load_fails_safely_and_loses_no_stored_event(scaled):
    conversations = scripts("pg-restart", 8, 12)
    engine = create_engine(scaled.postgres.url, future=True)
    snapshot: dict[int, tuple] = {}
    outage: list[float] = []
    replicas_before = {name: scaled.processes[name].pid for name in scaled.replica_ports}

    def restart_postgres() -> None:
        with engine.connect() as db:
            for row in db.execute(sql("SELECT id, sender_id, type_name, data FROM events")):
                snapshot[row.id] = (row.sender_id, row.type_name, row.data)
        engine.dispose()
        scaled.postgres.stop()
        outage.append(time.monotonic())
        time.sleep(5)  # the outage: requests keep coming
        outage.append(time.monotonic())
        scaled.postgres.start()

    try:
        logs = load_with_fault(scaled, conversations, restart_postgres, after_ok_turns=8,
                               concurrency=8, retries=12, timeout=45)
    finally:
        if not scaled.postgres.running():
            scaled.postgres.start()
    attempts = [a for log in logs for a in log.attempts]
    during = [a for a in attempts if outage[0] <= a.started <= outage[1]]
    assert during, "no request fell into the outage: the test proved nothing"
    assert not any(a.ok for a in during), [(a, outage) for a in during if a.ok]
    failed = [a for a in attempts if not a.ok]
    # Failing safely: the fail-safe line or an HTTP error, never a hang.
    assert all(a.failsafe or (a.status or 500) >= 500 for a in failed), failed
    assert max(a.latency for a in attempts) < 40
    # Afterwards everything works without restarting the bot.
    assert all(log.complete for log in logs)
    assert {name: scaled.processes[name].pid for name in scaled.replica_ports} == replicas_before
    with engine.connect() as db:
        after = {row.id: (row.sender_id, row.type_name, row.data) for row in db.execute(
            sql("SELECT id, sender_id, type_name, data FROM events WHERE id = ANY(:ids)"),
            {"ids": list(snapshot)})}
    engine.dispose()
    assert after == snapshot
    for log in logs:
        assert check_tracker(log, tracker_events(scaled, log.sender)) == [], log.sender
