"""A real SMTP server (aiosmtpd on a free port) and a real HTTP receiver for webhooks
(aiohttp), for the care-team alert tests."""
from __future__ import annotations

import asyncio
import email
import json
import threading
import time
from email import policy
from typing import Optional

from aiohttp import web
from aiosmtpd.controller import Controller

from bot.sms.local_twilio import ServerThread
from bot.stack import free_port


class Recorder:
    """aiosmtpd handler: keeps every message; can stall one mid-send (before the server
    has it, or after it has taken it but before it answers)."""

    def __init__(self) -> None:
        self.messages: list[bytes] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.stall_rcpt_at: Optional[int] = None     # stall the RCPT of message n (0-based)
        self.stall_after_data_at: Optional[int] = None
        self.stalled = threading.Event()
        self.release = threading.Event()
        self.logins: list[str] = []
        self.lock = threading.Lock()

    async def _wait_for_release(self) -> None:
        self.stalled.set()
        while not self.release.is_set():
            await asyncio.sleep(0.05)

    async def handle_RCPT(self, server, session, envelope, address, options):
        if self.stall_rcpt_at is not None and len(self.messages) == self.stall_rcpt_at:
            self.stall_rcpt_at = None
            await self._wait_for_release()
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.messages.append(envelope.content)
            self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
            count = len(self.messages)
        if self.stall_after_data_at is not None and count - 1 == self.stall_after_data_at:
            self.stall_after_data_at = None
            await self._wait_for_release()
        return "250 Message accepted"

    def parsed(self) -> list[email.message.EmailMessage]:
        return [email.message_from_bytes(raw, policy=policy.default) for raw in self.messages]

    def wait_for(self, count: int, timeout: float = 30) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if len(self.messages) >= count:
                return True
            time.sleep(0.05)
        return len(self.messages) >= count


class SmtpServer:
    def __init__(self, port: Optional[int] = None, **smtp_options) -> None:
        self.port = port or free_port()
        self.handler = Recorder()
        self.options = smtp_options
        self.controller: Optional[Controller] = None

    def start(self) -> SmtpServer:
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port,
                                     **self.options)
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller is not None:
            self.handler.release.set()
            self.controller.stop()
            self.controller = None


class WebhookReceiver:
    """Every POST kept (path, headers, JSON body); answers `status` (200 by default)."""

    def __init__(self) -> None:
        self.posts: list[dict] = []
        self.status = 200
        app = web.Application()
        app.router.add_post("/{name}", self._receive)
        self.server = ServerThread(app).start()

    async def _receive(self, request: web.Request) -> web.Response:
        raw = await request.read()
        self.posts.append({"path": request.path, "headers": dict(request.headers),
                           "raw": raw.decode(), "json": json.loads(raw)})
        return web.Response(status=self.status, text="ok")

    def url(self, name: str) -> str:
        return f"{self.server.url}/{name}"

    def stop(self) -> None:
        self.server.stop()


def use_smtp(env, server: SmtpServer, to: str = "ir-team@hospital.test",
             on_call: str = "") -> None:
    env.setenv("ALERT_SMTP_HOST", "127.0.0.1")
    env.setenv("ALERT_SMTP_PORT", str(server.port))
    env.setenv("ALERT_SMTP_STARTTLS", "false")
    env.setenv("ALERT_EMAIL_TO", to)
    if on_call:
        env.setenv("ALERT_EMAIL_ON_CALL", on_call)
