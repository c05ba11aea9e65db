"""The staff console against hostile input, over real HTTP: CSV cells whatever a client put
in a sender id or message, lock-out under parallel logins (SQLite and PostgreSQL, two
console processes on one database), `next=` with control characters, malformed POST
bodies, and no software version in the `Server` header.
"""
from __future__ import annotations

import csv
import io
import random
import re
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from types import SimpleNamespace
from urllib.parse import urlsplit

import pytest
import requests
from sqlalchemy import func, select

from bot.console import export
from bot.console.models import LoginAttempt, QueueEntry, Review, Staff
from bot.console.queue import QueueRow
from bot.storage.db import session
from tests.client import raw_head
from tests.console_seed import PASSWORD, csrf_of, login, make_staff, save_messages, save_outcome, unique

FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")
LOCKOUT_ATTEMPTS, IP_FAILURE_LIMIT = 5, 8


# --- CSV cells ------------------------------------------------------------------------
def queue_row(conversation_id: str, channel: str, note: str) -> QueueRow:
    now = datetime.now(timezone.utc)
    entry = QueueEntry(conversation_id=conversation_id, channel=channel, channel_group="other",
                       level="urgent", level_rank=3, first_at=now, last_at=now, outcome_count=1,
                       reviewed=True)
    return QueueRow(entry, Review(outcome="other", note=note, created_at=now), reviewer="nurse")


def any_text(rng: random.Random) -> str:
    """Text of every kind: controls, lone surrogates, line breaks, formula starts, emoji."""
    pieces = ["\x00", "\x1b", "\x7f", "\x85", "\r", "\n", "\r\n", "\t", "=", "+", "-", "@",
              "\ud800", "\udfff", "\u2028", "\ufeff", "😀", "é", '"', ",", "'", " ", "a"]
    out = []
    for _ in range(rng.randrange(12)):
        out.append(rng.choice(pieces) if rng.random() < 0.7 else chr(rng.randrange(0x110000)))
    return "".join(out)


def assert_safe_csv(text: str) -> list[list[str]]:
    """The rows under the header, each cell checked."""
    text.encode("utf-8")  # nothing a spreadsheet (or the HTTP body) cannot carry
    parsed = list(csv.reader(io.StringIO(text, newline="")))
    assert parsed[0] == export.HEADER and all(len(row) == len(export.HEADER) for row in parsed)
    for row in parsed[1:]:
        for cell in row:
            assert not cell.lstrip(" ").startswith(FORMULA_START), cell
            assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]", cell), cell
    return parsed[1:]


def test_csv_export_is_safe_whatever_the_text():
    rng = random.Random(2024)
    rows = [queue_row(any_text(rng), any_text(rng), any_text(rng)) for _ in range(3000)]
    text, n = export.to_csv(rows)
    assert n == 3000 and len(assert_safe_csv(text)) == 3000


def test_csv_cells_keep_plain_text_and_neutralise_the_rest():
    cell = export.safe_cell
    assert cell("abc-123 Spoke to mum, coming in") == "abc-123 Spoke to mum, coming in"
    assert cell("=HYPERLINK(\"x\")") == "'=HYPERLINK(\"x\")"
    assert cell("  =1+1") == "'  =1+1" and cell("\t=1") == "'\t=1"
    assert cell("\r=1").startswith("'") and cell("\n=1").startswith("'")
    assert cell("a\x00b") == "a\ufffdb" and cell("\ud800x") == "\ufffdx"
    assert cell("line 1\r\nline 2\rline 3") == "line 1\nline 2\nline 3"  # one kind of break
    assert cell("+44 7700 900123") == "'+44 7700 900123"


@pytest.fixture(scope="module")
def odd_conversations(live_console):
    """Conversations whose sender ids, channel and messages hold what a client may send."""
    tag = unique("odd")
    ids = SimpleNamespace(tag=tag, nul=f"{tag}-nul\x00x", esc=f"{tag}-esc\x1b[31m",
                          formula=f"=cmd|{tag}\r\nnext")
    for cid in (ids.nul, ids.esc, ids.formula):
        save_outcome(cid, "urgent", channel="rest\x00\x07")
    save_messages(ids.nul, [("patient", "bleeding \ud83d again \x00\x1b"), ("bot", "ok")])
    return ids


def test_export_survives_any_character_a_client_sent(live_console, odd_conversations):
    """A sender id with a NUL (SQLite stores it) made every export fail."""
    base, ids = live_console.url, odd_conversations
    web = login(base, make_staff("clinician"))
    token = csrf_of(web.get(base + "/queue").text)
    everything = web.post(base + "/export", data={"csrf_token": token})
    assert everything.status_code == 200
    rows = assert_safe_csv(everything.content.decode("utf-8"))
    assert [f"'=cmd|{ids.tag}\nnext"] == [r[0] for r in rows if "cmd|" + ids.tag in r[0]]
    mine = assert_safe_csv(web.post(base + "/export", data={"csrf_token": token, "q": ids.tag}
                                    ).content.decode("utf-8"))
    assert {r[0] for r in mine} == {f"{ids.tag}-nul\ufffdx", f"{ids.tag}-esc\ufffd[31m"}


def test_transcript_and_review_survive_any_character_a_client_sent(live_console,
                                                                     odd_conversations):
    """A lone surrogate in a patient message (Rasa keeps it JSON-escaped) cannot be encoded
    as UTF-8: the transcript page failed."""
    base, ids = live_console.url, odd_conversations
    web = login(base, make_staff("clinician"))
    page = web.get(base + "/conversation", params={"id": ids.nul})
    assert page.status_code == 200 and "bleeding \ufffd again" in page.text
    assert not re.search(r"[\x00\x07\x1b]", page.text)
    queue_page = web.get(base + "/queue", params={"q": ids.tag})
    assert queue_page.status_code == 200 and not re.search(r"[\x00\x07\x1b]", queue_page.text)
    # The review form carries the id intact, whatever its characters.
    hidden = re.search(r'name="conversation_id" value="([^"]*)"', page.text).group(1)
    reviewed = web.post(base + "/conversation/review", allow_redirects=False, data={
        "csrf_token": csrf_of(page.text), "conversation_id": hidden, "outcome": "no_action",
        "note": ""})
    assert reviewed.status_code == 303


# --- consoles of our own: SQLite and PostgreSQL, two processes each ----------------------
def migrate(url: str) -> None:
    from alembic import command
    from alembic.config import Config

    from bot.config import PROJECT_ROOT

    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    config.set_main_option("sqlalchemy.url", url)
    command.upgrade(config, "heads")


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def consoles(request, tmp_path_factory):
    """Two console processes on one database of their own, behind a 'proxy' (the tests set
    X-Forwarded-For, so each test has addresses of its own)."""
    from bot.stack import Stack, free_port

    folder = tmp_path_factory.mktemp(f"console-{request.param}")
    if request.param == "sqlite":
        url = f"sqlite:///{folder / 'console.db'}"
    else:
        url = request.getfixturevalue("postgres").create_database(
            f"console_{uuid.uuid4().hex[:8]}")
    migrate(url)
    env = {"DATABASE_URL": url, "CONSOLE_TRUST_PROXY": "true",
           "CONSOLE_LOCKOUT_ATTEMPTS": str(LOCKOUT_ATTEMPTS),
           "CONSOLE_IP_FAILURE_LIMIT": str(IP_FAILURE_LIMIT), "CONSOLE_SYNC_INTERVAL_SECONDS": "0"}
    stacks = [Stack(rasa_port=free_port(), action_port=free_port(), token="unused",
                    log_dir=folder / f"logs-{i}", env=env) for i in range(2)]
    try:
        urls = [stack.start_console(free_port()) for stack in stacks]
        yield SimpleNamespace(urls=urls, db=url)
    finally:
        for stack in stacks:
            stack.stop()


def parallel_logins(urls: list[str], attempts: list[tuple[str, str]], address: str) -> list[int]:
    """All at once (a barrier), spread over the console processes; the status codes."""
    prepared = []
    for i, (username, password) in enumerate(attempts):
        web, base = requests.Session(), urls[i % len(urls)]
        prepared.append((web, base, csrf_of(web.get(base + "/login").text), username, password))
    barrier = threading.Barrier(len(prepared))

    def attempt(item) -> int:
        web, base, token, username, password = item
        barrier.wait()
        return web.post(base + "/login", allow_redirects=False, timeout=60,
                        headers={"X-Forwarded-For": address},
                        data={"csrf_token": token, "username": username, "password": password}
                        ).status_code
    with ThreadPoolExecutor(len(prepared)) as pool:
        return list(pool.map(attempt, prepared))


def checked_passwords(db: str, **where) -> int:
    """Login attempts whose password was checked and found wrong."""
    with session(db) as s:
        query = select(func.count()).select_from(LoginAttempt).where(LoginAttempt.kind == "failure")
        for key, value in where.items():
            query = query.where(getattr(LoginAttempt, key) == value)
        return s.scalar(query)


def test_parallel_wrong_passwords_check_at_most_the_lockout_limit(consoles):
    name = make_staff("clinician", url=consoles.db)
    statuses = parallel_logins(consoles.urls, [(name, "wrong password!")] * (3 * LOCKOUT_ATTEMPTS),
                               address="192.0.2.10")
    assert checked_passwords(consoles.db, username=name) == LOCKOUT_ATTEMPTS
    assert set(statuses) <= {401, 429} and statuses.count(429) >= 2 * LOCKOUT_ATTEMPTS
    # and the right password now is refused too, from any process
    for base in consoles.urls:
        web = requests.Session()
        token = csrf_of(web.get(base + "/login").text)
        refused = web.post(base + "/login", headers={"X-Forwarded-For": "192.0.2.11"},
                           data={"csrf_token": token, "username": name, "password": PASSWORD})
        assert refused.status_code == 429 and "console_session" not in web.cookies


def test_parallel_logins_from_one_address_check_at_most_the_address_limit(consoles):
    names = [unique("nobody") for _ in range(2 * IP_FAILURE_LIMIT)]
    statuses = parallel_logins(consoles.urls, [(n, "guess") for n in names], address="192.0.2.20")
    assert checked_passwords(consoles.db, ip="192.0.2.20") == IP_FAILURE_LIMIT
    assert statuses.count(429) >= IP_FAILURE_LIMIT


def test_a_right_password_among_parallel_wrong_ones_logs_in_once(consoles):
    name = make_staff("clinician", url=consoles.db)
    attempts = [(name, "wrong password!")] * 3 + [(name, PASSWORD)]
    statuses = parallel_logins(consoles.urls, attempts, address="192.0.2.30")
    assert statuses.count(303) == 1 and checked_passwords(consoles.db, username=name) == 3


# --- next= ------------------------------------------------------------------------------
HOSTILE_NEXT = ["/queue\r\nSet-Cookie: planted=1", "/queue\nX: y", "/\t/evil.example/",
                "/\r/evil.example", "/queue\x00", "/queue\x7f", "/\x0b/evil.example"]


@pytest.mark.parametrize("target", HOSTILE_NEXT)
def test_next_with_control_characters_falls_back_to_the_overview(live_console, target):
    base = live_console.url
    name = make_staff("clinician")
    web = requests.Session()
    page = web.get(base + "/login", params={"next": target})
    assert page.status_code == 200 and 'name="next" value="/"' in page.text
    done = web.post(base + "/login", allow_redirects=False, data={
        "csrf_token": csrf_of(page.text), "username": name, "password": PASSWORD, "next": target})
    assert done.status_code == 303 and done.headers["Location"] == "/"
    assert "planted" not in web.cookies
    again = web.get(base + "/login", params={"next": target}, allow_redirects=False)
    assert again.status_code == 303 and again.headers["Location"] == "/"


def test_next_with_other_text_still_leads_there(live_console):
    base = live_console.url
    web = requests.Session()
    page = web.get(base + "/login")
    done = web.post(base + "/login", allow_redirects=False, data={
        "csrf_token": csrf_of(page.text), "username": make_staff("clinician"),
        "password": PASSWORD, "next": "/queue?q=José Ñ"})
    assert done.status_code == 303
    location = done.headers["Location"]
    assert location.isascii() and urlsplit(location).path == "/queue"
    assert web.get(base + location).status_code == 200


# --- malformed POST bodies ------------------------------------------------------------------
FORM = "application/x-www-form-urlencoded"
MALFORMED = {  # name: (content type, body with {token} for the form's CSRF token)
    "invalid UTF-8": (FORM, b"csrf_token={token}&username=\xff\xfe&password=x"),
    "unknown charset": (FORM + "; charset=no-such-charset", b"csrf_token={token}"),
    "JSON": ("application/json", b'{"csrf_token": "{token}"}'),
    "plain text": ("text/plain", b"csrf_token={token}"),
    "no content type": ("", b"csrf_token={token}"),
    "multipart without boundary": ("multipart/form-data", b"csrf_token={token}"),
    "broken multipart": ("multipart/form-data; boundary=zz", b"--zz\r\nnonsense"),
    "a file for a text field": (
        "multipart/form-data; boundary=zz",
        b'--zz\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n{token}\r\n'
        b'--zz\r\nContent-Disposition: form-data; name="username"; filename="a.txt"\r\n'
        b"Content-Type: text/plain\r\n\r\nnurse\r\n"
        b'--zz\r\nContent-Disposition: form-data; name="password"; filename="b.txt"\r\n'
        b"Content-Type: text/plain\r\n\r\nx\r\n--zz--\r\n"),
}
POST_ROUTES = ["/login", "/logout", "/export", "/conversation/review", "/account/password",
               "/admin/accounts", "/admin/accounts/{staff_id}"]


@pytest.fixture(scope="module")
def admin_on(consoles):
    name = make_staff("admin", url=consoles.db)
    web = login(consoles.urls[0], name)
    with session(consoles.db) as s:
        staff_id = s.scalar(select(Staff.id).where(Staff.username == name))
    return SimpleNamespace(web=web, base=consoles.urls[0], staff_id=staff_id, name=name)


def form_token(admin_on, route: str) -> tuple[requests.Session, str]:
    """The admin's browser and its CSRF token; a fresh, logged-out one for /login."""
    web = requests.Session() if route == "/login" else admin_on.web
    page = web.get(admin_on.base + ("/login" if route == "/login" else "/account"))
    return web, csrf_of(page.text)


def post_raw(admin_on, route: str, content_type: str, body: bytes) -> requests.Response:
    web, token = form_token(admin_on, route)
    prepared = web.prepare_request(requests.Request(
        "POST", admin_on.base + route.format(staff_id=admin_on.staff_id),
        data=body.replace(b"{token}", token.encode())))
    prepared.headers.pop("Content-Type", None)
    if content_type:
        prepared.headers["Content-Type"] = content_type
    return web.send(prepared, allow_redirects=False, timeout=30)


@pytest.mark.parametrize("route", POST_ROUTES)
@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_bodies_get_a_clear_400(admin_on, route, case):
    content_type, body = MALFORMED[case]
    response = post_raw(admin_on, route, content_type, body)
    assert response.status_code == 400, (response.status_code, response.text[:300])
    assert "The form could not be read" in response.text
    assert "Content-Security-Policy" in response.headers
    assert admin_on.web.get(admin_on.base + "/account").status_code == 200  # still logged in


MISSING = [("/login", {"username": "someone"}), ("/login", {"password": "x"}),
           ("/conversation/review", {"outcome": "no_action"}),
           ("/account/password", {"current": PASSWORD, "new": "a new long password"}),
           ("/admin/accounts", {"username": "new-person", "password": PASSWORD}),
           ("/admin/accounts/{staff_id}", {}),
           ("/admin/accounts/{staff_id}", {"action": "role"}),
           ("/admin/accounts/{staff_id}", {"action": "password"})]


@pytest.mark.parametrize("route, fields", MISSING)
def test_missing_fields_get_a_clear_400(admin_on, route, fields):
    web, token = form_token(admin_on, route)
    response = web.post(admin_on.base + route.format(staff_id=admin_on.staff_id),
                        allow_redirects=False, data={"csrf_token": token, **fields})
    assert response.status_code == 400, (response.status_code, response.text[:300])
    assert "is missing" in response.text


@pytest.mark.parametrize("route, fields", [
    ("/login", {"username": "nurse\x00jo", "password": "x"}),
    ("/conversation/review", {"conversation_id": "abc", "outcome": "other", "note": "a\x00b"}),
    ("/admin/accounts", {"username": "nurse\x1bjo", "password": PASSWORD, "role": "clinician",
                         "display_name": "Jo"}),
])
def test_control_characters_in_form_fields_get_a_clear_400(admin_on, route, fields):
    """PostgreSQL cannot store a NUL at all: it must never reach the database."""
    web, token = form_token(admin_on, route)
    response = web.post(admin_on.base + route, allow_redirects=False,
                        data={"csrf_token": token, **fields})
    assert response.status_code == 400, (response.status_code, response.text[:300])
    assert "cannot contain control characters" in response.text


def test_a_nul_in_a_query_or_conversation_id_is_no_error(admin_on):
    """(PostgreSQL cannot even compare with a NUL: such an id matches nothing.)"""
    base = admin_on.base
    web = login(base, admin_on.name)
    assert web.get(base + "/conversation", params={"id": "abc\x00"}).status_code == 404
    token = csrf_of(web.get(base + "/account").text)
    review = web.post(base + "/conversation/review", data={
        "csrf_token": token, "conversation_id": "abc%00", "outcome": "no_action", "note": ""})
    assert review.status_code == 404
    assert web.get(base + "/queue", params={"q": "abc\x00"}).status_code == 200
    assert web.get(base + "/admin/audit", params={"username": "x\x00"}).status_code == 200


# --- Server header ----------------------------------------------------------------------
def server_headers(head: bytes) -> list[str]:
    return [line.split(b":", 1)[1].decode().strip() for line in head.split(b"\r\n")[1:]
            if line.lower().startswith(b"server:")]


def assert_no_version(values: list[str]) -> None:
    for value in values:
        assert not re.search(r"\d", value) and "python" not in value.lower(), value


def test_console_names_no_software_version(live_console):
    base = live_console.url
    for response in (requests.get(base + "/login"), requests.get(base + "/healthz"),
                     requests.get(base + "/static/console.css"), requests.get(base + "/nope"),
                     requests.post(base + "/login", data={"csrf_token": "x"})):
        assert "Server" not in response.headers, response.headers["Server"]
    for bad in (b"GET /\x01 HTTP/1.1\r\nHost: x\r\n\r\n", b"NONSENSE\r\n\r\n",
                b"GET / HTTP/1.1\r\nBad Header\r\n\r\n"):
        head = raw_head(base, bad)
        assert head.startswith(b"HTTP/1.") and b" 400 " in head.split(b"\r\n")[0]
        assert_no_version(server_headers(head))
