"""The staff console over HTTP: every page and permission, against the real server
(`python -m bot.console`, fixture `live_console`) on the test database, with `requests`.
A few cookie-flag checks run the app in-process (aiohttp's test client) to switch HTTPS on.
"""
from __future__ import annotations

import asyncio
import csv
import html
import io
import random
import re
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select, text

from bot.config import PROJECT_ROOT
from bot.console.models import AuditEntry
from bot.storage.db import session
from tests.console_seed import (
    PASSWORD,
    XSS,
    csrf_of,
    login,
    make_staff,
    random_mobile,
    save_discharge,
    save_messages,
    save_outcome,
    save_sms_events,
    save_text_in,
    save_text_out,
    unique,
)

GET_PAGES = ["/", "/queue", "/queue?q=anything", "/conversation?id=x", "/account",
             "/admin/accounts", "/admin/audit"]
POST_PAGES = ["/logout", "/export", "/conversation/review", "/account/password",
              "/admin/accounts", "/admin/accounts/1"]


@pytest.fixture(scope="module")
def base(live_console):
    return live_console.url


@pytest.fixture(scope="module")
def clinician(base):
    name = make_staff("clinician")
    return name, login(base, name)


@pytest.fixture(scope="module")
def admin(base):
    name = make_staff("admin")
    return name, login(base, name)


def audit_rows(action: str, **where) -> list[AuditEntry]:
    with session() as s:
        query = select(AuditEntry).where(AuditEntry.action == action)
        for key, value in where.items():
            query = query.where(getattr(AuditEntry, key) == value)
        return list(s.scalars(query.order_by(AuditEntry.id)))


def listed(page: str, conversation_id: str) -> bool:
    """Whether the queue page lists this conversation (not just echoes the search box)."""
    return f'class="cid">{conversation_id}</a>' in page


def seeded_conversation(level: str = "contact_team", channel: str = "rest",
                        patient_text: str = "my hip is bleeding again") -> str:
    cid = unique("http")
    save_messages(cid, [("patient", patient_text), ("bot", "Is the bleeding still going on?"),
                        ("patient", "yes"), ("bot", "Please call the team today.")],
                  channel=channel, buttons=["Yes", "No"])
    save_outcome(cid, level, channel=channel)
    return cid


# --- nothing without login -------------------------------------------------------------
@pytest.mark.parametrize("path", GET_PAGES)
def test_every_page_redirects_to_login_when_logged_out(base, path):
    response = requests.get(base + path, allow_redirects=False)
    assert response.status_code == 303
    location = urlsplit(response.headers["Location"])
    assert location.path == "/login"
    assert parse_qs(location.query)["next"] == [path]


@pytest.mark.parametrize("path", POST_PAGES)
def test_every_post_redirects_to_login_when_logged_out(base, path):
    response = requests.post(base + path, data={"csrf_token": "x"}, allow_redirects=False)
    assert response.status_code == 303
    assert urlsplit(response.headers["Location"]).path == "/login"


def test_no_patient_text_without_login(base):
    cid = seeded_conversation(patient_text="secret symptom words")
    for path in (f"/conversation?id={cid}", f"/queue?q={cid}", "/"):
        response = requests.get(base + path)  # follows the redirect to the login page
        assert response.url.startswith(base + "/login")
        assert "secret symptom words" not in response.text  # (the id is only in ?next=)


def test_health_and_stylesheet_are_public(base):
    assert requests.get(base + "/healthz").json() == {"status": "ok"}
    css = requests.get(base + "/static/console.css")
    assert css.status_code == 200 and css.headers["Content-Type"].startswith("text/css")


# --- login, cookies, headers, logout -----------------------------------------------------
def test_login_page_headers_and_cookie_flags(base):
    response = requests.get(base + "/login")
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "script-src" not in csp and "frame-ancestors 'none'" in csp
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Cache-Control"] == "no-store"
    assert "<script" not in response.text
    name = make_staff("clinician")
    token = csrf_of(response.text)
    login_response = requests.post(base + "/login", cookies=response.cookies, allow_redirects=False,
                                   data={"csrf_token": token, "username": name, "password": PASSWORD})
    cookies = login_response.raw.headers.getlist("Set-Cookie")
    session_cookie = [c for c in cookies if c.startswith("console_session=")][0]
    assert "HttpOnly" in session_cookie and "SameSite=Strict" in session_cookie
    assert "Secure" not in session_cookie  # plain http here; see the HTTPS test below
    assert audit_rows("login", username=name)


def test_secure_cookie_and_hsts_over_https(migrated_db):
    from bot.console.app import make_app
    from bot.console.settings import ConsoleSettings

    async def scenario():
        name = await asyncio.to_thread(make_staff, "clinician")
        app = make_app(ConsoleSettings(secure_cookies="auto", trust_proxy=True,
                                       sync_interval_seconds=0))
        async with TestClient(TestServer(app)) as client:
            https = {"X-Forwarded-Proto": "https"}
            page = await client.get("/login", headers=https)
            assert "Secure" in page.headers["Set-Cookie"]
            assert page.headers["Strict-Transport-Security"].startswith("max-age=")
            token = csrf_of(await page.text())
            # (the test client itself keeps Secure cookies from a plain-http server to itself)
            done = await client.post("/login", allow_redirects=False, headers={
                **https, "Cookie": f"console_login_csrf={token}"}, data={
                "csrf_token": token, "username": name, "password": PASSWORD})
            assert done.status == 303
            cookies = done.headers.getall("Set-Cookie")
            session_cookie = [c for c in cookies if c.startswith("console_session=")][0]
            assert "Secure" in session_cookie and "HttpOnly" in session_cookie
            assert "SameSite=Strict" in session_cookie
    asyncio.run(scenario())


def test_wrong_password_is_refused_and_audited(base):
    name = make_staff("clinician")
    web = requests.Session()
    token = csrf_of(web.get(base + "/login").text)
    response = web.post(base + "/login", data={"csrf_token": token, "username": name,
                                               "password": "not the password"})
    assert response.status_code == 401 and "Wrong username or password" in response.text
    assert "console_session" not in web.cookies
    assert audit_rows("login_failed", username=name)


def test_logout_ends_the_session_on_the_server(base):
    name = make_staff("clinician")
    web = login(base, name)
    old_token = web.cookies["console_session"]
    assert web.get(base + "/queue").status_code == 200
    token = csrf_of(web.get(base + "/queue").text)
    response = web.post(base + "/logout", data={"csrf_token": token}, allow_redirects=False)
    assert response.status_code == 303 and response.headers["Location"].startswith("/login")
    replay = requests.get(base + "/queue", cookies={"console_session": old_token},
                          allow_redirects=False)
    assert replay.status_code == 303  # the old cookie is worthless now
    assert audit_rows("logout", username=name)


def test_login_never_redirects_off_site(base):
    name = make_staff("clinician")
    web = requests.Session()
    token = csrf_of(web.get(base + "/login?next=//evil.example/x").text)
    for target in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
        response = web.post(base + "/login", allow_redirects=False, data={
            "csrf_token": token, "username": name, "password": PASSWORD, "next": target})
        assert response.headers["Location"] == "/"
        web = requests.Session()
        token = csrf_of(web.get(base + "/login").text)


def test_a_failed_login_keeps_where_the_nurse_was_going(base):
    name = make_staff("clinician")
    web = requests.Session()
    page = web.get(base + "/queue?level=urgent").text  # redirected to the login page
    failed = web.post(base + "/login", data={"csrf_token": csrf_of(page), "username": name,
                                             "password": "wrong", "next": "/queue?level=urgent"})
    assert failed.status_code == 401
    done = web.post(base + "/login", allow_redirects=False, data={
        "csrf_token": csrf_of(failed.text), "username": name, "password": PASSWORD,
        "next": re.search(r'name="next" value="([^"]+)"', failed.text).group(1).replace("&amp;", "&")})
    assert done.headers["Location"] == "/queue?level=urgent"


def test_lockout_after_repeated_failures(base, admin):
    from bot.console.settings import console_settings

    attempts = console_settings().lockout_attempts
    name = make_staff("clinician")
    web = requests.Session()
    token = csrf_of(web.get(base + "/login").text)

    def try_login(password):
        return web.post(base + "/login", data={"csrf_token": token, "username": name,
                                               "password": password})
    for _ in range(attempts - 1):
        assert try_login("wrong password!").status_code == 401
    assert try_login("wrong password!").status_code == 429  # that one locked it
    locked = try_login(PASSWORD)  # the right password, but too late
    assert locked.status_code == 429 and "Too many failed attempts" in locked.text
    assert "console_session" not in web.cookies
    assert audit_rows("login_locked", username=name)
    # An unknown username locks the same way (the answer tells nothing about accounts).
    ghost = unique("nobody")
    for _ in range(attempts):
        web.post(base + "/login", data={"csrf_token": token, "username": ghost, "password": "x"})
    assert web.post(base + "/login", data={"csrf_token": token, "username": ghost,
                                           "password": "x"}).status_code == 429
    # An admin lifts the lock.
    _, admin_web = admin
    page = admin_web.get(base + "/admin/accounts").text
    staff_id = _account_id(page, name)
    response = admin_web.post(f"{base}/admin/accounts/{staff_id}", allow_redirects=False,
                              data={"csrf_token": csrf_of(page), "action": "unlock"})
    assert response.status_code == 303
    assert try_login(PASSWORD).status_code == 200  # logged in, followed to the overview
    assert "console_session" in web.cookies


# --- CSRF ------------------------------------------------------------------------------
def test_posts_without_csrf_token_are_rejected(base, clinician):
    _, web = clinician
    cid = seeded_conversation()
    for data in ({}, {"csrf_token": "forged"}):
        response = web.post(base + "/conversation/review", allow_redirects=False,
                            data={"conversation_id": cid, "outcome": "no_action", **data})
        assert response.status_code == 403
        response = web.post(base + "/export", data=data, allow_redirects=False)
        assert response.status_code == 403
        response = web.post(base + "/logout", data=data, allow_redirects=False)
        assert response.status_code == 403
    assert not audit_rows("review", target=cid)
    assert web.get(base + "/queue").status_code == 200  # still logged in


def test_post_from_another_origin_is_rejected_even_with_token(base, clinician):
    _, web = clinician
    cid = seeded_conversation()
    token = csrf_of(web.get(base + "/queue").text)
    response = web.post(base + "/conversation/review", allow_redirects=False,
                        headers={"Origin": "https://evil.example"},
                        data={"csrf_token": token, "conversation_id": cid, "outcome": "no_action"})
    assert response.status_code == 403


def test_login_without_csrf_is_rejected(base):
    name = make_staff("clinician")
    response = requests.post(base + "/login", allow_redirects=False,
                             data={"username": name, "password": PASSWORD})
    assert response.status_code == 403
    assert not audit_rows("login", username=name)


# --- roles -----------------------------------------------------------------------------
def test_clinician_cannot_manage_accounts_or_see_the_audit_trail(base, clinician):
    _, web = clinician
    assert web.get(base + "/admin/accounts").status_code == 403
    assert web.get(base + "/admin/audit").status_code == 403
    token = csrf_of(web.get(base + "/queue").text)
    newcomer = unique("made-by-clinician")
    response = web.post(base + "/admin/accounts", allow_redirects=False, data={
        "csrf_token": token, "username": newcomer, "password": PASSWORD, "role": "admin"})
    assert response.status_code == 403
    response = web.post(base + "/admin/accounts/1", allow_redirects=False,
                        data={"csrf_token": token, "action": "disable"})
    assert response.status_code == 403
    assert not audit_rows("account_create", target=newcomer)
    page = web.get(base + "/queue").text
    assert "/admin/accounts" not in page  # not even the link


def _account_id(page: str, username: str) -> int:
    row = page.split(f"<code>{username}</code>", 1)[1]
    return int(re.search(r'action="/admin/accounts/(\d+)"', row).group(1))


def test_admin_manages_accounts(base, admin):
    admin_name, web = admin
    page = web.get(base + "/admin/accounts")
    assert page.status_code == 200
    token = csrf_of(page.text)
    name = unique("nurse")
    response = web.post(base + "/admin/accounts", allow_redirects=False, data={
        "csrf_token": token, "username": name, "display_name": "Nurse <b>Jo</b>",
        "role": "clinician", "password": PASSWORD})
    assert response.status_code == 303
    page = web.get(base + "/admin/accounts").text
    assert "Nurse &lt;b&gt;Jo&lt;/b&gt;" in page
    assert audit_rows("account_create", target=name)
    nurse = login(base, name)
    staff_id = _account_id(page, name)
    # Too short a password is refused with a reason.
    short = web.post(f"{base}/admin/accounts/{staff_id}", data={
        "csrf_token": token, "action": "password", "password": "short"})
    assert short.status_code == 400 and "at least" in short.text
    # Disabling ends their session at once.
    assert web.post(f"{base}/admin/accounts/{staff_id}", allow_redirects=False,
                    data={"csrf_token": token, "action": "disable"}).status_code == 303
    assert nurse.get(base + "/queue", allow_redirects=False).status_code == 303
    enable = web.post(f"{base}/admin/accounts/{staff_id}", allow_redirects=False,
                      data={"csrf_token": token, "action": "enable"})
    assert enable.status_code == 303
    promote = web.post(f"{base}/admin/accounts/{staff_id}", allow_redirects=False,
                       data={"csrf_token": token, "action": "role", "role": "admin"})
    assert promote.status_code == 303
    assert login(base, name).get(base + "/admin/accounts").status_code == 200
    # An admin cannot lock themselves out.
    own_id = _account_id(page, admin_name)
    refused = web.post(f"{base}/admin/accounts/{own_id}", data={"csrf_token": token,
                                                                "action": "disable"})
    assert refused.status_code == 400 and "your own account" in refused.text


def test_change_own_password(base):
    name = make_staff("clinician")
    web = login(base, name)
    token = csrf_of(web.get(base + "/account").text)
    wrong = web.post(base + "/account/password", data={
        "csrf_token": token, "current": "nope", "new": "another long password", "again": "another long password"})
    assert wrong.status_code == 400
    done = web.post(base + "/account/password", allow_redirects=False, data={
        "csrf_token": token, "current": PASSWORD, "new": "another long password",
        "again": "another long password"})
    assert done.status_code == 303
    assert web.get(base + "/account").status_code == 200  # a fresh session for this browser
    login(base, name, "another long password")
    assert audit_rows("password_change", username=name)


# --- queue, transcript, review, export, overview --------------------------------------------
def test_queue_order_and_filters(base, clinician):
    _, web = clinician
    tag = unique("order")
    now = datetime.now(timezone.utc)
    ids = {}
    for i, (level, channel) in enumerate([("self_care", "rest"), ("emergency", "sms"),
                                          ("contact_team", "rest"), ("urgent", "rest")]):
        ids[level] = f"{tag}-{level}"
        save_outcome(ids[level], level, channel=channel, at=now - timedelta(minutes=10 - i))
    save_messages(f"{tag}-none", [("patient", "hello")])  # no advice given
    page = web.get(base + "/queue", params={"q": tag}).text
    order = [level for level in ("emergency", "urgent", "contact_team", "none", "self_care")
             if f"{tag}-{level}" in page]
    positions = [page.index(f"{tag}-{level}\"") for level in order]
    assert order == ["emergency", "urgent", "contact_team", "none", "self_care"]
    assert positions == sorted(positions)
    only_sms = web.get(base + "/queue", params={"q": tag, "channel": "sms"}).text
    assert listed(only_sms, ids["emergency"]) and not listed(only_sms, ids["urgent"])
    urgent = web.get(base + "/queue", params=[("q", tag), ("level", "urgent"),
                                              ("level", "contact_team")]).text
    assert listed(urgent, ids["urgent"]) and listed(urgent, ids["contact_team"])
    assert not listed(urgent, ids["emergency"])
    future = (now + timedelta(days=3)).date().isoformat()
    later = web.get(base + "/queue", params={"q": tag, "from": future}).text
    assert not any(listed(later, cid) for cid in ids.values())
    today = web.get(base + "/queue", params={"q": tag, "from": (now - timedelta(days=1)).date().isoformat(),
                                               "to": (now + timedelta(days=1)).date().isoformat()}).text
    assert listed(today, ids["self_care"])
    unreviewed = web.get(base + "/queue", params={"q": tag, "reviewed": "yes"}).text
    assert not any(listed(unreviewed, cid) for cid in ids.values())


def test_queue_pages_with_a_cursor(base, clinician):
    _, web = clinician
    # More emergencies than fit on one page, newest on top of the queue.
    from bot.console.settings import console_settings
    size = console_settings().page_size
    tag = unique("pages")
    start = datetime.now(timezone.utc) + timedelta(days=1)  # newer than anything else
    for i in range(size + 5):
        save_outcome(f"{tag}-{i:03d}", "emergency", at=start + timedelta(seconds=i))
    first = web.get(base + "/queue", params={"level": "emergency", "reviewed": "no"}).text
    assert f"{tag}-{size + 4:03d}" in first and f"{tag}-004\"" not in first
    next_url = re.search(r'href="(/queue\?[^"]*after=[^"]+)" rel="next"', first).group(1)
    second = web.get(base + next_url.replace("&amp;", "&")).text
    assert f"{tag}-004\"" in second and f"{tag}-{size + 4:03d}" not in second
    assert web.get(base + "/queue", params={"after": "garbage"}).status_code == 200
    assert web.get(base + "/queue", params={"after": "0.9.99.1"}).status_code == 200


def test_search_by_phone_number(base, clinician):
    _, web = clinician
    cid = f"+447700{random.randrange(10 ** 6):06d}"  # an SMS conversation named by its number
    save_outcome(cid, "urgent", channel="sms")
    national = "0" + cid[3:]  # 07700 123456, as a nurse would type it
    page = web.get(base + "/queue", params={"q": national[:5] + " " + national[5:]}).text
    assert listed(page, cid)


def test_transcript_escapes_patient_text_and_is_audited(base, clinician):
    name, web = clinician
    cid = seeded_conversation(patient_text=f"my hip {XSS} is bleeding")
    response = web.get(base + "/conversation", params={"id": cid})
    assert response.status_code == 200
    assert XSS not in response.text
    assert "my hip &lt;img src=x onerror=alert(1)&gt; is bleeding" in response.text
    assert "Is the bleeding still going on?" in response.text  # the bot's side too
    assert "bleeding.continued" in response.text and "bleeding_continued" in response.text
    assert "RadiologyInfo (ACR/RSNA) bone biopsy leaflet" in response.text  # leaflet sources
    assert "Policy version" in response.text
    views = audit_rows("view_transcript", target=cid)
    assert len(views) == 1 and views[0].username == name
    assert web.get(base + "/conversation", params={"id": unique("missing")}).status_code == 404


def test_parallel_first_views_of_a_new_conversation_all_load(base, clinician):
    """Several nurses open a conversation the queue has not listed yet, while the
    background sync lists it: each request adds the queue row, only one can."""
    from concurrent.futures import ThreadPoolExecutor

    _, web = clinician
    for _ in range(3):
        cid = seeded_conversation(level="emergency")
        with ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(lambda _: web.get(base + "/conversation",
                                                       params={"id": cid}).status_code, range(8)))
        assert statuses == [200] * 8


def test_review_records_who_and_when_and_leaves_the_conversation_alone(base, clinician):
    name, web = clinician
    cid = seeded_conversation(level="urgent")
    with session() as s:
        before = s.execute(text("SELECT count(*) FROM events WHERE sender_id = :c"), {"c": cid}).scalar(), \
            s.execute(text("SELECT count(*), max(id) FROM triage_outcomes WHERE conversation_id = :c"),
                      {"c": cid}).one()
    page = web.get(base + "/conversation", params={"id": cid}).text
    token = csrf_of(page)
    refused = web.post(base + "/conversation/review", data={
        "csrf_token": token, "conversation_id": cid, "outcome": "other", "note": ""})
    assert refused.status_code == 400 and "Add a note" in refused.text
    done = web.post(base + "/conversation/review", allow_redirects=False, data={
        "csrf_token": token, "conversation_id": cid, "outcome": "called_back",
        "note": "Spoke to <b>mum</b>, coming in"})
    assert done.status_code == 303
    page = web.get(base + done.headers["Location"]).text
    assert "Review saved" in page and "Called back" in page and name in page
    assert "Spoke to &lt;b&gt;mum&lt;/b&gt;, coming in" in page
    queue_page = web.get(base + "/queue", params={"q": cid}).text
    assert "Reviewed" in queue_page and "Not reviewed" not in queue_page.split(cid)[1]
    assert not listed(web.get(base + "/queue", params={"q": cid, "reviewed": "no"}).text, cid)
    with session() as s:
        after = s.execute(text("SELECT count(*) FROM events WHERE sender_id = :c"), {"c": cid}).scalar(), \
            s.execute(text("SELECT count(*), max(id) FROM triage_outcomes WHERE conversation_id = :c"),
                      {"c": cid}).one()
    assert after == before
    assert audit_rows("review", target=cid)[0].detail["outcome"] == "called_back"
    # New advice after the review puts the conversation back in the queue.
    save_outcome(cid, "emergency")
    assert listed(web.get(base + "/queue", params={"q": cid, "reviewed": "no"}).text, cid)


def test_export_is_the_filtered_list_and_is_audited(base, clinician):
    name, web = clinician
    tag = unique("export")
    save_outcome(f"{tag}-a", "urgent", channel="sms")
    save_outcome(f"{tag}-b", "self_care")
    save_outcome(f"=cmd|{tag}", "urgent")  # a spreadsheet formula must not run
    token = csrf_of(web.get(base + "/queue").text)
    before = len(audit_rows("export", username=name))
    response = web.post(base + "/export", data={"csrf_token": token, "q": tag, "level": "urgent"})
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/csv")
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [r["conversation_id"] for r in rows] == [f"{tag}-a"]
    assert rows[0]["level"] == "Urgent" and rows[0]["channel"] == "SMS"
    formula = web.post(base + "/export", data={"csrf_token": token, "q": "=cmd|"}).text
    assert f"'=cmd|{tag}" in formula
    exports = audit_rows("export", username=name)
    assert len(exports) == before + 2
    assert exports[before].detail["rows"] == 1
    assert exports[before].detail["filters"] == {"level": ["urgent"], "q": tag}


def test_overview_chart_and_waiting_count(base, clinician):
    _, web = clinician
    seeded_conversation(level="emergency")
    for _ in range(3):  # other suites' live bots may add a conversation in between
        page = web.get(base + "/").text
        with session() as s:
            waiting = s.execute(text(
                "SELECT count(*) FROM console_conversations WHERE reviewed = 0")).scalar()
        if f'<span class="big" id="waiting-count">{waiting}</span>' in page:
            break
    else:
        pytest.fail(f"the overview does not show {waiting} waiting")
    assert "<svg" in page and "<rect" in page and "waiting for review" in page


def test_audit_trail_is_for_admins_and_lists_actions(base, admin, clinician):
    clinician_name, clinician_web = clinician
    cid = seeded_conversation()
    clinician_web.get(base + "/conversation", params={"id": cid})
    _, web = admin
    page = web.get(base + "/admin/audit", params={"username": clinician_name}).text
    assert "Viewed a transcript" in page and cid in page
    only = web.get(base + "/admin/audit", params={"action": "login"}).text
    assert "Logged in" in only and "Viewed a transcript</td>" not in only


def test_audit_and_reviews_are_append_only_in_the_database(migrated_db):
    with session() as s:
        assert s.scalar(select(func.count()).select_from(AuditEntry)) >= 0
    for statement in ("UPDATE console_audit SET action = 'x'", "DELETE FROM console_audit",
                      "UPDATE console_reviews SET note = 'x'", "DELETE FROM console_reviews"):
        with pytest.raises(Exception, match="append-only"):
            with session() as s, s.begin():
                s.execute(text(statement))


def test_unknown_page_is_404_when_logged_in(base, clinician):
    _, web = clinician
    response = web.get(base + "/no-such-page")
    assert response.status_code == 404 and "Content-Security-Policy" in response.headers


# --- SMS conversations -------------------------------------------------------------------
def national(phone: str) -> str:
    """+447400123456 -> 07400123456"""
    return "0" + phone[3:]


PHONE_FORMS = [lambda p: f"{national(p)[:5]} {national(p)[5:]}", national,
               lambda p: f"+44 {p[3:7]} {p[7:]}", lambda p: p[1:], lambda p: p]


def transcript_items(page: str) -> list[str]:
    """The transcript's messages, each as its visible text."""
    listing = re.search(r'<ol class="messages">(.*?)</ol>', page, re.S).group(1)
    return [" ".join(html.unescape(re.sub(r"<[^>]+>", " ", item)).split())
            for item in re.split(r"<li\b[^>]*>", listing)[1:]]


def discharge_facts(page: str) -> str:
    """The transcript's facts about the SMS discharge, as visible text."""
    facts = re.search(r'<dl class="[^"]*\bdischarge\b[^"]*"[^>]*>(.*?)</dl>', page, re.S).group(1)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", facts)).split())


def test_an_sms_conversation_is_found_by_its_number_in_any_common_format(base, clinician):
    _, web = clinician
    phone = random_mobile()
    discharge = save_discharge(phone)
    save_outcome(discharge.conversation_id, "urgent", channel="sms")
    other = save_discharge(random_mobile())
    save_outcome(other.conversation_id, "urgent", channel="sms")
    for form in PHONE_FORMS:
        page = web.get(base + "/queue", params={"q": form(phone)}).text
        assert listed(page, discharge.conversation_id), form(phone)
        assert not listed(page, other.conversation_id)
    assert f'{national(phone)[:5]} {national(phone)[5:]}' in page  # whom to call, on the row


def test_the_queue_filters_sms_conversations_by_procedure(base, clinician):
    _, web = clinician
    marrow, biopsy = (save_discharge(random_mobile(), procedure=p)
                      for p in ("bone_marrow", "bone_biopsy"))
    web_chat = unique("web")
    for cid, channel in ((marrow.conversation_id, "sms"), (biopsy.conversation_id, "sms"),
                         (web_chat, "rest")):
        save_outcome(cid, "emergency", channel=channel, at=datetime.now(timezone.utc) + timedelta(days=2))
    page = web.get(base + "/queue", params={"procedure": "bone_marrow", "level": "emergency"}).text
    assert '<option value="bone_marrow" selected>Bone marrow aspiration and biopsy</option>' in page
    assert listed(page, marrow.conversation_id)
    assert not listed(page, biopsy.conversation_id) and not listed(page, web_chat)
    page = web.get(base + "/queue", params={"procedure": "bone_biopsy", "level": "emergency"}).text
    assert listed(page, biopsy.conversation_id) and not listed(page, marrow.conversation_id)
    exported = web.post(base + "/export", data={"csrf_token": csrf_of(page), "procedure": "bone_marrow",
                                                "level": "emergency"}).text
    assert marrow.conversation_id in exported and biopsy.conversation_id not in exported


def test_an_sms_transcript_shows_the_discharge_and_every_text_in_order(base, clinician):
    from bot.config import settings

    _, web = clinician
    phone = random_mobile()
    now = datetime.now(timezone.utc).replace(microsecond=0)
    discharge = save_discharge(phone, procedure_at=now - timedelta(hours=6), is_child=True,
                               name="Sam", created_at=now - timedelta(hours=5))
    cid = discharge.conversation_id
    t = lambda minutes: now - timedelta(hours=4) + timedelta(minutes=minutes)  # noqa: E731
    _, sid = save_text_in(discharge, "a little on the plaster", t(10))
    save_sms_events(cid, [("followup", t(0)),
                          ("bot", "Is there any bleeding from the biopsy site?", t(0), ["Yes", "No"]),
                          ("patient", "a little on the plaster", t(10.1), sid),
                          ("bot", "Has it stopped now?", t(10.2))])
    save_text_out(discharge, "A check-in from the IR department. Any bleeding? Reply YES or NO.",
                  "followup", t(0.5))
    save_text_out(discharge, "Has it stopped now? Reply YES or NO.", "reply", t(10.3))
    help_id, _ = save_text_in(discharge, "HELP", t(20), status="keyword")
    save_text_out(discharge, "IR department, 020 7000 0000, Mon-Fri 9-5.", "help", t(20.1),
                  delivery=None, inbound_id=help_id)
    picture, _ = save_text_in(discharge, "", t(30), status="no_text", num_media=1)
    save_text_out(discharge, "Thanks for the picture: please describe it in words.", "reply",
                  t(30.1), inbound_id=picture)
    save_text_in(discharge, "very long text " * 100, t(40), status="too_long")
    stop, _ = save_text_in(discharge, "STOP", t(50), status="keyword")
    save_text_out(discharge, "You will get no more texts from us.", "opt_out", t(50.1),
                  inbound_id=stop)
    save_text_in(discharge, "it is bleeding a lot now", t(60), status="opted_out")
    start, _ = save_text_in(discharge, "START", t(70), status="keyword")
    save_text_out(discharge, "Texts are back on.", "opt_in", t(70.1), inbound_id=start)
    failed, _ = save_text_in(discharge, "my chest hurts", t(80), status="failed", assigned=False)
    save_text_out(discharge, "I can't assess this right now. Call 999.", "failsafe", t(80.1),
                  inbound_id=failed, assigned=False)
    save_text_out(discharge, "A check-in 1 day after the bone biopsy. Any bleeding?", "followup",
                  t(90), delivery="undelivered", error="30003")

    page = web.get(base + "/conversation", params={"id": cid}).text
    local = (now - timedelta(hours=6)).astimezone(settings().timezone).strftime("%Y-%m-%d %H:%M")
    facts = discharge_facts(page)
    for expected in (f"+44 {phone[3:7]} {phone[7:]}", "Bone biopsy", local, "Child", "Sam"):
        assert expected in facts, (expected, facts)
    items = transcript_items(page)
    expected = [  # (what identifies the item, what else it must say), in order
        ("Started by the system", []),
        ("Is there any bleeding from the biopsy site?", ["Bot", "Buttons offered"]),
        ("A check-in from the IR department", ["Check-in text", "delivered"]),
        ("a little on the plaster", ["Patient"]),
        ("Has it stopped now?", ["Bot"]),
        ("Has it stopped now? Reply YES or NO.", ["Reply", "delivered"]),
        ("HELP", ["Patient", "keyword"]),
        ("IR department, 020", ["HELP answer", "sent", "no delivery receipt"]),
        ("1 picture", ["Patient", "no text"]),
        ("Thanks for the picture", ["Reply", "delivered"]),
        ("very long text", ["Patient", "too long"]),
        ("STOP", ["Patient", "keyword"]),
        ("You will get no more texts", ["STOP confirmation", "delivered"]),
        ("it is bleeding a lot now", ["Patient", "not answered"]),
        ("START", ["Patient", "keyword"]),
        ("Texts are back on.", ["START confirmation"]),
        ("my chest hurts", ["Patient", "failed"]),
        ("I can't assess this right now", ["Fail-safe line"]),
        ("A check-in 1 day after", ["Check-in text", "not delivered", "30003"]),
    ]
    found = []
    for key, labels in expected:
        position = next((i for i, item in enumerate(items)
                         if key in item and (not found or i > found[-1])), None)
        assert position is not None, (key, items)
        for label in labels:
            assert label in items[position], (label, items[position])
        found.append(position)
    assert sum("a little on the plaster" in item for item in items) == 1  # Rasa's and Twilio's, once
    assert "delivered" not in items[found[-1]].replace("not delivered", "")


def test_an_undelivered_follow_up_shows_on_the_transcript_and_in_the_queue(base, clinician):
    _, web = clinician
    phone = random_mobile()
    discharge = save_discharge(phone)
    at = datetime.now(timezone.utc) - timedelta(hours=1)
    save_sms_events(discharge.conversation_id, [("followup", at), ("bot", "Any bleeding?", at)])
    save_text_out(discharge, "A check-in from the IR department. Any bleeding?", "followup", at,
                  delivery="undelivered", error="30005")
    delivered = save_discharge(random_mobile())
    save_sms_events(delivered.conversation_id, [("followup", at), ("bot", "Any bleeding?", at)])
    save_text_out(delivered, "A check-in from the IR department. Any bleeding?", "followup", at)
    page = web.get(base + "/queue", params={"q": phone}).text
    assert listed(page, discharge.conversation_id)  # the patient never answered: still listed
    row = page.split(f'class="cid">{discharge.conversation_id}</a>')[1].split("</tr>")[0]
    assert "text not delivered" in row
    assert not listed(web.get(base + "/queue", params={"q": delivered.phone}).text,
                      delivered.conversation_id)  # a check-in that arrived is no work for anyone
    items = transcript_items(web.get(base + "/conversation",
                                     params={"id": discharge.conversation_id}).text)
    [check_in] = [item for item in items if "Check-in text" in item]
    assert "not delivered" in check_in and "30005" in check_in
    failed = save_discharge(random_mobile())
    save_text_out(failed, "A check-in.", "followup", at, status="failed", delivery=None,
                  last_error="after 4 attempt(s): Twilio is down")
    page = web.get(base + "/queue", params={"q": failed.phone}).text
    assert listed(page, failed.conversation_id) and "text not delivered" in page


def test_texts_the_bot_never_read_list_the_conversation(base, clinician):
    _, web = clinician
    discharge = save_discharge(random_mobile())
    at = datetime.now(timezone.utc) - timedelta(minutes=30)
    save_text_in(discharge, "STOP", at, status="keyword")
    save_text_in(discharge, "he has a fever now", at + timedelta(minutes=5), status="opted_out")
    page = web.get(base + "/queue", params={"q": discharge.phone}).text
    assert listed(page, discharge.conversation_id)
    items = transcript_items(web.get(base + "/conversation",
                                     params={"id": discharge.conversation_id}).text)
    assert any("he has a fever now" in item and "not answered" in item for item in items)


def test_a_discharge_without_a_name_shows_none(base, clinician):
    _, web = clinician
    discharge = save_discharge(random_mobile())
    save_outcome(discharge.conversation_id, "self_care", channel="sms")
    page = web.get(base + "/conversation", params={"id": discharge.conversation_id}).text
    facts = discharge_facts(page)
    assert "Adult" in facts and "Name" not in facts


# --- command line ------------------------------------------------------------------------
def test_cli_creates_accounts_that_can_log_in(base):
    name = unique("cli-nurse")
    run = lambda *args, stdin="": subprocess.run(  # noqa: E731
        [sys.executable, "-m", "bot.console.cli", *args], input=stdin, capture_output=True,
        text=True, cwd=PROJECT_ROOT, timeout=60)
    created = run("create-user", "--role", "clinician", name, "--password-stdin",
                  stdin=PASSWORD + "\n")
    assert created.returncode == 0, created.stderr
    assert "Created clinician account" in created.stdout
    login(base, name)
    again = run("create-user", "--role", "clinician", name, "--password-stdin", stdin=PASSWORD + "\n")
    assert again.returncode == 1 and "already exists" in again.stderr
    short = run("create-user", "--role", "admin", unique("cli"), "--password-stdin", stdin="short\n")
    assert short.returncode == 1 and "at least" in short.stderr
    bad_role = run("create-user", "--role", "superuser", unique("cli"), "--password-stdin")
    assert bad_role.returncode == 2
    listed = run("list-users")
    assert name in listed.stdout
    assert audit_rows("account_create", target=name)[0].detail["via"] == "cli"
    assert run("disable", name).returncode == 0
    web = requests.Session()
    token = csrf_of(web.get(base + "/login").text)
    assert web.post(base + "/login", data={"csrf_token": token, "username": name,
                                           "password": PASSWORD}).status_code == 401
