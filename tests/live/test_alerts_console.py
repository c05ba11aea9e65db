"""The care-team alerts in the staff console (`python -m bot.console` on the test database):
who was told and when, acknowledgement (CSRF-checked, audited, once), the no-reply and
incomplete patients in the queue and on their own page, and the overview's figures, which
are the digest's. Alerts are raised by the real pass (`run_once`) and emailed to a real
SMTP server; the last test does it all in headless Chromium."""
from __future__ import annotations

import os
import shutil
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from bot.alerts import digest, staff
from bot.alerts.job import run_once
from bot.alerts.models import Alert, QuietPatient
from bot.alerts.settings import alert_settings
from bot.config import PROJECT_ROOT
from bot.console.models import AuditEntry
from bot.storage.db import session
from tests.console_seed import csrf_of, login, make_staff, save_outcome
from tests.fakes.mail import use_smtp
from tests.live.test_alerts import MONDAY_10, _incomplete_web_conversation, discharge, followup_sent, unique
from tests.live.test_console_browser import log_in, new_page, shot


@pytest.fixture(scope="module")
def nurse(live_console):
    name = make_staff("clinician")
    return name, login(live_console.url, name)


def audit_rows(action: str, target: str) -> list[AuditEntry]:
    with session() as s:
        return list(s.scalars(select(AuditEntry).where(AuditEntry.action == action,
                                                       AuditEntry.target == target)))


def alert_of(cid: str) -> Alert:
    with session() as s:
        return s.scalar(select(Alert).where(Alert.conversation_id == cid))


def test_the_transcript_says_who_was_told_and_acknowledging_is_audited_once(
        alerts_db, smtp, live_console, nurse):
    base, (username, web) = live_console.url, nurse
    use_smtp(alerts_db, smtp)
    cid = unique("web")
    save_outcome(cid, "urgent", at=MONDAY_10)
    run_once(MONDAY_10)
    alert = alert_of(cid)

    page = web.get(f"{base}/conversation", params={"id": cid}).text
    assert "Care-team alerts" in page
    assert "email to ir-team@hospital.test: sent" in page
    assert "Not acknowledged" in page
    listing = web.get(f"{base}/alerts").text
    assert cid in listing and "Alerts not acknowledged <span class=\"count\">(1)" in listing

    form = {"alert_id": str(alert.id), "back": "conversation"}
    refused = web.post(f"{base}/alerts/acknowledge", data=form, allow_redirects=False)
    assert refused.status_code in (400, 403) and alert_of(cid).acknowledged_at is None

    form["csrf_token"] = csrf_of(page)
    done = web.post(f"{base}/alerts/acknowledge", data=form, allow_redirects=False)
    assert done.status_code == 303 and "done=acknowledged" in done.headers["Location"]
    acked = alert_of(cid)
    assert (acked.acknowledged_by, acked.acknowledged_via) == (username, "console")
    [entry] = audit_rows("alert_ack", cid)
    assert entry.username == username and entry.detail == {"alert_id": alert.id,
                                                           "level": "urgent"}
    page = web.get(f"{base}/conversation", params={"id": cid}).text
    assert f"Acknowledged</span> by {username}" in page

    again = web.post(f"{base}/alerts/acknowledge", data=form, allow_redirects=False)
    assert "done=already_acknowledged" in again.headers["Location"]
    assert len(audit_rows("alert_ack", cid)) == 1
    for bad in ("", "x1", "99999999999999", "１２"):
        answer = web.post(f"{base}/alerts/acknowledge", allow_redirects=False,
                          data={**form, "alert_id": bad})
        assert answer.status_code == 400, bad
    missing = web.post(f"{base}/alerts/acknowledge", data={**form, "alert_id": "999999"})
    assert missing.status_code == 404


def test_quiet_patients_are_in_the_queue_and_leave_it_when_dealt_with(
        alerts_db, live_console, nurse):
    base, (username, web) = live_console.url, nurse
    alerts_db.setenv("ALERT_NO_REPLY_HOURS", "24")
    alerts_db.setenv("ALERT_SMS_REMINDER", "false")
    alerts_db.setenv("ALERT_INCOMPLETE_MINUTES", "120")
    silent = unique("sms")
    d = discharge(silent, name="Pat Quiet", phone="+447400900777")
    followup_sent(d, 1, MONDAY_10)
    save_outcome(silent, "self_care", channel="sms", at=MONDAY_10 - timedelta(days=1))
    stopped = unique("web")
    _incomplete_web_conversation(stopped, MONDAY_10, "z")
    run_once(MONDAY_10 + timedelta(hours=24))

    listing = web.get(f"{base}/alerts").text
    assert "07400 900777" in listing and "1 follow-up text unanswered" in listing
    assert stopped in listing and "1 of 5 main questions answered (bleeding from the site)" in listing
    queue = web.get(f"{base}/queue", params={"q": "07400 900777"}).text
    assert "no reply: call the patient" in queue
    transcript = web.get(f"{base}/conversation", params={"id": silent}).text
    assert "No reply: call the patient</strong>" in transcript

    with session() as s:
        [mark] = staff.quiet_patients(s, "no_reply")
    answer = web.post(f"{base}/alerts/dealt-with", allow_redirects=False,
                      data={"mark_id": str(mark.id), "back": "alerts",
                            "csrf_token": csrf_of(listing)})
    assert answer.status_code == 303 and "done=dealt_with" in answer.headers["Location"]
    with session() as s:
        done = s.get(QuietPatient, mark.id)
        assert done.resolution == "dealt_with" and done.resolved_at is not None
    [entry] = audit_rows("quiet_resolved", silent)
    assert entry.username == username and entry.detail["kind"] == "no_reply"
    assert "07400 900777" not in web.get(f"{base}/alerts").text
    assert "no reply: call the patient" not in web.get(f"{base}/queue",
                                                       params={"q": "07400 900777"}).text
    assert stopped in web.get(f"{base}/alerts").text


def test_the_overview_shows_the_digests_figures(alerts_db, smtp, live_console, nurse):
    base, (_, web) = live_console.url, nurse
    use_smtp(alerts_db, smtp)
    for level in ("urgent", "emergency"):
        save_outcome(unique("web"), level, at=MONDAY_10)
    run_once(MONDAY_10)
    with session() as s:
        figures = staff.figures(s, datetime.now(timezone.utc) - timedelta(days=1))
    page = web.get(f"{base}/").text
    assert figures.open_alerts == 2
    assert f'id="open-alerts-count">{figures.open_alerts}<' in page
    assert f'id="no-reply-count">{figures.no_reply}<' in page
    assert f'id="incomplete-count">{figures.incomplete}<' in page


def test_a_nurse_acknowledges_an_alert_in_the_browser(alerts_db, smtp, live_console, browser):
    """Real times (the screenshot in the README shows them): an emergency from the web chat
    an hour ago, an SMS patient advised to call the team, one who did not reply."""
    alerts_db.setenv("ALERT_EMAIL_ON_CALL", "haem-on-call@hospital.test")
    alerts_db.setenv("ALERT_SMS_REMINDER", "false")
    use_smtp(alerts_db, smtp, on_call="haem-on-call@hospital.test")
    now = datetime.now(timezone.utc).replace(second=0, microsecond=0)
    web_cid = uuid.uuid4().hex[:16]  # as the widget makes them
    save_outcome(web_cid, "emergency", at=now - timedelta(minutes=62))
    sms_cid = unique("sms")
    discharge(sms_cid, name="", phone="+447400900123", created=now - timedelta(days=1))
    save_outcome(sms_cid, "contact_team", channel="sms", at=now - timedelta(minutes=20))
    quiet_cid = unique("sms")
    d = discharge(quiet_cid, name="", phone="+447400900456", created=now - timedelta(days=2))
    followup_sent(d, 1, now - timedelta(hours=30))
    followup_sent(d, 2, now - timedelta(hours=6))
    run_once(now)
    assert smtp.handler.wait_for(2)

    problems: list[str] = []
    page = new_page(browser, problems)
    log_in(page, live_console.url, make_staff("clinician", f"nurse.{uuid.uuid4().hex[:6]}"))
    expect(page.locator("#open-alerts-count")).to_have_text("2")
    page.get_by_role("link", name="Alerts", exact=True).click()
    rows = page.locator("table.alerts tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("Emergency")
    expect(page.locator("#no-reply")).to_contain_text("07400 900456")
    expect(page.locator("#no-reply")).to_contain_text("2 follow-up texts unanswered")
    shot(page, "alerts", full_page=True)

    page.get_by_role("link", name=web_cid).click()
    expect(page.get_by_role("heading", name="Care-team alerts")).to_be_visible()
    page.get_by_role("button", name="Acknowledge").click()
    expect(page.get_by_role("status")).to_contain_text("Alert acknowledged")
    expect(page.locator("table.alerts")).to_contain_text("Acknowledged by nurse.")
    page.get_by_role("link", name="Alerts", exact=True).click()
    expect(page.locator("table.alerts tbody tr")).to_have_count(1)
    assert len(audit_rows("alert_ack", web_cid)) == 1
    assert not problems, problems

    digest_example(smtp, now)


def digest_example(smtp, now: datetime) -> None:
    """The digest of this test's patients as the team gets it; with UPDATE_SCREENSHOTS=1
    its text and chart become the README's example (docs/alerts/)."""
    digest.send_now(alert_settings(), now)
    run_once(now)
    assert smtp.handler.wait_for(3)
    message = smtp.handler.parsed()[-1]
    assert message["Subject"].startswith("Aftercare bot digest")
    text = message.get_body(("plain",)).get_content()
    assert "Alerts not acknowledged: 1" in text and "No reply: call the patient: 1" in text
    [chart] = [part for part in message.walk() if part.get_content_type() == "image/png"]
    out = PROJECT_ROOT / "test-output" / "alerts"
    out.mkdir(parents=True, exist_ok=True)
    (out / "digest-example.txt").write_text(
        f"Subject: {message['Subject']}\nTo: {message['To']}\n\n{text}")
    (out / "digest-chart.png").write_bytes(chart.get_payload(decode=True))
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        docs = PROJECT_ROOT / "docs" / "alerts"
        docs.mkdir(parents=True, exist_ok=True)
        for name in ("digest-example.txt", "digest-chart.png"):
            shutil.copyfile(out / name, docs / name)
