"""The web chat server over HTTP, without a browser: pages, headers, CORS, the proxy.

Most tests run the app in-process against a fake Rasa; the last one goes through
the real web server to the real bot (live).
"""
from __future__ import annotations

import asyncio
import re
from contextlib import asynccontextmanager

import pytest
import requests
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bot.config import settings
from bot.policy import FAILSAFE_LINE
from bot.stack import free_port
from bot.web.app import make_app
from bot.web.chat import MAX_MESSAGE_CHARS
from bot.web.settings import WebSettings, parse_origins
from tests.client import raw_head

HOSPITAL = "https://www.hospital.example"
QUESTION = [{"recipient_id": "abcdef123456", "text": "Is there any bleeding?",
             "buttons": [{"title": "Yes", "payload": "Yes"}]}]


class FakeRasa:
    """Answers the REST webhook with a set reply, and remembers what it was sent."""

    def __init__(self, reply=QUESTION, status: int = 200, delay: float = 0) -> None:
        self.reply, self.status, self.delay, self.received = reply, status, delay, []

    async def webhook(self, request: web.Request) -> web.Response:
        self.received.append(await request.json())
        await asyncio.sleep(self.delay)
        if isinstance(self.reply, str):
            return web.Response(text=self.reply, status=self.status)
        return web.json_response(self.reply, status=self.status)


@asynccontextmanager
async def chat_server(rasa: FakeRasa | None = None, rasa_timeout: float = 5):
    fake = web.Application()
    fake.router.add_post("/webhooks/rest/webhook", (rasa or FakeRasa()).webhook)
    async with TestServer(fake) as upstream:
        cfg = WebSettings(host="127.0.0.1", port=0, rasa_url=str(upstream.make_url("")).rstrip("/"),
                          rasa_timeout=rasa_timeout, allowed_origins=frozenset({HOSPITAL}))
        async with TestClient(TestServer(make_app(cfg, settings()))) as client:
            yield client


def run(coro):
    return asyncio.run(coro)


async def post_chat(client: TestClient, body=None, raw: str | None = None, headers=None):
    kwargs = {"data": raw} if raw is not None else {"json": body}
    response = await client.post("/api/chat", headers=headers, **kwargs)
    return response.status, await response.json(), response.headers


# --- pages and security headers -------------------------------------------------

@pytest.mark.parametrize("path, content_type", [
    ("/", "text/html"), ("/widget.js", "text/javascript"), ("/widget.css", "text/css")])
def test_page_and_widget_files_are_served_with_strict_headers(path, content_type):
    async def check():
        async with chat_server() as client:
            response = await client.get(path)
            assert response.status == 200 and response.content_type == content_type
            csp = response.headers["Content-Security-Policy"]
            assert "script-src 'self';" in csp and "default-src 'none'" in csp
            assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
            assert response.headers["X-Content-Type-Options"] == "nosniff"
            assert response.headers["Referrer-Policy"] == "no-referrer"
            again = await client.get(path, headers={"If-None-Match": response.headers["ETag"]})
            assert again.status == 304
    run(check())


def test_errors_carry_the_headers_too():
    async def check():
        async with chat_server() as client:
            for response in (await client.get("/nothing-here"), await client.get("/api/chat")):
                assert response.status in (404, 405)
                assert "Content-Security-Policy" in response.headers
    run(check())


def test_fail_safe_wording_has_one_source():
    async def check():
        async with chat_server() as client:
            widget = await (await client.get("/widget.js")).text()
            page = await (await client.get("/")).text()
            return widget, page
    widget, page = run(check())
    assert FAILSAFE_LINE in widget and "OFFLINE_DEFAULTS" not in widget
    assert FAILSAFE_LINE.replace("'", "&#x27;") in page


def test_widget_never_writes_html_and_loads_nothing_from_elsewhere():
    from bot.web.app import STATIC

    script = (STATIC / "widget.js").read_text()
    for unsafe in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(",
                   "new Function"):
        assert unsafe not in script
    page = (STATIC / "index.html").read_text()
    assert not re.search(r'(src|href)="(https?:)?//', page)
    assert "http" not in (STATIC / "widget.css").read_text()


def test_config_comes_from_the_settings():
    async def check():
        async with chat_server() as client:
            response = await client.get("/api/config")
            return await response.json(), response.headers
    body, headers = run(check())
    cfg = settings()
    assert body == {"department_name": cfg.department_name, "department_phone": cfg.department_phone,
                    "emergency_number": cfg.emergency_number, "urgent_number": cfg.urgent_number,
                    "retention_days": cfg.retention_days, "max_message_chars": MAX_MESSAGE_CHARS}
    assert headers["Cache-Control"] == "no-store"


def test_health():
    async def check():
        async with chat_server() as client:
            return (await client.get("/healthz")).status
    assert run(check()) == 200


# --- the proxy ------------------------------------------------------------------

def test_chat_forwards_the_turn_to_rasa_and_returns_its_answer():
    rasa = FakeRasa()

    async def check():
        async with chat_server(rasa) as client:
            return await post_chat(client, {"sender": "abcdef123456", "message": "  hi there "})
    status, body, headers = run(check())
    assert (status, body) == (200, QUESTION)
    [sent] = rasa.received
    assert re.fullmatch(r"[0-9a-f]{32}", sent.pop("message_id"))
    assert sent == {"sender": "abcdef123456", "message": "hi there", "retry": False}
    assert headers["Cache-Control"] == "no-store"


class FlakyRasa(FakeRasa):
    """Answers 502 (as nginx does when a replica died mid-turn) `failures` times first."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures

    async def webhook(self, request: web.Request) -> web.Response:
        if self.failures:
            self.failures -= 1
            self.received.append(await request.json())
            return web.Response(text="<html>502 Bad Gateway</html>", status=502)
        return await super().webhook(request)


def test_a_502_is_retried_once_with_the_same_message_id():
    rasa = FlakyRasa(failures=1)

    async def check():
        async with chat_server(rasa) as client:
            return await post_chat(client, {"sender": "abcdef123456", "message": "no"})
    status, body, _ = run(check())
    assert (status, body) == (200, QUESTION)
    first, retry = rasa.received
    assert retry["message_id"] == first["message_id"]
    assert (first["retry"], retry["retry"]) == (False, True)


def test_only_one_retry_then_the_fail_safe_line():
    rasa = FlakyRasa(failures=5)

    async def check():
        async with chat_server(rasa) as client:
            return await post_chat(client, {"sender": "abcdef123456", "message": "no"})
    status, body, _ = run(check())
    assert_failsafe(status, body)
    assert len(rasa.received) == 2


@pytest.mark.parametrize("body, raw, expected", [
    (None, "not json", "Send JSON"),
    (["a", "list"], None, "string 'sender'"),
    ({"message": "hi"}, None, "string 'sender'"),
    ({"sender": "abcdef123456", "message": 42}, None, "string 'message'"),
    ({"sender": "abcdef123456"}, None, "string 'message'"),
    ({"sender": "short", "message": "hi"}, None, "8 to 64"),
    ({"sender": "../../etc/passwd", "message": "hi"}, None, "8 to 64"),
    ({"sender": "abcdef123456", "message": "   "}, None, "type a message"),
    ({"sender": "abcdef123456", "message": "x" * (MAX_MESSAGE_CHARS + 1)}, None, "too long"),
])
def test_bad_input_gets_a_clear_400_and_never_reaches_rasa(body, raw, expected):
    rasa = FakeRasa()

    async def check():
        async with chat_server(rasa) as client:
            return await post_chat(client, body, raw)
    status, answer, _ = run(check())
    assert status == 400 and expected.lower() in answer["error"].lower()
    assert rasa.received == []


def test_a_huge_body_is_refused_before_it_is_read():
    async def check():
        async with chat_server() as client:
            return await post_chat(client, {"sender": "abcdef123456", "message": "x" * 50_000})
    status, answer, _ = run(check())
    assert status == 413 and "too long" in answer["error"]


def test_longest_allowed_message_goes_through():
    async def check():
        async with chat_server() as client:
            return await post_chat(client, {"sender": "abcdef123456", "message": "x" * MAX_MESSAGE_CHARS})
    assert run(check())[0] == 200


def assert_failsafe(status: int, body) -> None:
    assert status in (502, 503)
    assert body == [{"recipient_id": "abcdef123456", "text": FAILSAFE_LINE,
                     "custom": {"failsafe": True, "bot_unreachable": True}}]


def test_fail_safe_line_when_rasa_is_unreachable():
    closed_port = f"http://127.0.0.1:{free_port()}"

    async def check():
        cfg = WebSettings(host="127.0.0.1", port=0, rasa_url=closed_port, rasa_timeout=5,
                          allowed_origins=frozenset())
        async with TestClient(TestServer(make_app(cfg, settings()))) as client:
            return await post_chat(client, {"sender": "abcdef123456", "message": "hi"})
    status, body, _ = run(check())
    assert_failsafe(status, body)


@pytest.mark.parametrize("rasa", [
    FakeRasa(reply=[]), FakeRasa(reply="Internal Server Error", status=500),
    FakeRasa(reply="<html>not json</html>"), FakeRasa(reply={"not": "a list"}),
    FakeRasa(reply=["not a message"]), FakeRasa(reply=QUESTION, status=500),
], ids=["empty", "500", "html", "object", "strings", "error-status"])
def test_fail_safe_line_when_rasa_answers_nothing_usable(rasa):
    async def check():
        async with chat_server(rasa) as client:
            return await post_chat(client, {"sender": "abcdef123456", "message": "hi"})
    status, body, _ = run(check())
    assert_failsafe(status, body)


def test_fail_safe_line_when_rasa_is_too_slow():
    async def check():
        async with chat_server(FakeRasa(delay=3), rasa_timeout=0.5) as client:
            return await post_chat(client, {"sender": "abcdef123456", "message": "hi"})
    status, body, _ = run(check())
    assert_failsafe(status, body)


# --- CORS -----------------------------------------------------------------------

def test_allowed_origin_may_load_the_widget_and_chat():
    async def check():
        async with chat_server() as client:
            origin = {"Origin": HOSPITAL}
            preflight = await client.options("/api/chat", headers={
                **origin, "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type"})
            assert preflight.status == 204
            assert preflight.headers["Access-Control-Allow-Origin"] == HOSPITAL
            assert "content-type" in preflight.headers["Access-Control-Allow-Headers"].lower()
            status, body, headers = await post_chat(
                client, {"sender": "abcdef123456", "message": "hi"}, headers=origin)
            assert status == 200 and headers["Access-Control-Allow-Origin"] == HOSPITAL
            for path in ("/widget.js", "/widget.css", "/api/config"):
                response = await client.get(path, headers=origin)
                assert response.headers["Access-Control-Allow-Origin"] == HOSPITAL
                assert response.headers["Vary"] == "Origin"
    run(check())


@pytest.mark.parametrize("origin", ["https://evil.example", "null", "http://www.hospital.example"])
def test_other_origins_are_refused_and_never_reach_rasa(origin):
    rasa = FakeRasa()

    async def check():
        async with chat_server(rasa) as client:
            preflight = await client.options("/api/chat", headers={
                "Origin": origin, "Access-Control-Request-Method": "POST"})
            assert preflight.status == 403
            assert "Access-Control-Allow-Origin" not in preflight.headers
            status, body, headers = await post_chat(
                client, {"sender": "abcdef123456", "message": "hi"}, headers={"Origin": origin})
            assert status == 403 and "not allowed" in body["error"]
            assert "Access-Control-Allow-Origin" not in headers
            config = await client.get("/api/config", headers={"Origin": origin})
            assert "Access-Control-Allow-Origin" not in config.headers
    run(check())
    assert rasa.received == []


def test_same_origin_is_always_allowed():
    async def check():
        async with chat_server() as client:
            own = f"http://{client.server.host}:{client.server.port}"
            return await post_chat(client, {"sender": "abcdef123456", "message": "hi"},
                                   headers={"Origin": own})
    status, _, headers = run(check())
    assert status == 200 and "Access-Control-Allow-Origin" not in headers


def test_frames_only_on_allowed_origins():
    async def check():
        async with chat_server() as client:
            return (await client.get("/")).headers["Content-Security-Policy"]
    assert f"frame-ancestors 'self' {HOSPITAL}" in run(check())


def test_allowed_origins_are_written_the_way_browsers_send_them():
    assert parse_origins(" https://A.example:443/, http://b.example:8080/chat ,") == \
        {"https://a.example", "http://b.example:8080"}
    assert parse_origins("") == frozenset()
    with pytest.raises(ValueError):
        parse_origins("www.hospital.example")


def test_settings_default_to_a_local_server(monkeypatch):
    from bot.web.settings import web_settings

    for name in ("WEB_HOST", "WEB_PORT", "RASA_URL", "RASA_TIMEOUT_SECONDS", "ALLOWED_ORIGINS"):
        monkeypatch.setenv(name, "")
    assert web_settings() == WebSettings(host="127.0.0.1", port=8000, rasa_url="http://127.0.0.1:5005",
                                         rasa_timeout=30.0, allowed_origins=frozenset())
    monkeypatch.setenv("ALLOWED_ORIGINS", HOSPITAL)
    monkeypatch.setenv("RASA_URL", "http://rasa:5005/")
    assert web_settings().allowed_origins == {HOSPITAL}
    assert web_settings().rasa_url == "http://rasa:5005"


# --- no software version in the Server header ------------------------------------

def web_chat_app():
    cfg = WebSettings(host="127.0.0.1", port=0, rasa_url="http://127.0.0.1:9", rasa_timeout=1,
                      allowed_origins=frozenset({HOSPITAL}))
    return make_app(cfg, settings())


def discharge_api_app():
    from bot.sms.api import make_app as make_sms_api
    from bot.sms.settings import sms_settings

    return make_sms_api(sms_settings())


@pytest.mark.parametrize("make", [web_chat_app, discharge_api_app])
def test_our_servers_name_no_software_version(make):
    """The web chat and the SMS worker's discharge API (the staff console's own test is in
    tests/live/test_console_hardening.py)."""
    from bot.sms.local_twilio import ServerThread

    server = ServerThread(make()).start()
    try:
        for response in (requests.get(server.url + "/healthz"), requests.get(server.url + "/nope"),
                         requests.post(server.url + "/api/chat", data=b"{"),
                         requests.post(server.url + "/api/discharges", json={})):
            assert "Server" not in response.headers, response.headers["Server"]
        for bad in (b"GET /\x01 HTTP/1.1\r\nHost: x\r\n\r\n", b"NONSENSE\r\n\r\n"):
            head = raw_head(server.url, bad)
            assert b" 400 " in head.split(b"\r\n")[0]
            for line in head.split(b"\r\n")[1:]:
                if line.lower().startswith(b"server:"):
                    assert not re.search(rb"\d|python", line.lower()), line
    finally:
        server.stop()


# --- through the real servers ---------------------------------------------------

@pytest.mark.live
def test_the_real_bot_answers_through_the_proxy(live_web):
    response = requests.post(f"{live_web.url}/api/chat",
                             json={"sender": "web-proxy-0001", "message": "hi"}, timeout=60)
    assert response.status_code == 200
    messages = response.json()
    assert any("bleeding from the biopsy site" in m.get("text", "") for m in messages)
    assert [b["title"] for b in messages[-1]["buttons"]] == ["Yes, it's bleeding", "No bleeding",
                                                             "Not sure"]
