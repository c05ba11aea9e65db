"""A stand-in for the two Rasa HTTP API calls the SMS worker makes, for the scheduler tests
and the dispatch benchmark (the real Rasa is tested in tests/live/test_sms_webhook.py).

It checks the token, records each call, and answers trigger_intent the way Rasa does with
a collecting output channel: {"tracker": ..., "messages": [...]}.
"""
from __future__ import annotations

import asyncio
import secrets
import threading
from collections import Counter

from aiohttp import web

from bot.sms.local_twilio import FakeServer, ServerThread

GREETING = ("Hello. I'm the biopsy aftercare helper. I'll ask you a few questions about the "
            "biopsy site, then tell you what the hospital leaflets advise. I can't diagnose "
            "anything; if you think it's an emergency, call 999 now.")
QUESTION = "Is there any bleeding from the biopsy site?"


class FakeRasa(FakeServer):
    def __init__(self, token: str = "") -> None:
        self.token = token or secrets.token_hex(8)
        self.triggers: Counter = Counter()      # conversation id -> trigger_intent calls
        self.events: list[tuple[str, list]] = []
        self.intents: list[str] = []
        self.latency = 0.0
        self.on_trigger = None  # called with the conversation id, e.g. to race a STOP
        self._failures = 0
        self._lock = threading.Lock()
        app = web.Application()
        app.router.add_get("/conversations/{cid}/tracker", self._tracker)
        app.router.add_post("/conversations/{cid}/tracker/events", self._events)
        app.router.add_post("/conversations/{cid}/trigger_intent", self._trigger)
        self.server = ServerThread(app)


    def env(self) -> dict:
        return {"RASA_URL": self.url, "RASA_TOKEN": self.token}

    def fail_next(self, count: int) -> None:
        with self._lock:
            self._failures += count

    def _check(self, request: web.Request) -> web.Response | None:
        if request.query.get("token") != self.token:
            return web.json_response({"status": "failure", "reason": "NotAuthenticated"},
                                     status=401)
        with self._lock:
            if self._failures:
                self._failures -= 1
                return web.json_response({"status": "failure", "reason": "ConversationError"},
                                         status=500)
        return None

    async def _tracker(self, request: web.Request) -> web.Response:
        refused = self._check(request)
        if refused is not None:
            return refused
        return web.json_response({"sender_id": request.match_info["cid"], "slots": {}})

    async def _events(self, request: web.Request) -> web.Response:
        refused = self._check(request)
        if refused is not None:
            return refused
        events = await request.json()
        with self._lock:
            self.events.append((request.match_info["cid"], events))
        return web.json_response({"sender_id": request.match_info["cid"]})

    async def _trigger(self, request: web.Request) -> web.Response:
        refused = self._check(request)
        if refused is not None:
            return refused
        if self.latency:
            await asyncio.sleep(self.latency)
        cid = request.match_info["cid"]
        body = await request.json()
        if self.on_trigger is not None:
            await asyncio.to_thread(self.on_trigger, cid)
        with self._lock:
            self.triggers[cid] += 1
            self.intents.append(body.get("name"))
        child = any(e.get("name") == "patient_is_child" and e.get("value")
                    for c, evs in self.events if c == cid for e in evs)
        question = QUESTION.replace("the biopsy site", "your child's biopsy site") if child \
            else QUESTION
        buttons = [{"title": t, "payload": t} for t in ("Yes", "No", "Not sure")]
        return web.json_response({"tracker": {"sender_id": cid}, "messages": [
            {"recipient_id": cid, "text": GREETING},
            {"recipient_id": cid, "text": question, "buttons": buttons},
        ]})
