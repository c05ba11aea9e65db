"""A local stand-in for Twilio's Messages API: for tests, benchmarks, and trying the SMS
flow without a Twilio account (`SMS_LOCAL_TWILIO=true`, started by `make run`).

It answers like Twilio's REST API 2010-04-01 does (HTTP Basic auth with the account SID and
auth token; form-encoded POST; JSON message resources and Twilio-style errors), records
every request, and can be told to fail: the next N sends with a status, a number that is
permanently refused, a delay, or a message accepted but answered too late (the client
times out not knowing it was sent). A message sent with a StatusCallback gets Twilio's
signed callbacks: "sent", then "delivered" (or "undelivered", error 30003, for a number
marked `undeliverable`). Nothing it is given ever leaves the machine.

    with LocalTwilio() as twilio:           # a thread serving on 127.0.0.1:<free port>
        env = twilio.env()                  # TWILIO_* settings pointing at it
        ...
        twilio.messages_to("+447400123456")

`python -m bot.sms.local_twilio` serves it on SMS_LOCAL_TWILIO_PORT with the local
credentials of `bot.sms.settings`, shows every text it was given at `/` and prints each one.
"""
from __future__ import annotations

import asyncio
import base64
import html
import itertools
import secrets
import signal
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone
from email.utils import format_datetime
from typing import Any, Optional, cast

from aiohttp import web

API = "/2010-04-01/Accounts/{account}/Messages.json"


class ServerThread:
    """An aiohttp application on its own event loop in a daemon thread."""

    def __init__(self, app: web.Application, host: str = "127.0.0.1", port: int = 0) -> None:
        self.app, self.host, self.port = app, host, port
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._runner: Optional[web.AppRunner] = None

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)

        async def start() -> None:
            self._runner = web.AppRunner(self.app, access_log=None)
            await self._runner.setup()
            site = web.TCPSite(self._runner, self.host, self.port, backlog=1024)
            await site.start()
            # started: its server is asyncio's, which has sockets (AbstractServer's type has not)
            self.port = cast(asyncio.Server, site._server).sockets[0].getsockname()[1]

        self._loop.run_until_complete(start())
        self._ready.set()
        self._loop.run_forever()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> ServerThread:
        self._thread.start()
        self._ready.wait(10)
        return self

    def stop(self) -> None:
        async def cleanup() -> None:
            current = asyncio.current_task()
            for task in asyncio.all_tasks():
                if task is not current:
                    task.cancel()  # e.g. a request told to hang
            if self._runner:
                await self._runner.cleanup()

        if self._loop.is_running():
            asyncio.run_coroutine_threadsafe(cleanup(), self._loop).result(10)
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


def _rfc2822(when: datetime) -> str:
    return format_datetime(when, usegmt=True)


def _error(status: int, code: int, message: str) -> web.Response:
    return web.json_response({"code": code, "message": message, "status": status,
                              "more_info": f"https://www.twilio.com/docs/errors/{code}"},
                             status=status)


class FakeServer:
    """Start/stop and URL of a fake service served by `self.server` (a ServerThread)."""

    server: ServerThread

    def start(self):
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return self.server.url


class LocalTwilio(FakeServer):
    def __init__(self, account_sid: Optional[str] = None, auth_token: Optional[str] = None,
                 from_number: str = "+447400000001", port: int = 0,
                 echo: Optional[Callable[[dict], None]] = None) -> None:
        self.account_sid = account_sid or "AC" + secrets.token_hex(16)
        self.auth_token = auth_token or secrets.token_hex(16)
        self.from_number = from_number
        self.messages: list[dict] = []      # accepted messages, in order
        self.requests: list[dict] = []      # every POST to Messages.json, accepted or not
        self.latency = 0.0
        self.refused_numbers: dict[str, tuple[int, int, str]] = {}
        self.undeliverable: set[str] = set()
        self.callbacks: list[dict] = []     # status callbacks posted: url, params, HTTP status
        self._failures: list[tuple[int, int, str]] = []
        self._hangs: list[float] = []
        self._lock = threading.Lock()
        self._sids = itertools.count(1)
        self._echo = echo
        app = web.Application()
        app.router.add_post("/2010-04-01/Accounts/{account}/Messages.json", self._create)
        app.router.add_get("/2010-04-01/Accounts/{account}/Messages.json", self._list)
        app.router.add_get("/", self._inbox)
        self.server = ServerThread(app, port=port)

    # --- control from tests ----------------------------------------------------------

    def env(self) -> dict:
        return {"TWILIO_ACCOUNT_SID": self.account_sid, "TWILIO_AUTH_TOKEN": self.auth_token,
                "TWILIO_FROM_NUMBER": self.from_number, "TWILIO_API_BASE_URL": self.url}

    def fail_next(self, count: int, status: int = 500, code: int = 20500,
                  message: str = "Internal Server Error") -> None:
        with self._lock:
            self._failures.extend([(status, code, message)] * count)

    def accept_but_hang(self, count: int, seconds: float) -> None:
        """The next `count` messages are accepted, but answered only after `seconds`."""
        with self._lock:
            self._hangs.extend([seconds] * count)

    def refuse(self, number: str, status: int = 400, code: int = 21610,
               message: str = "Attempt to send to unsubscribed recipient") -> None:
        self.refused_numbers[number] = (status, code, message)

    def messages_to(self, number: str) -> list[dict]:
        with self._lock:
            return [m for m in self.messages if m["to"] == number]

    def bodies_to(self, number: str) -> list[str]:
        return [m["body"] for m in self.messages_to(number)]

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 30) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(0.05)
        return predicate()

    def wait_for_count(self, number: str, count: int, timeout: float = 30) -> list[str]:
        self.wait_for(lambda: len(self.messages_to(number)) >= count, timeout)
        return self.bodies_to(number)

    def clear(self) -> None:
        with self._lock:
            self.messages.clear()
            self.requests.clear()
            self.callbacks.clear()

    # --- the API -----------------------------------------------------------------------

    def _authorised(self, request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except Exception:
            return False
        return (user == self.account_sid and password == self.auth_token
                and request.match_info["account"] == self.account_sid)

    def _resource(self, sid: str, to: str, from_: str, body: str, when: datetime,
                  status: str) -> dict:
        uri = f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}.json"
        segments = 1 if len(body) <= 160 else -(-len(body) // 153)
        return {
            "account_sid": self.account_sid, "api_version": "2010-04-01", "body": body,
            "date_created": _rfc2822(when), "date_sent": _rfc2822(when),
            "date_updated": _rfc2822(when), "direction": "outbound-api", "error_code": None,
            "error_message": None, "from": from_, "messaging_service_sid": None,
            "num_media": "0", "num_segments": str(segments), "price": None,
            "price_unit": "USD", "sid": sid, "status": status, "to": to, "uri": uri,
            "subresource_uris": {"media": uri.replace(".json", "/Media.json")},
        }

    async def _create(self, request: web.Request) -> web.Response:
        form = await request.post()
        # the form's values as posted (Twilio's clients post text fields)
        record: dict[str, Any] = {
            "to": form.get("To"), "from": form.get("From"), "body": form.get("Body"),
            "status_callback": form.get("StatusCallback"), "at": datetime.now(timezone.utc)}
        with self._lock:
            self.requests.append(record)
            failure = self._failures.pop(0) if self._failures else None
            hang = self._hangs.pop(0) if self._hangs and failure is None else 0.0
        if self.latency:
            await asyncio.sleep(self.latency)
        if not self._authorised(request):
            return _error(401, 20003, "Authenticate")
        if failure:
            return _error(*failure)
        to, from_, body = record["to"], record["from"], record["body"]
        if not to:
            return _error(400, 21604, "A 'To' phone number is required.")
        if not from_:
            return _error(400, 21603, "A 'From' phone number is required.")
        if body is None or body == "":
            return _error(400, 21602, "Message body is required.")
        if len(body) > 1600:
            return _error(400, 21617, "The concatenated message body exceeds the 1600 "
                                      "character limit.")
        if not to.startswith("+") or not to[1:].isdigit() or not 8 <= len(to) <= 16:
            return _error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        if to in self.refused_numbers:
            return _error(*self.refused_numbers[to])
        sid = "SM" + secrets.token_hex(16)
        resource = self._resource(sid, to, from_, body, record["at"], "queued")
        with self._lock:
            self.messages.append({**record, "sid": sid, "resource": resource})
        if self._echo:
            self._echo(record)
        if record["status_callback"]:
            asyncio.get_running_loop().create_task(self._report(record["status_callback"], sid, to))
        if hang:
            await asyncio.sleep(hang)
        return web.json_response(resource, status=201)

    async def _report(self, url: str, sid: str, to: str) -> None:
        """What Twilio posts to a message's StatusCallback, signed with the auth token."""
        from aiohttp import ClientSession
        from twilio.request_validator import RequestValidator

        final = ("undelivered", "30003") if to in self.undeliverable else ("delivered", "")
        async with ClientSession() as http:
            for state, error in (("sent", ""), final):
                await asyncio.sleep(0.05)
                params = {"AccountSid": self.account_sid, "ApiVersion": "2010-04-01",
                          "From": self.from_number, "MessageSid": sid, "SmsSid": sid,
                          "MessageStatus": state, "SmsStatus": state, "To": to}
                if error:
                    params["ErrorCode"] = error
                signature = RequestValidator(self.auth_token).compute_signature(url, params)
                try:
                    async with http.post(url, data=params,
                                         headers={"X-Twilio-Signature": signature}) as answer:
                        status = answer.status
                except Exception:
                    status = 0
                with self._lock:
                    self.callbacks.append({"url": url, "params": params, "status": status})

    async def _list(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return _error(401, 20003, "Authenticate")
        query = request.query
        to, from_ = query.get("To"), query.get("From")
        after = query.get("DateSent>")
        since = None
        if after:
            since = datetime.fromisoformat(after.replace("Z", "+00:00"))
            if since.tzinfo is None:
                since = since.replace(tzinfo=timezone.utc)
        page_size = int(query.get("PageSize", "50"))
        with self._lock:
            found = [m["resource"] for m in reversed(self.messages)
                     if (not to or m["to"] == to) and (not from_ or m["from"] == from_)
                     and (since is None or m["at"] >= since)]
        page = found[:page_size]
        uri = API.format(account=self.account_sid)
        return web.json_response({
            "messages": page, "start": 0, "end": max(0, len(page) - 1), "page": 0,
            "page_size": page_size, "uri": uri, "first_page_uri": uri,
            "next_page_uri": None, "previous_page_uri": None,
        })

    async def _inbox(self, _: web.Request) -> web.Response:
        """Every text the bot sent, newest first: what a patient's phone would show."""
        with self._lock:
            sent = list(reversed(self.messages))
        rows = "".join(
            f"<tr><td>{m['at']:%H:%M:%S}</td><td>{html.escape(m['to'] or '')}</td>"
            f"<td><pre>{html.escape(m['body'] or '')}</pre></td></tr>" for m in sent)
        page = (
            "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
            "<meta http-equiv='refresh' content='3'><title>Local texts</title><style>"
            "body{font-family:sans-serif;margin:2em}td{vertical-align:top;padding:.4em;"
            "border-bottom:1px solid #ccc}pre{white-space:pre-wrap;margin:0;font:inherit}"
            "</style></head><body><h1>Texts the bot sent (local stand-in for Twilio)</h1>"
            "<p>Nothing here leaves this machine. Reply as a patient with: "
            "<code>.venv/bin/python -m bot.sms.cli text --from NUMBER \"your reply\"</code></p>"
            f"<table><tr><th>time</th><th>to</th><th>text</th></tr>{rows}</table>"
            "</body></html>")
        return web.Response(text=page, content_type="text/html")


def main() -> None:
    from bot.sms.settings import LOCAL_TWILIO, sms_settings

    cfg = sms_settings()

    def echo(record: dict) -> None:
        print(f"--- text to {record['to']} at {record['at']:%H:%M:%S} ---\n{record['body']}\n",
              flush=True)

    twilio = LocalTwilio(account_sid=LOCAL_TWILIO["account_sid"],
                         auth_token=LOCAL_TWILIO["auth_token"],
                         from_number=LOCAL_TWILIO["from_number"], port=cfg.local_twilio_port,
                         echo=echo).start()
    print(f"Local stand-in for Twilio on {twilio.url} (texts at {twilio.url}/)", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    twilio.stop()


if __name__ == "__main__":
    main()
