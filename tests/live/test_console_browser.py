"""The staff console in headless Chromium (Debian's, never a downloaded one), as a nurse
uses it: log in, filter the queue, open a transcript whose patient typed markup and see
it as text, mark it reviewed, export the CSV; then an admin reads the audit trail.

Fails on any script error, dialog or Content-Security-Policy report. Screenshots go to
test-output/console/; with UPDATE_SCREENSHOTS=1 they are also copied to
docs/screenshots/console-*.png for docs/console.md (not on every run: the tree stays clean).
"""
from __future__ import annotations

import csv
import os
import random
import shutil
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from playwright.sync_api import Page, expect

from bot.config import PROJECT_ROOT, settings
from tests.console_seed import (
    PASSWORD,
    XSS,
    make_staff,
    save_discharge,
    save_followup,
    save_messages,
    save_outcome,
    save_sms_events,
    save_text_in,
    save_text_out,
)

SHOTS = PROJECT_ROOT / "test-output" / "console"
DOCS = PROJECT_ROOT / "docs" / "screenshots"
VIEWPORT = {"width": 1100, "height": 760}


def new_page(browser, problems: list[str]) -> Page:
    context = browser.new_context(viewport=VIEWPORT, accept_downloads=True)
    tab = context.new_page()
    tab.set_default_timeout(15_000)
    tab.on("pageerror", lambda error: problems.append(f"script error: {error}"))
    tab.on("dialog", lambda dialog: (problems.append(f"dialog: {dialog.message}"), dialog.dismiss()))
    tab.on("console", lambda message: "Content Security Policy" in message.text
           and problems.append(f"CSP: {message.text}"))
    return tab


def shot(page: Page, name: str, full_page: bool = False) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        DOCS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, DOCS / f"console-{name}.png")


def log_in(page: Page, base: str, username: str, go: bool = True) -> None:
    if go:
        page.goto(f"{base}/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()


@pytest.fixture(scope="module")
def console(tmp_path_factory):
    """A console of its own on a database of its own, so that the screenshots in docs/
    show this test's conversations only."""
    from types import SimpleNamespace

    from alembic import command
    from alembic.config import Config

    from bot.stack import Stack, free_port

    folder = tmp_path_factory.mktemp("console-browser")
    url = f"sqlite:///{folder / 'console.db'}"
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    config.set_main_option("sqlalchemy.url", url)
    command.upgrade(config, "heads")
    stack = Stack(rasa_port=free_port(), action_port=free_port(), token="unused",
                  log_dir=folder / "logs", env={"DATABASE_URL": url})
    try:
        yield SimpleNamespace(url=stack.start_console(free_port()), db=url)
    finally:
        stack.stop()


@pytest.fixture(scope="module")
def month_of_conversations(console):
    """A month of realistic traffic for the overview chart; most of it reviewed."""
    from bot.console import queue
    from bot.console.auth import find_staff
    from bot.storage.db import session

    db = console.db
    rng = random.Random(11)
    reviewer = make_staff("clinician", "nurse.okafor", url=db)
    now = datetime.now(timezone.utc)
    weights = {"self_care": 50, "contact_team": 30, "urgent": 12, "emergency": 8}
    older = []
    for _i in range(90):
        at = now - timedelta(days=rng.randrange(30), hours=rng.randrange(24))
        level = rng.choices(list(weights), list(weights.values()))[0]
        channel = rng.choice(["rest", "rest", "sms"])
        # ids as the channels make them: the widget's random hex, a phone number for SMS
        cid = f"+447700{rng.randrange(10 ** 6):06d}" if channel == "sms" else f"{rng.getrandbits(64):016x}"
        save_outcome(cid, level, channel=channel, at=at, url=db)
        if at < now - timedelta(days=2):
            older.append(cid)
    queue.sync(db)
    with session(db) as s, s.begin():
        nurse = find_staff(s, reviewer)
        for cid in older:
            queue.add_review(s, cid, nurse, rng.choice(["no_action", "called_back"]), "")


def test_nurse_reviews_and_exports_in_the_browser(console, browser, month_of_conversations,
                                                  tmp_path):
    base, db = console.url, console.db
    problems: list[str] = []
    cid = uuid.uuid4().hex[:16]
    save_messages(cid, [
        ("patient", f"Hi, the biopsy site on my hip {XSS} keeps bleeding through the plaster"),
        ("bot", "Is the bleeding still going on now, after 10 minutes of firm pressure?"),
        ("patient", "it stops then starts again"),
        ("bot", "Please call the Interventional Radiology (IR) department today on 020 7000 0000."),
    ], buttons=["Yes", "No", "Not sure"], url=db)
    save_outcome(cid, "contact_team", url=db)
    emergency = "+447700900461"
    save_messages(emergency, [("patient", "he is having a fit"),
                              ("bot", "EMERGENCY: call 999 now.")], channel="sms", url=db)
    save_outcome(emergency, "emergency", channel="sms", url=db)
    nurse = make_staff("clinician", "nurse.jones", url=db)  # fixed names: they show in docs/

    page = new_page(browser, problems)
    page.goto(f"{base}/queue")
    expect(page).to_have_url(f"{base}/login?next=%2Fqueue")  # nothing without login
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    shot(page, "login")
    log_in(page, base, nurse, go=False)  # and back to where the nurse was going
    expect(page).to_have_url(f"{base}/queue")

    page.goto(f"{base}/")
    expect(page.locator("svg.chart rect").first).to_be_visible()
    shot(page, "overview")

    # Filter: contact team, not reviewed.
    page.goto(f"{base}/queue")
    page.get_by_label("Contact team").check()
    page.get_by_label("Review").select_option("no")
    page.get_by_role("button", name="Apply").click()
    expect(page).to_have_url(
        f"{base}/queue?level=contact_team&from=&to=&channel=&reviewed=no&procedure=&q=")
    link = page.get_by_role("link", name=cid)
    expect(link).to_be_visible()
    expect(page.get_by_role("link", name=emergency)).to_have_count(0)
    shot(page, "queue-filtered")

    # The transcript: the patient's markup is text, not an element.
    link.click()
    expect(page.get_by_role("heading", name=f"Conversation {cid}")).to_be_visible()
    first = page.locator(".messages li.patient .text").first
    expect(first).to_have_text(f"Hi, the biopsy site on my hip {XSS} keeps bleeding through the plaster")
    assert page.locator("main img").count() == 0
    assert page.evaluate("document.querySelectorAll('img').length") == 0
    expect(page.locator(".buttons").first).to_contain_text("Not sure")
    expect(page.get_by_text("bleeding.continued")).to_be_visible()
    expect(page.get_by_text("Policy version", exact=False).first).to_be_visible()
    shot(page, "transcript")

    # Review it.
    page.get_by_label("Called back").check()
    page.get_by_label("Note").fill("Spoke to the patient; coming in to the day unit at 2pm.")
    page.get_by_role("button", name="Mark reviewed").click()
    expect(page.get_by_role("status")).to_have_text("Review saved. The conversation itself is unchanged.")
    expect(page.locator(".reviews")).to_contain_text(f"Called back by {nurse}")
    shot(page, "reviewed")

    # The filtered queue no longer lists it; the reviewed one does, and exports.
    page.goto(f"{base}/queue?level=contact_team&reviewed=no")
    expect(page.get_by_role("link", name=cid)).to_have_count(0)
    page.goto(f"{base}/queue?reviewed=yes&q={cid}")
    expect(page.locator("tbody tr")).to_have_count(1)
    expect(page.locator("tbody tr")).to_contain_text("Reviewed by")
    with page.expect_download() as download_info:
        page.get_by_role("button", name="Export these as CSV").click()
    download = download_info.value
    target = tmp_path / download.suggested_filename
    download.save_as(target)
    assert target.name.startswith("triage-conversations-") and target.suffix == ".csv"
    rows = list(csv.DictReader(target.open(encoding="utf-8")))
    assert [r["conversation_id"] for r in rows] == [cid]
    assert rows[0]["review_outcome"] == "Called back" and rows[0]["reviewed_by"] == nurse
    page.goto(f"{base}/queue")
    shot(page, "queue")

    # A clinician has no admin pages.
    page.goto(f"{base}/admin/audit")
    expect(page.get_by_role("heading", name="Only an admin can do this.")).to_be_visible()

    # The admin's audit trail shows what the nurse did.
    admin_page = new_page(browser, problems)
    log_in(admin_page, base, make_staff("admin", "admin.patel", url=db))
    admin_page.goto(f"{base}/admin/audit?username={nurse}")
    table = admin_page.locator("table.audit")
    for what in ("Logged in", "Viewed a transcript", "Reviewed a conversation", "Exported CSV"):
        expect(table).to_contain_text(what)
    shot(admin_page, "audit")
    admin_page.goto(f"{base}/admin/accounts")
    expect(admin_page.get_by_role("heading", name="New account")).to_be_visible()
    shot(admin_page, "accounts")

    # Log out: the queue is closed again.
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("status")).to_have_text("You are logged out.")
    page.goto(f"{base}/queue")
    expect(page).to_have_url(f"{base}/login?next=%2Fqueue")
    assert not problems, problems


def test_nurse_finds_an_sms_patient_by_number_and_reads_the_texts(console, browser):
    """The nurse types the number as the patient said it; the discharge was registered in
    another format. The transcript says whom to call and every text, delivered or not."""
    base, db = console.url, console.db
    problems: list[str] = []
    now = datetime.now(timezone.utc).replace(second=0, microsecond=0)
    discharge = save_discharge("+447400900462", procedure="bone_marrow", is_child=True,
                               procedure_at=now - timedelta(hours=26),
                               created_at=now - timedelta(hours=25), url=db)
    cid = discharge.conversation_id
    t = lambda minutes: now - timedelta(hours=2) + timedelta(minutes=minutes)  # noqa: E731
    _, sid = save_text_in(discharge, "she is hot and shivery, 38.4", t(5), url=db)
    save_sms_events(cid, [("followup", t(0)),
                          ("bot", "Has your child had a fever or chills?", t(0), ["Yes", "No"]),
                          ("patient", "she is hot and shivery, 38.4", t(5.1), sid),
                          ("bot", "Please call the haematology team today.", t(5.2))], url=db)
    save_text_out(discharge, "A check-in 1 day after your child's bone marrow aspiration and "
                  "biopsy. Has your child had a fever or chills? Reply YES or NO.", "followup",
                  t(0.5), url=db)
    save_text_out(discharge, "Please call the haematology team today.", "reply", t(5.3),
                  delivery="undelivered", error="30003", url=db)
    stop, _ = save_text_in(discharge, "STOP", t(20), status="keyword", url=db)
    save_text_out(discharge, "You will get no more texts from us.", "opt_out", t(20.1),
                  inbound_id=stop, url=db)
    save_text_in(discharge, "she is worse", t(30), status="opted_out", url=db)
    save_outcome(cid, "contact_team", channel="sms", at=t(5.2), url=db)
    for seq, (day, due, status) in enumerate([(0, now - timedelta(hours=20), "sent"),
                                              (1, t(0), "sent"),
                                              (3, now + timedelta(days=2), "scheduled")]):
        save_followup(discharge, seq, day, f"day {day} {due.astimezone(settings().timezone):%H:%M}",
                      due, status, url=db)
    nurse = make_staff("clinician", "nurse.adeyemi", url=db)

    page = new_page(browser, problems)
    log_in(page, base, nurse)
    page.goto(f"{base}/queue")
    page.get_by_label("Procedure").select_option("bone_marrow")
    page.get_by_label("Phone number or conversation id").fill("07400 900462")
    page.get_by_role("button", name="Apply").click()
    rows = page.locator("tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("07400 900462")
    expect(rows.first).to_contain_text("text not delivered")
    shot(page, "sms-queue")

    page.get_by_role("link", name=cid).click()
    expect(page.get_by_role("heading", name=f"Conversation {cid}")).to_be_visible()
    discharge_facts = page.locator("dl.discharge")
    for fact in ("+44 7400 900462", "Bone marrow aspiration and biopsy", "Child",
                 (now - timedelta(hours=26)).astimezone(settings().timezone).strftime("%Y-%m-%d %H:%M")):
        expect(discharge_facts).to_contain_text(fact)
    expect(discharge_facts).not_to_contain_text("Name")
    texts = page.locator(".messages li")
    expect(texts.filter(has_text="Check-in text")).to_contain_text("delivered")
    expect(texts.filter(has_text="she is hot and shivery")).to_have_count(1)
    expect(texts.filter(has_text="Reply").filter(has_text="haematology")).to_contain_text(
        "not delivered")
    expect(texts.filter(has_text="STOP confirmation")).to_be_visible()
    expect(texts.filter(has_text="she is worse")).to_contain_text("not answered")
    expect(page.get_by_role("link", name="+44 7400 900462")).to_have_attribute(
        "href", "tel:+447400900462")
    shot(page, "sms-transcript", full_page=True)
    assert not problems, problems
