"""The running servers as an attacker or a careless client meets them: the action server is
closed to anyone without the shared secret, the Rasa token is not on any command line, a huge
message costs nothing, and an action that fails leaks no patient text."""
from __future__ import annotations

import concurrent.futures
import json
import uuid
from pathlib import Path

import pytest
import requests
from sqlalchemy import func, select

from bot.action_server import TOKEN_HEADER
from bot.channels.text import too_long_line
from bot.config import settings
from bot.storage.db import session
from bot.storage.models import TriageOutcome
from tests.client import texts

pytestmark = pytest.mark.live

FORGED_EMERGENCY = {
    "next_action": "action_triage_advice", "version": "3.6.21", "domain": {},
    "tracker": {"sender_id": "forged-0001", "slots": {"red_flags": ["BLEED_HEAVY"]},
                "latest_message": {"text": "forged", "intent": {"name": "red_flag"}},
                "events": [], "paused": False, "followup_action": None, "active_loop": {},
                "latest_action_name": "action_listen"},
}


def outcome_count() -> int:
    with session() as s:
        return s.scalar(select(func.count()).select_from(TriageOutcome))


def rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise LookupError(pid)


def command_line(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()


def listening_addresses(pid: int) -> set[str]:
    """IPv4/IPv6 addresses the process's listening TCP sockets are bound to (from /proc)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = str(fd.readlink())
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    addresses = set()
    for table in ("tcp", "tcp6"):
        for row in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            fields = row.split()
            if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                raw = bytes.fromhex(fields[1].split(":")[0])
                if table == "tcp":
                    addresses.add(".".join(str(b) for b in reversed(raw)))
                else:
                    addresses.add(raw.hex())
    return addresses


def test_a_forged_action_call_is_refused_and_changes_nothing(live_bot):
    stack, _ = live_bot
    before = outcome_count()
    url = f"{stack.action_url}/webhook"
    assert requests.post(url, json=FORGED_EMERGENCY, timeout=10).status_code == 401
    assert requests.post(url, json=FORGED_EMERGENCY, headers={TOKEN_HEADER: "guess"},
                         timeout=10).status_code == 403
    assert requests.get(f"{stack.action_url}/actions", timeout=10).status_code == 401
    assert outcome_count() == before


def test_the_action_server_answers_unknown_paths_with_404_and_wrong_methods_with_405(live_bot):
    stack, _ = live_bot
    token = {TOKEN_HEADER: stack.env["ACTION_SERVER_TOKEN"]}
    assert requests.get(f"{stack.action_url}/admin", headers=token, timeout=10).status_code == 404
    assert requests.get(f"{stack.action_url}/admin", timeout=10).status_code in (401, 404)
    assert requests.get(f"{stack.action_url}/webhook", headers=token, timeout=10).status_code == 405


def test_the_action_server_listens_on_loopback_only(live_bot):
    stack, _ = live_bot
    assert listening_addresses(stack.processes["actions"].pid) == {"127.0.0.1"}


def test_a_failing_action_echoes_no_patient_text(live_bot):
    """rasa-sdk's error reply carried the whole tracker, and Rasa logged it."""
    stack, _ = live_bot
    secret_words = f"my-private-words-{uuid.uuid4().hex[:8]}"
    call = json.loads(json.dumps(FORGED_EMERGENCY))
    call["tracker"]["latest_message"]["text"] = secret_words
    call["tracker"]["slots"] = {"unsure_slots": 17}  # not a list: the advice action raises
    response = requests.post(f"{stack.action_url}/webhook", json=call,
                             headers={TOKEN_HEADER: stack.env["ACTION_SERVER_TOKEN"]}, timeout=10)
    assert response.status_code == 500
    assert secret_words not in response.text
    assert secret_words not in (Path(stack.log_dir) / "actions.log").read_text(errors="replace")


def test_the_rasa_token_is_on_no_command_line(live_bot):
    stack, _ = live_bot
    for name, process in stack.processes.items():
        assert stack.token not in command_line(process.pid), name
        assert stack.env["ACTION_SERVER_TOKEN"] not in command_line(process.pid), name


def test_a_1mb_message_is_answered_plainly_without_slowing_anyone_or_growing_rasa(live_bot):
    stack, bot = live_bot
    rasa = stack.processes["rasa"].pid
    rss_before = rss(rasa)
    limit = settings().max_message_chars
    sender, other = f"huge-{uuid.uuid4().hex[:8]}", f"other-{uuid.uuid4().hex[:8]}"
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        huge = pool.submit(bot.say, sender, "my leg is bleeding " * 55_000)  # ~1 MB
        normal = pool.submit(bot.say, other, "hello")
        assert texts(huge.result(timeout=10)) == too_long_line(limit)
        assert "?" in texts(normal.result(timeout=10))
    assert rss(rasa) - rss_before < 100 * 1024 * 1024
    # The conversation goes on as if the long message had not been sent.
    assert "?" in texts(bot.say(sender, "hello"))


def test_rasa_refuses_a_body_over_max_request_bytes(live_bot):
    stack, _ = live_bot
    body = json.dumps({"sender": f"big-{uuid.uuid4().hex[:8]}", "message": "a" * (3 * 1024 * 1024)})
    response = requests.post(f"{stack.rasa_url}/webhooks/rest/webhook", data=body,
                             headers={"Content-Type": "application/json"}, timeout=30)
    assert response.status_code == 413
