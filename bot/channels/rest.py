"""SafeRestInput: Rasa's REST channel that never answers with silence.

If a turn fails (the database down) or produces no bot message (action server
down, an action raising), the patient gets the policy's fail-safe line, and we
try to store it in the conversation too.

Retries are safe: a client may give each message a `message_id` and, when it did not get
an answer (a Rasa replica died mid-turn), send it again with `"retry": true`. If that message
is already stored, its stored replies are sent again instead of processing it twice, which
would otherwise take the patient's "no" as the answer to a question they never saw. Odd input
(no JSON, no text, non-string text, a sender id that is not 8 to 64 URL-safe characters) gets
a clear 400 instead of a stack trace; a message over MAX_MESSAGE_CHARS gets a reply asking
for less, and nothing reads it. When a turn fails, the patient's message is stored with the
fail-safe line, so staff see what was said.
"""
from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any, Optional

from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.core.channels.rest import RestInput
from rasa.shared.core.events import BotUttered, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot import rasa_patches
from bot.channels.text import SENDER_PATTERN, clean_message, too_long_line
from bot.config import settings
from bot.failures import describe
from bot.policy import FAILSAFE_LINE

logger = logging.getLogger(__name__)
FAILSAFE_MESSAGE = {"text": FAILSAFE_LINE, "custom": {"failsafe": True}}


def _is_stored(tracker: DialogueStateTracker, message: UserMessage) -> bool:
    """Whether the failed turn got as far as storing the patient's message."""
    for event in reversed(tracker.events):
        if isinstance(event, UserUttered):
            return (event.message_id == message.message_id if message.message_id
                    else event.text == message.text)
    return False


def kept_text(text: str, max_chars: int) -> tuple[str, dict]:
    """What is stored of a message nobody processed: all of it up to ten times the message
    limit (a long story is worth keeping for staff), the start of it beyond that."""
    keep = 10 * max_chars
    if len(text) <= keep:
        return text, {}
    return text[:keep], {"stored_chars": keep, "sent_chars": len(text)}


async def store_unprocessed(agent: Any, message: UserMessage, reply: str, reason: str) -> None:
    """Best effort, under the conversation's lock: a message the bot did not process (its turn
    failed, or it was too long to read) is stored with the line the patient was shown, so staff
    see what was said. Rasa never processed it, so it has no intent."""
    try:
        async with agent.lock_store.lock(message.sender_id):
            store = agent.tracker_store
            tracker = await store.get_or_create_tracker(message.sender_id)
            if not _is_stored(tracker, message):
                text, trimmed = kept_text(message.text, settings().max_message_chars)
                # No message_id: a retry of this message must be processed, not answered here.
                tracker.update(UserUttered(text, input_channel=message.input_channel,
                                           parse_data={"intent": {"name": None, "confidence": 0.0},
                                                       "entities": [], "text": text},
                                           metadata={"not_processed": reason, **trimmed}))
            tracker.update(BotUttered(text=reply, data={"custom": {reason: True}}))
            await store.save(tracker)
    except Exception as error:
        logger.error("could not store the reply to an unprocessed message of %s: %s",
                     message.sender_id, describe(error))


async def store_failsafe(request: Request, message: UserMessage) -> None:
    await store_unprocessed(getattr(request.app.ctx, "agent", None), message, FAILSAFE_LINE,
                            "failsafe")


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
    if tracker is None:
        return None
    events = list(tracker.events)
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
    def __init__(self) -> None:
        rasa_patches.apply()  # Rasa loads this channel in every server process
        super().__init__()

    @classmethod
    def name(cls) -> str:
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
            if not SENDER_PATTERN.fullmatch(body["sender"]):
                return response.json(
                    {"error": "'sender' must be 8 to 64 letters, digits, '-' or '_'."}, status=400)
            raw = body.get("message") or ""
            sender_id, text = body["sender"], clean_message(raw)
            collector = CollectingOutputChannel()
            failed = False
            message_id = message_id_of(body)
            message = UserMessage(text, collector, sender_id, input_channel=self.name(),
                                  metadata=client_metadata(body), message_id=message_id)
            limit = settings().max_message_chars
            if len(raw) > limit:  # as sent: NFC can lengthen a text the client kept in bounds
                reply = too_long_line(limit)
                await store_unprocessed(request.app.ctx.agent, message, reply, "too_long")
                return response.json([{"recipient_id": sender_id, "text": reply,
                                       "custom": {"too_long": True}}])
            try:
                if message_id and body.get("retry") is True:
                    await handle_retry(request.app.ctx.agent, message)
                else:
                    await on_new_message(message)
            except Exception as error:
                # Replies collected before the failure belong to a turn that was not stored:
                # showing them would put the patient and the stored conversation out of step.
                logger.error("turn failed for %s: %s", sender_id, describe(error))
                failed = True
            if failed or not collector.messages:
                await store_failsafe(request, message)
                return response.json([{"recipient_id": sender_id, **FAILSAFE_MESSAGE}])
            return response.json(collector.messages)

        return webhook
