"""Care-team alerts (bot/alerts): a real SMTP server (aiosmtpd on a free port) and a real
HTTP receiver for the webhooks (aiohttp), on the test database, with a fixed clock unless a
test needs time to pass. Worker crashes are real processes killed with SIGKILL."""
from __future__ import annotations

import asyncio
import base64
import datetime as dt
import email
import hashlib
import hmac
import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Optional
from zoneinfo import ZoneInfo

import pytest
from aiosmtpd.smtp import AuthResult
from sqlalchemy import select

from bot.alerts import digest, outbox, reminders, routing, staff, triggers
from bot.alerts.__main__ import main as cli
from bot.alerts.job import run_once
from bot.alerts.models import Alert, Bundle, Delivery, QuietPatient
from bot.alerts.settings import alert_settings
from bot.config import PROJECT_ROOT, settings
from bot.policy import FAILSAFE_LINE
from bot.sms.models import Discharge, FollowUp, InboundSms, OptOut, OutboundSms
from bot.storage.db import session
from tests.console_seed import save_messages, save_outcome
from tests.fakes.mail import SmtpServer, use_smtp

LONDON = ZoneInfo("Europe/London")


def local(*args) -> datetime:
    """A local (Europe/London) time, in UTC. 4 March 2030 is a Monday."""
    return datetime(*args, tzinfo=LONDON).astimezone(timezone.utc)


MONDAY_10 = local(2030, 3, 4, 10, 0)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


# --- seeding ------------------------------------------------------------------------------


def discharge(conversation_id: str, *, name: str = "Pat Example", phone: Optional[str] = None,
              created: datetime = MONDAY_10 - timedelta(days=1)) -> int:
    with session() as s, s.begin():
        row = Discharge(phone=phone or f"+4477009{uuid.uuid4().int % 100000:05d}",
                        procedure="bone_biopsy", procedure_at=created, is_child=False, name=name,
                        conversation_id=conversation_id, source="cli", created_at=created)
        s.add(row)
        s.flush()
        return row.id


def followup_sent(discharge_id: int, seq: int, at: datetime, delivery: Optional[str] = None) -> None:
    with session() as s, s.begin():
        phone = s.get(Discharge, discharge_id).phone
        f = FollowUp(discharge_id=discharge_id, seq=seq, day=seq, label=f"day {seq}", due_at=at,
                     window_end=at + timedelta(hours=3), status="sent", next_attempt_at=at,
                     attempts=1, created_at=at, done_at=at)
        s.add(f)
        s.flush()
        s.add(OutboundSms(to_number=phone, body="How is the biopsy site?", kind="followup",
                          discharge_id=discharge_id, followup_id=f.id, status="sent", attempts=1,
                          next_attempt_at=at, check_before_send=False, created_at=at, sent_at=at,
                          delivery_status=delivery))


def patient_texted(discharge_id: int, at: datetime, body: str = "it's fine thanks") -> None:
    with session() as s, s.begin():
        phone = s.get(Discharge, discharge_id).phone
        s.add(InboundSms(message_sid=unique("SM"), from_number=phone, body=body, num_media=0,
                         discharge_id=discharge_id, status="processed", received_at=at))


def save_events(conversation_id: str, steps: list[tuple], channel: str = "rest") -> None:
    """steps: (at, "patient", text) | (at, "bot", text) | (at, "slot", name, value) |
    (at, "followup",) (a follow-up started by the system) | (at, "session",)."""
    from rasa.core.tracker_store import SQLTrackerStore
    from rasa.shared.core.events import ActionExecuted, BotUttered, SessionStarted, SlotSet, UserUttered
    from rasa.shared.core.trackers import DialogueStateTracker

    from bot.storage.tracker_store import TriageTrackerStore

    events = []
    for step in steps:
        ts, kind = step[0].timestamp(), step[1]
        if kind == "patient":
            events.append(UserUttered(step[2], {"name": "report_symptom", "confidence": 0.9},
                                      input_channel=channel, timestamp=ts))
        elif kind == "followup":
            events.append(UserUttered("/greet", {"name": "greet", "confidence": 1.0},
                                      input_channel="sms", timestamp=ts,
                                      metadata={"is_external": True}))
        elif kind == "bot":
            events += [BotUttered(step[2], timestamp=ts), ActionExecuted("action_listen",
                                                                         timestamp=ts)]
        elif kind == "slot":
            events.append(SlotSet(step[2], step[3], timestamp=ts))
        elif kind == "session":
            events += [ActionExecuted("action_session_start", timestamp=ts),
                       SessionStarted(timestamp=ts), ActionExecuted("action_listen", timestamp=ts)]
    store: SQLTrackerStore = TriageTrackerStore()
    old = asyncio.run(store.retrieve(conversation_id))
    tracker = DialogueStateTracker.from_events(conversation_id,
                                               list(old.events if old else []) + events)
    asyncio.run(store.save(tracker))


def texts_of(message: email.message.EmailMessage) -> str:
    """Every header and every decoded part of an email, as one string."""
    found = [str(value) for value in message.values()]
    for part in message.walk():
        if part.get_content_maintype() == "text":
            found.append(part.get_content())
    return "\n".join(found)


def alert_rows() -> list[Alert]:
    with session() as s:
        return list(s.scalars(select(Alert).order_by(Alert.id)))


def deliveries() -> list[Delivery]:
    with session() as s:
        return list(s.scalars(select(Delivery).order_by(Delivery.id)))


# --- alerts: content, once, thresholds ---------------------------------------------------


@pytest.mark.parametrize("fmt", ["plain", "teams", "slack"])
def test_an_alert_is_emailed_and_posted_once_with_a_link_and_never_the_patients_words(
        alerts_db, smtp, hooks, fmt):
    use_smtp(alerts_db, smtp)
    alerts_db.setenv("ALERT_WEBHOOK_URL", hooks.url("team"))
    alerts_db.setenv("ALERT_WEBHOOK_FORMAT", fmt)
    alerts_db.setenv("ALERT_WEBHOOK_SECRET", "hook-secret")
    secret_words = f"my-own-words-{uuid.uuid4().hex}"
    cid = unique("web")
    save_messages(cid, [("patient", f"the redness is spreading {secret_words}"),
                        ("bot", "Is there any bleeding?"), ("patient", f"no {secret_words}")])
    save_outcome(cid, "urgent", at=MONDAY_10)

    first = run_once(MONDAY_10)
    for minutes in (1, 2, 30):  # later passes, and the same level advised again
        save_outcome(cid, "urgent", at=MONDAY_10 + timedelta(minutes=minutes))
        run_once(MONDAY_10 + timedelta(minutes=minutes))

    assert first["alerts_raised"] == 1 and first["message_sent"] == 2
    assert len(smtp.handler.messages) == 1 and len(hooks.posts) == 1
    [message] = smtp.handler.parsed()
    link = f"https://console.test/conversation?id={cid}"
    body = message.get_body(("plain",)).get_content()
    assert message["To"] == "ir-team@hospital.test"
    assert message["Subject"] == "Triage alert: Urgent (Web chat), Mon 04 Mar 10:00"
    assert "When: Mon 04 Mar 2030 10:00 (Europe/London)" in body
    assert "Level: Urgent" in body and "Channel: Web chat" in body and link in body
    post = hooks.posts[0]
    if fmt == "plain":
        assert post["json"]["alerts"][0]["level"] == "urgent"
        assert post["json"]["alerts"][0]["transcript_url"] == link
        assert post["headers"]["Idempotency-Key"] == post["json"]["delivery_id"]
        signed = hmac.new(b"hook-secret", post["raw"].encode(), hashlib.sha256).hexdigest()
        assert post["headers"]["X-Triage-Signature"] == f"sha256={signed}"
    else:
        assert "X-Triage-Signature" not in post["headers"]  # Teams and Slack sign nothing
    if fmt == "teams":
        card = post["json"]["attachments"][0]
        assert card["contentType"] == "application/vnd.microsoft.card.adaptive"
        assert card["content"]["type"] == "AdaptiveCard"
        assert card["content"]["actions"][0]["url"] == link
    elif fmt == "slack":
        assert post["json"]["text"].startswith("Triage alert: Urgent")
        assert f"<{link}|Open the transcript>" in json.dumps(post["json"]["blocks"])
    for raw in [m.decode() for m in smtp.handler.messages] + [texts_of(message), post["raw"]]:
        assert secret_words not in raw
        assert "redness" not in raw  # nor anything else the patient said


def test_thresholds_web_alerts_from_urgent_sms_from_contact_team(alerts_db, smtp):
    use_smtp(alerts_db, smtp)
    web_cid, sms_cid = unique("web"), unique("sms")
    discharge(sms_cid, name="Pat Example", phone="+447700900321")
    save_outcome(web_cid, "contact_team", at=MONDAY_10)
    save_outcome(sms_cid, "self_care", channel="sms", at=MONDAY_10)
    save_outcome(sms_cid, "contact_team", channel="sms", at=MONDAY_10)
    run_once(MONDAY_10)
    [alert] = alert_rows()
    assert (alert.conversation_id, alert.level, alert.channel_group) == (sms_cid, "contact_team",
                                                                        "sms")
    [message] = smtp.handler.parsed()
    assert "Pat Example" not in texts_of(message) and "900321" not in texts_of(message)

    # Higher levels alert again, once each; a lower one after a higher one does not.
    save_outcome(web_cid, "emergency", at=MONDAY_10 + timedelta(minutes=5))
    save_outcome(web_cid, "urgent", at=MONDAY_10 + timedelta(minutes=6))
    run_once(MONDAY_10 + timedelta(minutes=6))
    assert [(a.conversation_id, a.level) for a in alert_rows()] == [
        (sms_cid, "contact_team"), (web_cid, "emergency")]


def test_sms_alerts_name_the_discharge_only_when_the_setting_allows(alerts_db, smtp):
    use_smtp(alerts_db, smtp)
    alerts_db.setenv("ALERT_INCLUDE_PATIENT_DETAILS", "true")
    cid = unique("sms")
    discharge(cid, name="Sam Sample", phone="+447700900654")
    save_outcome(cid, "urgent", channel="sms", at=MONDAY_10)
    run_once(MONDAY_10)
    [message] = smtp.handler.parsed()
    assert "Patient: Sam Sample, +447700900654" in message.get_body(("plain",)).get_content()


def test_two_workers_scanning_at_once_raise_one_alert(alerts_db, smtp):
    use_smtp(alerts_db, smtp)
    cids = [unique("web") for _ in range(30)]
    for cid in cids:
        save_outcome(cid, "emergency", at=MONDAY_10)
    cfg = alert_settings()
    threads = [threading.Thread(target=triggers.scan, args=(cfg, MONDAY_10)) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(a.conversation_id for a in alert_rows()) == sorted(cids)
    assert len(deliveries()) == 30


# --- routing --------------------------------------------------------------------------------


def test_opening_hours_give_the_route_and_the_next_opening():
    core = settings()  # mon-fri 09:00-17:00 Europe/London (the test defaults)
    assert routing.is_open(MONDAY_10, core)
    assert not routing.is_open(local(2030, 3, 4, 17, 0), core)
    assert routing.next_opening(local(2030, 3, 8, 18, 0), core) == local(2030, 3, 11, 9, 0)
    assert routing.next_opening(local(2030, 3, 4, 7, 0), core) == local(2030, 3, 4, 9, 0)
    # The clocks go forward on Sunday 31 March 2030: Monday opens at 09:00 BST.
    assert routing.next_opening(local(2030, 3, 30, 12, 0), core) == local(2030, 4, 1, 9, 0)
    assert routing.route_at(local(2030, 3, 4, 20, 0), core, has_on_call=True).route == "on_call"
    held = routing.route_at(local(2030, 3, 9, 11, 0), core, has_on_call=False)
    assert (held.route, held.held_until) == ("held", local(2030, 3, 11, 9, 0))


def test_in_hours_to_the_department_out_of_hours_to_on_call(alerts_db, smtp, hooks):
    use_smtp(alerts_db, smtp, to="ir-team@hospital.test", on_call="on-call@hospital.test")
    alerts_db.setenv("ALERT_WEBHOOK_URL", hooks.url("team"))
    alerts_db.setenv("ALERT_WEBHOOK_ON_CALL_URL", hooks.url("on-call"))
    day, night = unique("web"), unique("web")
    save_outcome(day, "urgent", at=MONDAY_10)
    run_once(MONDAY_10)
    evening = local(2030, 3, 4, 20, 0)
    save_outcome(night, "urgent", at=evening)
    run_once(evening)
    assert [rcpts for _, rcpts in smtp.handler.envelopes] == [["ir-team@hospital.test"],
                                                              ["on-call@hospital.test"]]
    assert [p["path"] for p in hooks.posts] == ["/team", "/on-call"]
    assert "department is closed" in smtp.handler.parsed()[1].get_body(("plain",)).get_content()


def test_out_of_hours_without_on_call_is_held_for_the_opening(alerts_db, smtp):
    use_smtp(alerts_db, smtp)
    saturday, sunday = local(2030, 3, 9, 11, 0), local(2030, 3, 10, 23, 30)
    first, second, acknowledged = unique("web"), unique("sms"), unique("web")
    discharge(second)
    save_outcome(first, "urgent", at=saturday)
    save_outcome(acknowledged, "urgent", at=saturday)
    run_once(saturday)
    save_outcome(second, "contact_team", channel="sms", at=sunday)
    run_once(sunday)
    assert {a.route for a in alert_rows()} == {"held"} and smtp.handler.messages == []
    ack_id = next(a.id for a in alert_rows() if a.conversation_id == acknowledged)
    with session() as s, s.begin():
        staff.acknowledge(s, ack_id, by="nurse.jones", now=sunday)

    run_once(local(2030, 3, 11, 8, 59))
    assert smtp.handler.messages == []
    run_once(local(2030, 3, 11, 9, 0))
    run_once(local(2030, 3, 11, 9, 5))
    [message] = smtp.handler.parsed()
    body = message.get_body(("plain",)).get_content()
    assert message["Subject"].startswith("Triage alerts held overnight: 2 alerts")
    assert f"conversation?id={first}" in body and f"conversation?id={second}" in body
    assert acknowledged not in body
    assert body.index("Urgent") < body.index("Contact team")  # highest first
    assert all(a.released_at == local(2030, 3, 11, 9, 0) for a in alert_rows())


# --- delivery: outage, crash -------------------------------------------------------------


class MovingClock:
    """The fixed Monday morning, moving on with real time (back-off needs time to pass)."""

    def __init__(self, start: datetime = MONDAY_10) -> None:
        self.start, self.t0 = start, time.monotonic()

    def __call__(self) -> datetime:
        return self.start + timedelta(seconds=time.monotonic() - self.t0)


def test_smtp_down_for_a_while_then_back_delivers_each_alert_exactly_once(alerts_db):
    server = SmtpServer()
    use_smtp(alerts_db, server)  # not started: the server is down
    cids = [unique("web") for _ in range(20)]
    for cid in cids:
        save_outcome(cid, "urgent", at=MONDAY_10)
    clock = MovingClock()
    down_until = time.monotonic() + 2.5
    while time.monotonic() < down_until:
        run_once(clock())
        time.sleep(0.1)
    rows = deliveries()
    assert len(rows) == 20 and all(r.status == "pending" for r in rows)
    assert sum(r.attempts for r in rows) <= 30  # one try per pass while down, not 20
    assert all(r.last_error.startswith("SMTP server unreachable") for r in rows if r.attempts)

    server.start()
    try:
        back = time.monotonic()
        while len(server.handler.messages) < 20 and time.monotonic() < back + 30:
            run_once(clock())
            time.sleep(0.1)
        delay = time.monotonic() - back
    finally:
        server.stop()
    ids = [m["Message-ID"] for m in server.handler.parsed()]
    links = sorted(next(c for c in cids if f"id={c}" in m.get_body(("plain",)).get_content())
                   for m in server.handler.parsed())
    assert len(ids) == 20 and len(set(ids)) == 20 and links == sorted(cids)
    assert all(r.status == "sent" for r in deliveries())
    print(f"\nworst delay after the SMTP server came back: {delay:.2f} s "
          f"(ALERT_RETRY_MAX_SECONDS=1, passes every 0.1 s)")
    assert delay < 1 * 1.1 + 1.0


def _worker(extra_env: dict) -> subprocess.Popen:
    env = {**os.environ, **extra_env}
    return subprocess.Popen([sys.executable, "-m", "bot.alerts", "run", "--interval", "0.2"],
                            cwd=PROJECT_ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def _stop(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()


@pytest.mark.parametrize("stage", ["before_the_server_has_it", "after_the_server_took_it"])
def test_a_worker_killed_mid_send_and_restarted(alerts_db, smtp, stage):
    """Killed before the server has the message: sent once after the restart, nothing
    lost. Killed after the server took it, before it answered: nobody can know whether it
    went, so it is sent again marked as a possible repeat with the same Message-ID."""
    use_smtp(alerts_db, smtp, on_call="on-call@hospital.test")  # any time of day
    if stage == "before_the_server_has_it":
        smtp.handler.stall_rcpt_at = 2
    else:
        smtp.handler.stall_after_data_at = 2
    now = datetime.now(timezone.utc)
    cids = [unique("web") for _ in range(5)]
    for cid in cids:
        save_outcome(cid, "emergency", at=now)
    settings_env = {"ALERT_LEASE_SECONDS": "2"}
    first = _worker(settings_env)
    try:
        assert smtp.handler.stalled.wait(60), "the worker never reached the third message"
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    finally:
        if first.poll() is None:
            first.kill()
    smtp.handler.release.set()
    second = _worker(settings_env)
    try:
        expected = 5 if stage == "before_the_server_has_it" else 6
        assert smtp.handler.wait_for(expected, timeout=60)
        time.sleep(1.0)  # nothing more arrives
    finally:
        _stop(second)
    messages = smtp.handler.parsed()
    by_id: dict[str, list] = {}
    for m in messages:
        by_id.setdefault(m["Message-ID"], []).append(m)
    assert len(by_id) == 5  # every alert, none lost
    rows = deliveries()
    assert all(r.status == "sent" for r in rows) and len(rows) == 5
    [interrupted] = [r for r in rows if r.attempts == 2]
    assert interrupted.possible_repeat
    copies = by_id[interrupted.message_id]
    if stage == "before_the_server_has_it":
        assert len(messages) == 5 and len(copies) == 1
    else:
        assert len(messages) == 6 and len(copies) == 2
        # (a subject over one header line is folded: the parser keeps the fold's space)
        assert copies[1]["Subject"].strip() == "[may be a repeat] " + copies[0]["Subject"]
        assert copies[1]["X-Triage-Possible-Repeat"] == "yes"
    assert all(len(v) == 1 for k, v in by_id.items() if k != interrupted.message_id)


def test_a_refused_address_fails_for_good_and_is_recorded(alerts_db, smtp, hooks):
    use_smtp(alerts_db, smtp)
    alerts_db.setenv("ALERT_WEBHOOK_URL", hooks.url("gone"))
    hooks.status = 404  # a deleted Slack/Teams webhook
    save_outcome(unique("web"), "urgent", at=MONDAY_10)
    run_once(MONDAY_10)
    email_row, hook_row = deliveries()
    assert (email_row.status, hook_row.status) == ("sent", "failed")
    assert hook_row.last_error == "refused for good: webhook answered HTTP 404"
    assert hook_row.attempts == 1


def test_a_webhook_answering_503_is_retried_with_back_off_and_posted_once(alerts_db, hooks):
    alerts_db.setenv("ALERT_WEBHOOK_URL", hooks.url("team"))
    hooks.status = 503
    save_outcome(unique("web"), "urgent", at=MONDAY_10)
    run_once(MONDAY_10)
    run_once(MONDAY_10 + timedelta(seconds=0.1))  # not due yet: no second try
    [row] = deliveries()
    assert (row.status, row.attempts, row.last_error) == ("pending", 1,
                                                          "webhook answered HTTP 503")
    hooks.status = 200
    run_once(MONDAY_10 + timedelta(seconds=5))
    run_once(MONDAY_10 + timedelta(seconds=60))
    assert len(hooks.posts) == 2 and deliveries()[0].status == "sent"
    assert hooks.posts[0]["raw"] == hooks.posts[1]["raw"]  # the same message, not a new one


def _self_signed(tmp: Path) -> tuple[Path, Path]:
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(datetime.now(timezone.utc) - timedelta(days=1))
            .not_valid_after(datetime.now(timezone.utc) + timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(
                ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = tmp / "smtp.crt", tmp / "smtp.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


def test_starttls_and_login_as_the_settings_say(alerts_db, tmp_path):
    import ssl

    cert_file, key_file = _self_signed(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    logins = []

    def authenticator(server, session, envelope, mechanism, data):
        login = tuple(v.decode() if isinstance(v, bytes) else v for v in (data.login, data.password))
        logins.append(login)
        return AuthResult(success=login == ("bot", "s3cret"), handled=False)

    server = SmtpServer(tls_context=context, require_starttls=True, auth_required=True,
                        authenticator=authenticator).start()
    try:
        use_smtp(alerts_db, server)
        alerts_db.setenv("ALERT_SMTP_STARTTLS", "true")
        alerts_db.setenv("ALERT_SMTP_CA_FILE", str(cert_file))
        alerts_db.setenv("ALERT_SMTP_USERNAME", "bot")
        alerts_db.setenv("ALERT_SMTP_PASSWORD", "wrong")
        save_outcome(unique("web"), "urgent", at=MONDAY_10)
        run_once(MONDAY_10)
        [row] = deliveries()
        assert (row.status, row.last_error) == ("pending", "SMTP login refused: 535")
        alerts_db.setenv("ALERT_SMTP_PASSWORD", "s3cret")
        run_once(MONDAY_10 + timedelta(seconds=5))
        assert len(server.handler.messages) == 1 and deliveries()[0].status == "sent"
        assert logins[-1] == ("bot", "s3cret")
    finally:
        server.stop()


def test_alerts_per_second_to_a_local_smtp_server(alerts_db, smtp):
    use_smtp(alerts_db, smtp)
    count = 300
    for _ in range(count):
        save_outcome(unique("web"), "urgent", at=MONDAY_10)
    cfg = alert_settings()
    started = time.monotonic()
    triggers.scan(cfg, MONDAY_10)
    queued = time.monotonic()
    result = outbox.deliver_due(cfg, MONDAY_10)
    done = time.monotonic()
    assert result["sent"] == count and len(smtp.handler.messages) == count
    rate = count / (done - started)
    print(f"\n{count} alerts: raised and queued in {queued - started:.2f} s, sent in "
          f"{done - queued:.2f} s: {rate:.0f} alerts per second end to end "
          f"({count / (done - queued):.0f}/s sending)")
    assert rate > 20


# --- acknowledgement ---------------------------------------------------------------------


def test_acknowledgement_records_who_and_when_once_and_cancels_unsent_messages(alerts_db, capsys):
    server = SmtpServer()  # down: the message stays pending
    use_smtp(alerts_db, server)
    save_outcome(unique("web"), "urgent", at=MONDAY_10)
    run_once(MONDAY_10)
    [alert] = alert_rows()
    when = MONDAY_10 + timedelta(minutes=3)
    with session() as s, s.begin():
        done = staff.acknowledge(s, alert.id, by="nurse.jones", now=when)
    assert done.newly and done.alert.acknowledged_by == "nurse.jones"
    assert done.alert.acknowledged_at == when and done.alert.acknowledged_via == "console"
    assert deliveries()[0].status == "cancelled"

    assert cli(["ack", str(alert.id), "--by", "dr.smith"]) == 0
    assert "already acknowledged by nurse.jones" in capsys.readouterr().out
    assert alert_rows()[0].acknowledged_by == "nurse.jones"
    assert cli(["ack", "999999", "--by", "dr.smith"]) == 1
    with session() as s, pytest.raises(ValueError):
        staff.acknowledge(s, alert.id, by="  ", now=when)
    with session() as s:
        [row] = staff.alerts_for(s, alert.conversation_id)
        assert row.delivery_state == "cancelled" and staff.open_alerts(s) == []


def test_status_command_shows_settings_and_counts(alerts_db, smtp, capsys):
    use_smtp(alerts_db, smtp)
    save_outcome(unique("web"), "emergency", at=MONDAY_10)
    run_once(MONDAY_10)
    assert cli(["status"]) == 0
    out = capsys.readouterr().out
    assert "thresholds: SMS contact_team, web urgent" in out
    assert "alerts not acknowledged: Emergency 1" in out
    assert "messages: email sent 1" in out


# --- patients who go quiet ---------------------------------------------------------------


def marks(kind: Optional[str] = None) -> list[QuietPatient]:
    with session() as s:
        return staff.quiet_patients(s, kind, open_only=False)


def test_no_reply_within_the_time_marks_the_discharge_until_the_patient_replies(alerts_db):
    alerts_db.setenv("ALERT_NO_REPLY_HOURS", "24")
    alerts_db.setenv("ALERT_NO_REPLY_IN_A_ROW", "3")
    alerts_db.setenv("ALERT_SMS_REMINDER", "false")
    cid = unique("sms")
    d = discharge(cid)
    sent = local(2030, 3, 4, 10, 0)
    followup_sent(d, 1, sent)
    run_once(sent + timedelta(hours=23, minutes=59))
    assert marks() == []
    run_once(sent + timedelta(hours=24))
    [mark] = marks()
    assert (mark.kind, mark.conversation_id, mark.since, mark.details) == (
        "no_reply", cid, sent, {"unanswered": 1})
    run_once(sent + timedelta(hours=25))
    assert len(marks()) == 1
    patient_texted(d, sent + timedelta(hours=26))
    run_once(sent + timedelta(hours=26, minutes=1))
    [mark] = marks()
    assert mark.resolution == "replied" and mark.resolved_at is not None


def test_unanswered_follow_ups_in_a_row_mark_sooner(alerts_db):
    alerts_db.setenv("ALERT_NO_REPLY_HOURS", "48")
    alerts_db.setenv("ALERT_NO_REPLY_IN_A_ROW", "2")
    answered, silent, undelivered = unique("sms"), unique("sms"), unique("sms")
    d_answered, d_silent, d_undelivered = discharge(answered), discharge(silent), discharge(undelivered)
    day0, day1 = local(2030, 3, 4, 18, 0), local(2030, 3, 5, 10, 0)
    for d in (d_answered, d_silent):
        followup_sent(d, 0, day0)
    patient_texted(d_answered, day0 + timedelta(minutes=10))
    followup_sent(d_undelivered, 0, day0, delivery="undelivered")
    for d in (d_answered, d_silent, d_undelivered):
        followup_sent(d, 1, day1)
    run_once(day1 + timedelta(minutes=1))
    assert [(m.conversation_id, m.details) for m in marks()] == [(silent, {"unanswered": 2})]


def _incomplete_web_conversation(cid: str, start: datetime, words: str) -> datetime:
    save_events(cid, [(start, "session"), (start, "patient", f"my hip is sore {words}"),
                      (start, "slot", "requested_slot", "bleeding"),
                      (start, "bot", "Is there any bleeding from the biopsy site?"),
                      (start + timedelta(minutes=1), "patient", "no bleeding"),
                      (start + timedelta(minutes=1), "slot", "bleeding", "none"),
                      (start + timedelta(minutes=1), "slot", "requested_slot", "fever"),
                      (start + timedelta(minutes=1), "bot", "Have you had a fever or chills?")])
    return start + timedelta(minutes=1)


def test_a_conversation_stopped_short_of_advice_is_incomplete_with_what_was_answered(alerts_db):
    alerts_db.setenv("ALERT_INCOMPLETE_MINUTES", "120")
    stopped, finished, chat_only = unique("web"), unique("web"), unique("web")
    start = local(2030, 3, 4, 10, 0)
    last = _incomplete_web_conversation(stopped, start, "x")
    _incomplete_web_conversation(finished, start, "y")
    save_events(finished, [(last, "slot", "triage_level", "emergency")])  # a red flag: advised
    save_events(chat_only, [(start, "session"), (start, "patient", "when do results come?"),
                            (start, "bot", "Your team will tell you.")])
    run_once(last + timedelta(minutes=119))
    assert marks() == []
    run_once(last + timedelta(minutes=120))
    [mark] = marks()
    assert (mark.kind, mark.conversation_id, mark.channel_group, mark.since) == (
        "incomplete", stopped, "web", last)
    assert mark.details["answered"] == {"bleeding": "none"}
    assert mark.details["unanswered"] == ["fever", "swelling", "pus", "lymph_nodes"]
    assert mark.reminder == "not_sms"

    run_once(last + timedelta(minutes=180))  # checked once: nothing new
    assert len(marks()) == 1
    save_events(stopped, [(last + timedelta(hours=4), "patient", "sorry, got distracted")])
    run_once(last + timedelta(hours=4, minutes=1))
    [mark] = marks()
    assert mark.resolution == "new_message"


def test_what_counts_as_unanswered_is_the_dialogues():
    """The incomplete check reads the registry's own rule (bot.questions), as the advice
    action does: not asked, or a follow-up marked not needed, is unanswered."""
    from bot.questions import MAIN_QUESTIONS, NOT_ASKED, QUESTIONS, unanswered_main_questions

    first, second, *rest = MAIN_QUESTIONS
    cases = [({}, list(MAIN_QUESTIONS)), ({q: QUESTIONS[q].values[0] for q in MAIN_QUESTIONS}, []),
             ({first: NOT_ASKED, second: "present"}, [first, *rest]),
             ({q: None for q in MAIN_QUESTIONS}, list(MAIN_QUESTIONS)),
             ({MAIN_QUESTIONS[-1]: "none", "other": 1}, list(MAIN_QUESTIONS[:-1]))]
    for slots, expected in cases:
        assert unanswered_main_questions(slots) == expected


def test_sms_patient_gets_one_reminder_never_in_quiet_hours(alerts_db, sms_fakes):
    from bot.sms import outbox as sms_outbox
    from bot.sms.settings import sms_settings
    from bot.sms.texts import fits

    alerts_db.setenv("ALERT_INCOMPLETE_MINUTES", "60")
    alerts_db.setenv("ALERT_NO_REPLY_HOURS", "0.5")
    cid = unique("sms")
    d = discharge(cid, phone="+447700900777")
    evening = local(2030, 3, 4, 19, 30)
    followup_sent(d, 0, evening - timedelta(minutes=5))
    patient_texted(d, evening, "a bit sore")
    save_events(cid, [(evening - timedelta(minutes=5), "session"),
                      (evening - timedelta(minutes=5), "followup"),
                      (evening - timedelta(minutes=5), "slot", "requested_slot", "bleeding"),
                      (evening, "patient", "a bit sore"),
                      (evening, "slot", "requested_slot", "fever")], channel="sms")
    run_once(local(2030, 3, 4, 21, 0))  # quiet hours: marked, reminder waits
    [mark] = marks()
    assert (mark.kind, mark.reminder) == ("incomplete", "waiting")
    run_once(local(2030, 3, 5, 7, 59))
    with session() as s:
        assert s.scalars(select(OutboundSms).where(OutboundSms.kind == "reminder")).all() == []

    morning = local(2030, 3, 5, 8, 0)
    run_once(morning)
    followup_sent(d, 1, morning + timedelta(minutes=10))  # unanswered: a no-reply mark too,
    run_once(morning + timedelta(hours=1))                # but no second reminder
    with session() as s:
        reminders_sent = s.scalars(select(OutboundSms).where(OutboundSms.kind == "reminder")).all()
    [text] = reminders_sent
    assert text.body.endswith(FAILSAFE_LINE) and fits(text.body)
    assert text.not_after == local(2030, 3, 5, 21, 0) and text.to_number == "+447700900777"
    kinds = {m.kind: m.reminder for m in marks()}
    assert kinds == {"incomplete": "queued", "no_reply": "one_sent"}

    assert sms_outbox.deliver(sms_settings(), text.id, morning + timedelta(minutes=1)) == "sent"
    assert sms_fakes.twilio.bodies_to("+447700900777") == [text.body]


def test_no_reminder_after_stop_or_once_quiet_hours_have_begun(alerts_db, sms_fakes):
    cfg_now = local(2030, 3, 5, 10, 0)
    alerts_db.setenv("ALERT_NO_REPLY_HOURS", "1")
    opted, cid2 = unique("sms"), unique("sms")
    d1, d2 = discharge(opted, phone="+447700900801"), discharge(cid2, phone="+447700900802")
    with session() as s, s.begin():
        s.add(OptOut(phone="+447700900801", opted_out=True, changed_at=cfg_now, keyword="STOP"))
    followup_sent(d1, 0, cfg_now - timedelta(hours=2))
    followup_sent(d2, 0, cfg_now - timedelta(hours=2))
    run_once(cfg_now)
    assert {m.conversation_id: m.reminder for m in marks()} == {opted: "opted_out",
                                                                cid2: "queued"}
    # Its text expires if the SMS outbox cannot send it before the quiet hours.
    with session() as s:
        text = s.scalars(select(OutboundSms).where(OutboundSms.kind == "reminder")).one()
    assert text.not_after == local(2030, 3, 5, 21, 0)
    assert reminders.reminder_text(settings(), kind="no_reply", procedure="bone biopsy",
                                   is_child=True).count("your child's bone biopsy") == 1


# --- the daily digest ---------------------------------------------------------------------


def _digests(server: SmtpServer) -> list[email.message.EmailMessage]:
    return [m for m in server.handler.parsed() if "digest" in m["Subject"]]


def test_the_digest_goes_at_its_local_time_once_a_day_with_the_chart(alerts_db, smtp):
    from PIL import Image

    use_smtp(alerts_db, smtp)
    alerts_db.setenv("ALERT_DIGEST_TO", "ir-lead@hospital.test")
    alerts_db.setenv("ALERT_NO_REPLY_HOURS", "1")
    words = f"private-{uuid.uuid4().hex}"
    open_alert, quiet_sms, incomplete_web = unique("web"), unique("sms"), unique("web")
    sunday = local(2030, 3, 10, 12, 0)
    save_messages(open_alert, [("patient", f"it is spreading {words}")])
    save_outcome(open_alert, "urgent", at=sunday)
    save_outcome(unique("web"), "self_care", at=sunday)
    d = discharge(quiet_sms)
    followup_sent(d, 0, sunday - timedelta(hours=3))
    with session() as s, s.begin():
        s.add(OutboundSms(to_number="+447700900999", body="x", kind="reply", status="failed",
                          attempts=6, next_attempt_at=sunday, check_before_send=False,
                          created_at=sunday, discharge_id=d))
    last = _incomplete_web_conversation(incomplete_web, sunday - timedelta(hours=4), words)
    run_once(sunday)
    run_once(last + timedelta(hours=3))

    alerts_db.setenv("ALERT_DIGEST_AT", "08:30")
    run_once(local(2030, 3, 11, 8, 29))
    assert _digests(smtp) == []
    run_once(local(2030, 3, 11, 8, 30))
    run_once(local(2030, 3, 11, 8, 31))
    run_once(local(2030, 3, 11, 14, 0))
    [message] = _digests(smtp)
    assert message["To"] == "ir-lead@hospital.test"
    assert message["Subject"] == "Aftercare bot digest, Mon 11 Mar: 1 alert not acknowledged"
    body = message.get_body(("plain",)).get_content()
    for expected in ("Urgent: 1", "Self-care: 1", "Alerts not acknowledged: 1",
                     f"conversation?id={open_alert}", "No reply: call the patient: 1",
                     f"conversation?id={quiet_sms}", "Incomplete conversations",
                     "1 of 5 main questions answered (bleeding from the site)",
                     f"conversation?id={incomplete_web}", "Texts that failed: 1",
                     "reply text: failed", "Staff console: https://console.test/"):
        assert expected in body, expected
    html = message.get_body(("html",)).get_content()
    [image] = [p for p in message.walk() if p.get_content_type() == "image/png"]
    cid = image["Content-ID"].strip("<>")
    assert f'src="cid:{cid}"' in html
    png = image.get_content()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert Image.open(io.BytesIO(png)).size == (1440, 532)
    assert words not in smtp.handler.messages[-1].decode() and words not in texts_of(message)

    run_once(local(2030, 3, 12, 8, 30))  # the next day: one more, from where the last ended
    assert len(_digests(smtp)) == 2
    with session() as s:
        daily = list(s.scalars(select(Bundle).where(Bundle.kind == "daily").order_by(Bundle.id)))
    assert [b.run_on for b in daily] == [dt.date(2030, 3, 11), dt.date(2030, 3, 12)]
    assert daily[1].period_start == daily[0].period_end == local(2030, 3, 11, 8, 30)
    assert "Urgent: 0" in _digests(smtp)[1].get_body(("plain",)).get_content()


def test_send_digest_now_sends_at_once_without_taking_the_days_digest(alerts_db, smtp, capsys):
    use_smtp(alerts_db, smtp)
    assert cli(["send-digest-now"]) == 0
    assert "digest" in capsys.readouterr().out and len(_digests(smtp)) == 1
    with session() as s:
        assert s.scalar(select(Bundle.kind)) == "manual"
    cfg = alert_settings()
    today = datetime.now(timezone.utc)
    assert digest.run_if_due(cfg, digest.scheduled_at(
        today.astimezone(cfg.core.timezone).date(), cfg)) is not None


def test_the_chart_png_matches_the_console_chart():
    from PIL import Image

    from bot.alerts import png
    from bot.console import chart
    from bot.console.queue import Overview

    days = [dt.date(2030, 3, 1) + timedelta(days=i) for i in range(30)]
    per_day = {d: {"self_care": 3, "none": 0, "contact_team": 2, "urgent": 1, "emergency": 0}
               for d in days}
    built = chart.build(Overview(0, {}, days, per_day, 180))
    image = Image.open(io.BytesIO(png.render(built))).convert("RGB")
    bar = built.bars[0]
    centre = (round((bar.x + bar.width / 2) * 2), round((bar.y + bar.height / 2) * 2))
    assert "#{:02x}{:02x}{:02x}".format(*image.getpixel(centre)) == bar.colour
    assert base64.b64encode(png.render(built))  # renders twice the same way without error


# --- settings --------------------------------------------------------------------------


def test_settings_are_checked_with_the_setting_named(alerts_db):
    alerts_db.setenv("ALERT_LEVEL_WEB", "very_urgent")
    with pytest.raises(ValueError, match="ALERT_LEVEL_WEB"):
        alert_settings()
    alerts_db.setenv("ALERT_LEVEL_WEB", "off")
    alerts_db.setenv("ALERT_WEBHOOK_FORMAT", "discord")
    with pytest.raises(ValueError, match="ALERT_WEBHOOK_FORMAT"):
        alert_settings()
    alerts_db.setenv("ALERT_WEBHOOK_FORMAT", "teams")
    assert alert_settings().web_threshold is None
    assert "errors" not in run_once(MONDAY_10)  # nothing configured: nothing goes wrong
    alerts_db.setenv("ALERT_DIGEST_AT", "8.30")
    assert run_once(MONDAY_10) == {}  # a wrong setting: logged, nothing done


# --- PostgreSQL ---------------------------------------------------------------------------

POSTGRES_SCRIPT = r'''
import json, sys, threading
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo
from alembic import command
from alembic.config import Config
from sqlalchemy import JSON, Column, Float, Integer, MetaData, String, Table, Text, func, select
from bot.config import PROJECT_ROOT
from bot.storage.db import engine, session
from bot.storage.models import TriageOutcome
from bot.alerts.job import run_once
from bot.alerts.models import Alert, Delivery, QuietPatient

config = Config(str(PROJECT_ROOT / "alembic.ini"))
config.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
command.upgrade(config, "heads")
events = Table("events", MetaData(), Column("id", Integer, primary_key=True),
               Column("sender_id", String(255)), Column("type_name", String(255)),
               Column("timestamp", Float), Column("intent_name", String(255)),
               Column("action_name", String(255)), Column("data", Text))
events.metadata.create_all(engine())
monday = datetime(2030, 3, 4, 10, 0, tzinfo=ZoneInfo("Europe/London")).astimezone(timezone.utc)
with session() as s, s.begin():
    for i in range(20):
        s.add(TriageOutcome(conversation_id=f"pg-{i}", channel="rest", level="emergency",
                            findings=[], advice_ids=[], sources=[], unsure_slots=[],
                            red_flag_interrupt=True, patient_is_child=False, advice_text="",
                            policy_version="x", created_at=monday))
    rows = [("user", {"event": "user", "text": "sore", "input_channel": "rest"}),
            ("slot", {"event": "slot", "name": "requested_slot", "value": "bleeding"}),
            ("user", {"event": "user", "text": "no", "input_channel": "rest"}),
            ("slot", {"event": "slot", "name": "bleeding", "value": "none"})]
    for type_name, data in rows:
        s.execute(events.insert().values(sender_id="pg-quiet", type_name=type_name,
                                         timestamp=monday.timestamp(), data=json.dumps(data)))
workers = [threading.Thread(target=run_once, args=(monday,)) for _ in range(3)]
for w in workers: w.start()
for w in workers: w.join()
run_once(monday + timedelta(hours=3))
with session() as s:
    print(json.dumps({
        "alerts": s.scalar(select(func.count()).select_from(Alert)),
        "sent": s.scalar(select(func.count()).select_from(Delivery).where(Delivery.status == "sent")),
        "deliveries": s.scalar(select(func.count()).select_from(Delivery)),
        "incomplete": [m.details for m in s.scalars(select(QuietPatient))]}))
'''


def test_the_passes_work_on_postgresql_with_several_workers(alerts_db, smtp, postgres):
    use_smtp(alerts_db, smtp)
    url = postgres.create_database(f"alerts_{uuid.uuid4().hex[:8]}")
    done = subprocess.run([sys.executable, "-c", POSTGRES_SCRIPT], cwd=PROJECT_ROOT,
                          env={**os.environ, "DATABASE_URL": url}, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["alerts"] == 20 and result["deliveries"] == 20 and result["sent"] == 20
    assert len(smtp.handler.messages) == 20
    assert result["incomplete"] == [{"answered": {"bleeding": "none"},
                                     "unanswered": ["fever", "swelling", "pus", "lymph_nodes"]}]


# --- retention ----------------------------------------------------------------------------


def test_retention_conditions_take_a_conversations_alert_rows_and_old_bundles(alerts_db, smtp):
    from sqlalchemy import delete

    from bot.alerts import retention

    use_smtp(alerts_db, smtp)
    alerts_db.setenv("ALERT_DIGEST_AT", "08:30")
    gone, kept = unique("web"), unique("web")
    saturday = local(2030, 3, 9, 11, 0)
    save_outcome(gone, "urgent", at=saturday)   # held, then released in a bundle
    run_once(saturday)
    _incomplete_web_conversation(gone, saturday, "z")
    run_once(local(2030, 3, 11, 9, 0))          # released, with Monday's digest
    save_outcome(kept, "emergency", at=local(2030, 3, 11, 9, 5))
    run_once(local(2030, 3, 11, 9, 5))
    # Saturday's and Monday's digests, the held alert's bundle, the kept alert
    assert len(marks()) == 1 and len(deliveries()) == 4

    with session() as s, s.begin():
        for table, where in retention.rows_of([gone]) + retention.by_age(local(2030, 3, 12)):
            s.execute(delete(table).where(where))
    with session() as s:
        assert [a.conversation_id for a in s.scalars(select(Alert))] == [kept]
        assert s.scalars(select(QuietPatient)).all() == []
        left = s.scalars(select(Delivery)).all()
        assert [d.alert_id for d in left] == [alert_rows()[0].id]
        assert [b.kind for b in s.scalars(select(Bundle))] == []
