"""`/api/chat`: the widget's same-origin proxy to our Rasa REST channel, and `/api/config`.

Same origin means the widget needs no CORS on Rasa and the page can keep
`connect-src 'self'`. The proxy never answers with silence or a 500: when Rasa
cannot be reached, or answers with nothing usable, the patient gets the
policy's fail-safe line, flagged so the widget and the logs can tell.
"""
from __future__ import annotations

import asyncio
import logging
import re
import uuid

import aiohttp
from aiohttp import web

from bot.config import Settings
from bot.policy import FAILSAFE_LINE
from bot.web.settings import WebSettings

logger = logging.getLogger(__name__)

# Long enough for a patient's story, short enough to keep a turn fast and bounded.
MAX_MESSAGE_CHARS = 1000
# The widget makes random hex ids; anything else is not our widget.
SENDER_PATTERN = re.compile(r"[A-Za-z0-9_-]{8,64}")
TOO_LONG = f"Your message is too long: please keep it under {MAX_MESSAGE_CHARS} characters."
NO_STORE = {"Cache-Control": "no-store"}
RETRIES, RETRY_STATUSES, RETRY_PAUSE_SECONDS = 1, (0, 502, 503), 0.5
SETTINGS_KEY = web.AppKey("settings", Settings)
WEB_SETTINGS_KEY = web.AppKey("web_settings", WebSettings)
HTTP_KEY = web.AppKey("http", aiohttp.ClientSession)


def failsafe_reply(sender: str) -> list[dict]:
    return [{"recipient_id": sender, "text": FAILSAFE_LINE,
             "custom": {"failsafe": True, "bot_unreachable": True}}]


def bad_request(error: str) -> web.Response:
    return web.json_response({"error": error}, status=400, headers=NO_STORE)


def usable(reply: object) -> bool:
    return isinstance(reply, list) and bool(reply) and all(isinstance(m, dict) for m in reply)


async def read_turn(request: web.Request) -> tuple[str, str] | web.Response:
    """The (sender, message) of a valid request, or the 400 that explains what is wrong."""
    try:
        body = await request.json()
    except web.HTTPRequestEntityTooLarge:
        return web.json_response({"error": TOO_LONG}, status=413, headers=NO_STORE)
    except Exception:
        return bad_request("Send JSON: {\"sender\": \"...\", \"message\": \"...\"}.")
    if not isinstance(body, dict) or not isinstance(body.get("sender"), str) \
            or not isinstance(body.get("message"), str):
        return bad_request("Send JSON with a string 'sender' and a string 'message'.")
    sender, message = body["sender"], body["message"].strip()
    if not SENDER_PATTERN.fullmatch(sender):
        return bad_request("'sender' must be 8 to 64 letters, digits, '-' or '_'.")
    if not message:
        return bad_request("Please type a message.")
    if len(message) > MAX_MESSAGE_CHARS:
        return bad_request(TOO_LONG)
    return sender, message


async def ask_rasa(request: web.Request, body: dict) -> tuple[int, object]:
    """(status, JSON reply) of one call to Rasa; raises when there is no answer."""
    url = f"{request.app[WEB_SETTINGS_KEY].rasa_url}/webhooks/rest/webhook"
    async with request.app[HTTP_KEY].post(
            url, json=body,
            headers={"X-Conversation-Id": body["sender"]}) as upstream:  # nginx: one replica
        return upstream.status, await upstream.json(content_type=None)


async def chat(request: web.Request) -> web.Response:
    turn = await read_turn(request)
    if isinstance(turn, web.Response):
        return turn
    sender, message = turn
    body = {"sender": sender, "message": message, "message_id": uuid.uuid4().hex}
    status, reply = 0, None
    for attempt in range(1 + RETRIES):
        try:
            status, reply = await ask_rasa(request, {**body, "retry": attempt > 0})
        except asyncio.TimeoutError as error:  # Rasa is slow, not gone: no second wait
            logger.warning("Rasa did not answer in time (%s); sent the fail-safe line", error)
            break
        except Exception as error:  # unreachable, reset, not JSON
            logger.warning("Rasa did not answer (%s: %s)", type(error).__name__, error)
            status, reply = 0, None
        if status not in RETRY_STATUSES:
            break
        # A Rasa replica died or restarts (nginx 502/503): once more, same message id, so a
        # message it had already stored is answered from the store, not processed twice.
        await asyncio.sleep(RETRY_PAUSE_SECONDS)
    if status == 0:
        return web.json_response(failsafe_reply(sender), status=503, headers=NO_STORE)
    if status != 200 or not usable(reply):
        logger.warning("Rasa answered %s without a usable reply; sent the fail-safe line", status)
        return web.json_response(failsafe_reply(sender), status=502, headers=NO_STORE)
    return web.json_response(reply, headers=NO_STORE)


async def config(request: web.Request) -> web.Response:
    """What the widget shows besides the bot's messages: phone numbers and the privacy notice."""
    cfg = request.app[SETTINGS_KEY]
    return web.json_response({
        "department_name": cfg.department_name,
        "department_phone": cfg.department_phone,
        "emergency_number": cfg.emergency_number,
        "urgent_number": cfg.urgent_number,
        "retention_days": cfg.retention_days,
        "max_message_chars": MAX_MESSAGE_CHARS,
    }, headers=NO_STORE)
