"""SafeRestInput: Rasa's REST channel that never answers with silence.

If a turn fails (the database down) or produces no bot message (action server
down, an action raising), the patient gets the policy's fail-safe line, and we
try to store it in the conversation too.

Retries are safe: a client may give each message a `message_id` and, when it did not get
an answer (a Rasa replica died mid-turn), send it again with `"retry": true`. If that message
is already stored, its stored replies are sent again instead of processing it twice, which
would otherwise take the patient's "no" as the answer to a question they never saw. Odd input (no JSON, no text, non-string
text) gets a clear 400 instead of a stack trace.
"""
from __future__ import annotations

import logging
import re
from typing import Any, Awaitable, Callable, Optional, Text

from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.core.channels.rest import RestInput
from rasa.shared.core.events import BotUttered, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

import bot.rasa_speedups  # noqa: F401  (loaded with this channel by every Rasa server)
from bot.channels.text import clean_message
from bot.policy import FAILSAFE_LINE

logger = logging.getLogger(__name__)
FAILSAFE_MESSAGE = {"text": FAILSAFE_LINE, "custom": {"failsafe": True}}


async def store_failsafe(request: Request, sender_id: str) -> None:
    """Best effort: the patient must see what we said even if storing fails."""
    agent = getattr(request.app.ctx, "agent", None)
    try:
        store = agent.tracker_store
        tracker = await store.get_or_create_tracker(sender_id)
        tracker.update(BotUttered(text=FAILSAFE_LINE, data={"custom": {"failsafe": True}}))
        await store.save(tracker)
    except Exception:
        logger.exception("could not store the fail-safe line for %s", sender_id)


MAX_METADATA_KEYS, MAX_METADATA_CHARS = 8, 64
MESSAGE_ID = re.compile(r"[A-Za-z0-9_-]{8,64}")


def message_id_of(body: dict) -> Optional[str]:
    value = body.get("message_id")
    return value if isinstance(value, str) and MESSAGE_ID.fullmatch(value) else None


def rest_messages(sender_id: str, bot: BotUttered) -> list[dict]:
    """A stored bot message as the REST channel sent it (text with buttons; custom apart)."""
    data = bot.data or {}
    message: dict = {"recipient_id": sender_id}
    if bot.text:
        message["text"] = bot.text
    if data.get("buttons"):
        message["buttons"] = data["buttons"]
    out = [message] if len(message) > 1 else []
    if data.get("custom"):
        out.append({"recipient_id": sender_id, "custom": data["custom"]})
    return out


def stored_replies(tracker: Optional[DialogueStateTracker], message_id: str) -> Optional[list]:
    """The bot messages stored after the user message `message_id`; None if it is not stored."""
    events = list(tracker.events) if tracker else []
    for position, event in enumerate(events):
        if isinstance(event, UserUttered) and event.message_id == message_id:
            replies: list[dict] = []
            for later in events[position + 1:]:
                if isinstance(later, UserUttered):
                    break
                if isinstance(later, BotUttered):
                    replies += rest_messages(tracker.sender_id, later)
            return replies
    return None


async def handle_retry(agent: Any, message: UserMessage) -> None:
    """Process a retried message once. Under the conversation's lock, as Rasa's own
    Agent.handle_message, so a retry that overtakes the first copy waits for it."""
    async with agent.lock_store.lock(message.sender_id):
        replies = stored_replies(await agent.tracker_store.retrieve(message.sender_id),
                                 message.message_id)
        if replies is None or not any(m.get("text") not in (None, FAILSAFE_LINE) for m in replies):
            await agent.processor.handle_message(message)  # new, or stored but it had failed
        else:
            logger.info("retry of stored message %s: stored replies sent again", message.message_id)
            message.output_channel.messages.extend(replies)


def client_metadata(body: dict) -> Optional[dict]:
    """A client's tag for its message (our load tests send {"turn": 3, "attempt": 0}), kept in
    the stored user event. Only a small flat dict of short scalars; anything else is dropped."""
    metadata = body.get("metadata")
    if not isinstance(metadata, dict) or not metadata or len(metadata) > MAX_METADATA_KEYS:
        return None
    kept = {k: v for k, v in metadata.items()
            if isinstance(k, str) and len(k) <= MAX_METADATA_CHARS
            and (isinstance(v, (int, float, bool)) or (isinstance(v, str) and len(v) <= MAX_METADATA_CHARS))}
    return kept or None


class SafeRestInput(RestInput):
    @classmethod
    def name(cls) -> Text:
        return "rest"

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        webhook = Blueprint(f"safe_rest_webhook_{id(self)}", __name__)

        @webhook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @webhook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            try:
                body = request.json
            except Exception:
                body = None
            if not isinstance(body, dict) or not isinstance(body.get("sender"), str) \
                    or not isinstance(body.get("message", ""), str):
                return response.json(
                    {"error": "Send JSON with a string 'sender' and a string 'message'."},
                    status=400)
            sender_id, text = body["sender"], clean_message(body.get("message") or "")
            collector = CollectingOutputChannel()
            failed = False
            message_id = message_id_of(body)
            message = UserMessage(text, collector, sender_id, input_channel=self.name(),
                                  metadata=client_metadata(body), message_id=message_id)
            try:
                if message_id and body.get("retry") is True:
                    await handle_retry(request.app.ctx.agent, message)
                else:
                    await on_new_message(message)
            except Exception:
                # Replies collected before the failure belong to a turn that was not stored:
                # showing them would put the patient and the stored conversation out of step.
                logger.exception("turn failed for %s", sender_id)
                failed = True
            if failed or not collector.messages:
                await store_failsafe(request, sender_id)
                return response.json([{"recipient_id": sender_id, **FAILSAFE_MESSAGE}])
            return response.json(collector.messages)

        return webhook
