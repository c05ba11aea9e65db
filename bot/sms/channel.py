"""SmsInput: our Rasa input channel for Twilio's SMS webhook (POST /webhooks/sms/webhook).

What Rasa 3.6's built-in TwilioInput gets wrong, and what this one does instead:
- it never checks X-Twilio-Signature: here every request is checked with the `twilio`
  library's RequestValidator against SMS_WEBHOOK_URL (the URL configured at Twilio); a
  forged or unsigned request gets 403 and changes nothing;
- a POST without `Body` raises a 500 there: here it is stored and answered in words;
- it sends with the synchronous Twilio client on the event loop: here replies are queued
  in the outbox (`bot.sms.outbox`) and sent from a thread pool, and whatever fails is
  retried by the worker.
Also: the same MessageSid twice (Twilio retries) makes one turn; STOP/START/HELP are
handled before Rasa; a number with no discharge gets a polite reply and the fail-safe
line; one Rasa conversation per discharge (its random `conversation_id`, never the phone
number, is the sender id); the bot's buttons become "Reply YES or NO" words.

`trigger_intent?output_channel=sms` (the worker's follow-ups) gets `SmsOutput`, which only
collects: the messages come back in Rasa's response and the worker sends them.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any, Optional
from urllib.parse import parse_qsl

import phonenumbers
from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse
from twilio.request_validator import RequestValidator

from bot import rasa_patches
from bot.channels.rest import handle_retry, store_unprocessed
from bot.channels.text import clean_message, too_long_line
from bot.config import settings
from bot.failures import describe
from bot.policy import FAILSAFE_LINE
from bot.sms import discharges, inbound, outbox, twilio_client
from bot.sms.context import context_events
from bot.sms.models import utcnow
from bot.sms.settings import SmsSettings, sms_settings
from bot.sms.texts import caption_reply, failsafe_text, keyword, no_text_reply, render_messages

logger = logging.getLogger(__name__)
# Twilio's client logs every request at INFO (eleven lines a text) into Rasa's log.
logging.getLogger("twilio.http_client").setLevel(logging.WARNING)
# A text older than this that nobody took is picked up by the sweep (a restart lost its
# task); one that failed this often gets the fail-safe line instead of another try.
WAITING_GRACE, SWEEP_SECONDS, MAX_ATTEMPTS = timedelta(seconds=30), 10, 3
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


class SmsOutput(CollectingOutputChannel):
    """Collects the bot's messages whole (text with its buttons and its custom payload:
    the SMS needs the triage level to put "Call 999 now." first)."""

    @classmethod
    def name(cls) -> str:
        return "sms"

    async def send_response(self, recipient_id: str, message: dict[str, Any]) -> None:
        await self._persist_message(self._message(
            recipient_id, text=message.get("text"),
            buttons=message.get("buttons") or message.get("quick_replies"),
            image=message.get("image"), attachment=message.get("attachment"),
            custom=message.get("custom")))


class PostedForm(dict):
    """The form exactly as Twilio posted it: blank values and repeated keys kept.

    Twilio signs every field it sends, empty ones included (`FromCity=` for most UK
    numbers, `Body=` for a picture), and Sanic's `request.form` drops blank values, so
    a signature checked over it never matches. `getall` is what RequestValidator asks.
    """

    @classmethod
    def parse(cls, body: bytes) -> PostedForm:
        form = cls()
        text = body.decode("utf-8", errors="replace")
        for name, value in parse_qsl(text, keep_blank_values=True):
            form.setdefault(name, []).append(value)
        return form

    def getall(self, name: str) -> list[str]:
        return self[name]

    def first(self, name: str) -> Optional[str]:
        values = self.get(name)
        return values[0] if values else None


def _e164(number: str) -> str:
    try:
        return phonenumbers.format_number(phonenumbers.parse(number, None),
                                          phonenumbers.PhoneNumberFormat.E164)
    except phonenumbers.NumberParseException:
        return number.strip()


class SmsInput(InputChannel):
    @classmethod
    def name(cls) -> str:
        return "sms"

    @classmethod
    def from_credentials(cls, credentials: Optional[dict[str, Any]]) -> InputChannel:
        return cls()  # settings come from .env (bot.sms.settings), read per request

    def __init__(self) -> None:
        rasa_patches.apply()  # Rasa loads this channel in every server process
        self._senders = ThreadPoolExecutor(max_workers=4, thread_name_prefix="sms-send")
        self._background: set = set()
        self._phone_locks: dict[str, asyncio.Lock] = {}

    def get_output_channel(self) -> Optional[CollectingOutputChannel]:
        return SmsOutput()

    # --- sending ---------------------------------------------------------------------

    def _send_soon(self, cfg: SmsSettings, ids: list[int]) -> None:
        """Send the queued texts from a thread; the HTTP answer to Twilio does not wait."""
        if not ids:
            return
        future = asyncio.get_running_loop().run_in_executor(
            self._senders, outbox.deliver_all, cfg, ids)
        self._background.add(future)
        future.add_done_callback(self._background.discard)

    # --- the webhook -----------------------------------------------------------------

    def _signed(self, cfg: SmsSettings, request: Request, form: PostedForm,
                url: Optional[str] = None) -> bool:
        signature = request.headers.get("X-Twilio-Signature", "")
        if not cfg.auth_token:
            logger.error("SMS webhook refused a request: TWILIO_AUTH_TOKEN is not set")
            return False
        if not signature:
            return False
        url = url or cfg.webhook_url or request.url
        return RequestValidator(cfg.auth_token).validate(url, form, signature)

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        webhook = Blueprint(f"sms_webhook_{id(self)}", __name__)

        @webhook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @webhook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            cfg = sms_settings()
            form = PostedForm.parse(request.body or b"")
            if not self._signed(cfg, request, form):
                return response.text("Forbidden", status=403)
            sid = form.first("MessageSid") or form.first("SmsSid")
            sender = form.first("From")
            if not sid or not sender:
                return response.text("MessageSid and From are needed", status=400)
            body = clean_message(form.first("Body") or "").replace("¡", "@")  # some carriers mangle @
            try:
                num_media = int(form.first("NumMedia") or 0)
            except ValueError:
                num_media = 0
            phone = _e164(sender)
            _, new = await asyncio.to_thread(inbound.record, sid, phone, form.first("To"), body,
                                             num_media)
            if not new:
                logger.info("SMS %s seen before (a Twilio retry): no second turn", sid)
            # Stored: Twilio gets its answer now, and the turn runs apart from this request,
            # so a request cancelled mid-turn (Twilio's 15 s, a proxy) loses nothing.
            self._drain_soon(request, on_new_message, phone)
            return response.text(EMPTY_TWIML, content_type="text/xml")

        @webhook.route("/status", methods=["POST"])
        async def delivery_receipt(request: Request) -> HTTPResponse:
            """Twilio's status callback for a text we sent, signed like the messages."""
            cfg = sms_settings()
            form = PostedForm.parse(request.body or b"")
            if not self._signed(cfg, request, form,
                                url=twilio_client.status_callback_url(cfg) or request.url):
                return response.text("Forbidden", status=403)
            sid, state = form.first("MessageSid"), form.first("MessageStatus")
            if not sid or not state:
                return response.text("MessageSid and MessageStatus are needed", status=400)
            await asyncio.to_thread(outbox.record_delivery, sid, state, form.first("ErrorCode"),
                                    utcnow())
            return response.empty()

        @webhook.listener("after_server_start")
        async def pick_up_waiting_texts(app, _) -> None:
            self._sweeper = asyncio.create_task(self._sweep(app, on_new_message))

        @webhook.listener("before_server_stop")
        async def stop_sweeping(app, _) -> None:
            if getattr(self, "_sweeper", None):
                self._sweeper.cancel()

        return webhook

    # --- the turns, from the table ------------------------------------------------------

    def _drain_soon(self, request: Request, on_new_message, phone: str) -> None:
        task = asyncio.create_task(self._drain(request.app, on_new_message, phone))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _drain(self, app, on_new_message, phone: str) -> None:
        """Every unfinished text from `phone`, oldest first, one turn each. One drain per
        number in this process; the table's claims keep other processes out."""
        async with self._phone_locks.setdefault(phone, asyncio.Lock()):
            while True:
                cfg = sms_settings()
                claimed = await asyncio.to_thread(inbound.claim_next, phone, utcnow(), cfg.lease)
                if claimed is None:
                    break
                await self._turn(cfg, app, on_new_message, claimed)

    async def _turn(self, cfg: SmsSettings, app, on_new_message,
                    claimed: inbound.ClaimedText) -> None:
        try:
            if claimed.attempts > MAX_ATTEMPTS:
                raise RuntimeError(f"text {claimed.id} failed {MAX_ATTEMPTS} times")
            ids = await self._handle(cfg, app, on_new_message, claimed)
        except Exception as error:
            logger.error("SMS %s could not be handled: %s", claimed.message_sid, describe(error))
            ids = await asyncio.to_thread(inbound.reply, cfg, claimed.id, claimed.phone,
                                          failsafe_text(), kind="failsafe", status="failed")
        self._send_soon(cfg, ids)

    async def _sweep(self, app, on_new_message) -> None:
        """Texts left unfinished by a restart or a dead replica: picked up again."""
        while True:
            try:
                cfg, now = sms_settings(), utcnow()
                for phone in await asyncio.to_thread(
                        inbound.waiting_phones, now, now - WAITING_GRACE, cfg.lease):
                    self._background.add(asyncio.create_task(
                        self._drain(app, on_new_message, phone)))
            except Exception as error:
                logger.error("could not look for waiting texts: %s", describe(error))
            await asyncio.sleep(SWEEP_SECONDS)

    async def _handle(self, cfg: SmsSettings, app, on_new_message,
                      claimed: inbound.ClaimedText) -> list[int]:
        inbound_id, sid, phone, body = (claimed.id, claimed.message_sid, claimed.phone,
                                        claimed.body)
        discharge = await asyncio.to_thread(discharges.find_for_phone, phone)
        word = keyword(body)
        if word:
            return await asyncio.to_thread(inbound.handle_keyword, cfg, inbound_id, phone,
                                           word, discharge)
        if await asyncio.to_thread(inbound.is_opted_out, phone):
            # They said STOP: no texts until START (carrier rules; Twilio would refuse anyway).
            await asyncio.to_thread(inbound.finish, inbound_id, "opted_out",
                                    discharge.id if discharge else None)
            return []
        if discharge is None:
            return await asyncio.to_thread(inbound.reply_unknown, cfg, inbound_id, phone)
        if not body.strip():
            return await asyncio.to_thread(inbound.reply, cfg, inbound_id, phone,
                                           no_text_reply(cfg.core), kind="reply",
                                           status="no_text", discharge_id=discharge.id)
        limit = settings().max_message_chars
        if len(body) > limit:  # kept in the texts table; the NLU never reads it
            return await asyncio.to_thread(inbound.reply, cfg, inbound_id, phone,
                                           too_long_line(limit), kind="reply",
                                           status="too_long", discharge_id=discharge.id)
        await self._add_discharge_context(app, discharge)
        collector = SmsOutput()
        message = UserMessage(body, collector, discharge.conversation_id, input_channel=self.name(),
                              message_id=sid,
                              metadata={"discharge_id": discharge.id, "message_sid": sid})
        try:
            if claimed.attempts > 1:  # a dead process's claim: its turn may be stored already
                await handle_retry(app.ctx.agent, message)
            else:
                await on_new_message(message)
        except Exception as error:  # the turn was not stored: send nothing of it but the fail-safe line
            logger.error("turn failed for discharge %s: %s", discharge.id, describe(error))
            collector.messages.clear()
        # A picture with a caption: the caption is read, and the reply says the picture was not.
        reply = caption_reply if claimed.num_media else render_messages
        text = reply(collector.messages, cfg.core.emergency_number)
        status = "processed"
        if not text:
            await store_unprocessed(app.ctx.agent, message, FAILSAFE_LINE, "failsafe")
            text, status = failsafe_text(), "failed"
        return await asyncio.to_thread(inbound.reply, cfg, inbound_id, phone, text, kind="reply",
                                       status=status, discharge_id=discharge.id)

    @staticmethod
    async def _add_discharge_context(app, discharge) -> None:
        """Child or not and the days since the procedure, from the discharge, into the
        conversation before its turn. Best effort: without it the bot asks instead."""
        agent = app.ctx.agent
        try:
            async with agent.lock_store.lock(discharge.conversation_id):
                store = agent.tracker_store
                tracker = await store.retrieve(discharge.conversation_id)
                events = context_events(tracker, discharge, utcnow())
                if events:
                    tracker = tracker or await store.get_or_create_tracker(
                        discharge.conversation_id, append_action_listen=False)
                    for event in events:
                        tracker.update(event)
                    await store.save(tracker)
        except Exception as error:
            logger.error("could not add the discharge to conversation %s: %s",
                         discharge.conversation_id, describe(error))
