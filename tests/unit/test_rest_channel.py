"""Our REST channel on a real Sanic server with Rasa's own tracker and lock stores, in this
process: what it does when a turn fails, when a message is too long, when a sender id is odd.
(The live suites run it inside Rasa; here a turn can be made to fail on purpose.)"""
from __future__ import annotations

import asyncio
import threading
import time
from types import SimpleNamespace

import pytest
import requests
from rasa.core.lock_store import InMemoryLockStore
from rasa.core.tracker_store import InMemoryTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import BotUttered, UserUttered
from sanic import Sanic

from bot.channels.rest import SafeRestInput
from bot.channels.text import too_long_line
from bot.config import settings
from bot.policy import FAILSAFE_LINE
from bot.stack import free_port

SENDER = "patient-0001"


class Turns:
    """What Rasa's agent would do with a message: here, raise when told to."""

    def __init__(self) -> None:
        self.fail, self.seen = False, []

    async def __call__(self, message) -> None:
        self.seen.append(message.text)
        if self.fail:
            raise RuntimeError(f"the turn failed on {message.text!r}")
        message.output_channel.messages.append(
            {"recipient_id": message.sender_id, "text": "Is the site bleeding?"})


@pytest.fixture(scope="module")
def channel():
    turns = Turns()
    app = Sanic(f"rest_channel_test_{id(turns)}")
    app.config.REQUEST_MAX_SIZE = 64 * 1024
    app.blueprint(SafeRestInput().blueprint(turns), url_prefix="/webhooks/rest")
    app.ctx.agent = SimpleNamespace(tracker_store=InMemoryTrackerStore(Domain.empty()),
                                    lock_store=InMemoryLockStore())
    port, loop = free_port(), asyncio.new_event_loop()

    async def serve() -> None:
        server = await app.create_server(host="127.0.0.1", port=port, return_asyncio_server=True)
        await server.startup()
        await server.serve_forever()

    threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True).start()
    url = f"http://127.0.0.1:{port}/webhooks/rest/webhook"
    for _ in range(100):
        try:
            requests.get(url.replace("/webhook", "/"), timeout=1)
            break
        except requests.ConnectionError:
            time.sleep(0.1)
    yield SimpleNamespace(url=url, turns=turns, agent=app.ctx.agent, loop=loop)
    loop.call_soon_threadsafe(loop.stop)


def stored(channel, sender: str) -> list:
    future = asyncio.run_coroutine_threadsafe(channel.agent.tracker_store.retrieve(sender),
                                              channel.loop)
    tracker = future.result(timeout=10)
    return [e for e in tracker.events if isinstance(e, (UserUttered, BotUttered))] if tracker else []


def test_a_failed_turn_keeps_the_patients_message_beside_the_failsafe_line(channel):
    channel.turns.fail = True
    try:
        reply = requests.post(channel.url, json={"sender": SENDER, "message": "it won't stop bleeding"},
                              timeout=10).json()
    finally:
        channel.turns.fail = False
    assert [m["text"] for m in reply] == [FAILSAFE_LINE]
    user, bot = stored(channel, SENDER)[-2:]
    assert user.text == "it won't stop bleeding" and user.metadata["not_processed"] == "failsafe"
    assert bot.text == FAILSAFE_LINE


def test_a_message_over_the_limit_is_answered_plainly_stored_and_never_processed(channel):
    limit = settings().max_message_chars
    story = ("my knee is sore " * (limit // 10)).strip()
    seen_before = len(channel.turns.seen)
    reply = requests.post(channel.url, json={"sender": "patient-0002", "message": story},
                          timeout=10).json()
    assert [m["text"] for m in reply] == [too_long_line(limit)]
    assert FAILSAFE_LINE in reply[0]["text"]
    assert len(channel.turns.seen) == seen_before
    user, bot = stored(channel, "patient-0002")
    assert user.text == story and user.metadata["not_processed"] == "too_long"
    assert bot.text == too_long_line(limit)


def test_only_the_start_of_a_huge_message_is_stored(channel):
    limit = settings().max_message_chars
    huge = "a" * (50 * limit)
    requests.post(channel.url, json={"sender": "patient-0003", "message": huge}, timeout=10)
    user, _ = stored(channel, "patient-0003")
    assert user.text == huge[:10 * limit]
    assert user.metadata["sent_chars"] == len(huge)


def test_a_body_over_the_request_limit_is_refused_before_anything_reads_it(channel):
    response = requests.post(channel.url, json={"sender": "patient-0004", "message": "a" * 100_000},
                             timeout=10)
    assert response.status_code == 413
    assert stored(channel, "patient-0004") == []


@pytest.mark.parametrize("sender", ["", "short", "a/b?c#d%e12", "../../etc/passwd", "x" * 65,
                                    "nul\x00in-the-id", "émilie-0001"])
def test_sender_ids_are_checked_as_the_web_chat_checks_them(channel, sender):
    response = requests.post(channel.url, json={"sender": sender, "message": "hi"}, timeout=10)
    assert response.status_code == 400 and "8 to 64" in response.json()["error"]
