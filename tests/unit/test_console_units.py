"""The staff console's parts without a server: the queue's order and keyset pages against a
plain sort, the sync from outcomes and Rasa events, sessions, lock-out, CSV, chart.

Queue tests use a database of their own (migrated by the real Alembic migrations), so
exact orders and counts are not disturbed by other tests' rows.
"""
from __future__ import annotations

import json
import random
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import insert, select, update

from bot.console import auth, chart, export, queue, transcript
from bot.console.events import EVENTS
from bot.console.models import LoginAttempt, QueueEntry, Review, StaffSession
from bot.console.settings import ConsoleSettings
from bot.storage.db import engine, session
from bot.storage.models import TriageOutcome
from bot.storage.times import aware

NOW = datetime.now(timezone.utc)


@pytest.fixture
def own_db(tmp_path: Path) -> str:
    from alembic import command
    from alembic.config import Config

    from bot.config import PROJECT_ROOT

    url = f"sqlite:///{tmp_path / 'console-unit.db'}"
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    config.set_main_option("sqlalchemy.url", url)
    command.upgrade(config, "heads")
    EVENTS.create(engine(url))  # Rasa's table (Rasa creates it in real use)
    return url


def add_outcome(url: str, cid: str, level: str, at: datetime, channel: str = "rest") -> int:
    with engine(url).begin() as c:
        return c.execute(insert(TriageOutcome).values(
            conversation_id=cid, channel=channel, level=level, findings=["site.none"],
            advice_ids=["site_none"], sources=[], unsure_slots=[], red_flag_interrupt=False,
            patient_is_child=False, advice_text="", policy_version="x",
            created_at=at)).inserted_primary_key[0]


def add_event(url: str, cid: str, type_name: str, at: datetime, **data) -> None:
    body = {"event": type_name, "timestamp": at.timestamp(), **data}
    with engine(url).begin() as c:
        c.execute(insert(EVENTS).values(sender_id=cid, type_name=type_name,
                                        timestamp=at.timestamp(), data=json.dumps(body)))


def staff(url: str, role: str = "clinician", name: str = "nurse"):
    with session(url) as s, s.begin():
        return auth.create_staff(s, name, "a long test password 1", role)


def walk(url: str, f: queue.Filters, size: int) -> list[str]:
    seen, after = [], None
    with session(url) as s:
        while True:
            page = queue.page(s, f, after, size)
            seen += [row.entry.conversation_id for row in page.rows]
            assert len(page.rows) <= size
            if not page.next_cursor:
                return seen
            after = queue.Cursor.decode(page.next_cursor)


# --- the queue -------------------------------------------------------------------------
def test_keyset_pages_give_exactly_the_sorted_filtered_list(own_db):
    rng = random.Random(7)
    levels = ["emergency", "urgent", "contact_team", "self_care"]
    procedures = {}
    for i in range(140):
        at = NOW - timedelta(hours=rng.randrange(24 * 60))
        channel = rng.choice(["rest", "sms"])
        add_outcome(own_db, f"c{i:03d}", rng.choice(levels), at, channel)
        if channel == "sms" and rng.random() < 0.8:  # SMS discharges (others: older ids)
            procedures[f"c{i:03d}"] = rng.choice(["bone_biopsy", "bone_marrow"])
            add_discharge(own_db, f"c{i:03d}", f"+4474000{i:05d}", at - timedelta(hours=2),
                          procedures[f"c{i:03d}"])
    same_time = NOW - timedelta(days=3)
    for i in range(6):  # ties on last_at are broken by id
        add_outcome(own_db, f"tie{i}", "urgent", same_time)
    queue.sync(own_db)
    nurse = staff(own_db)
    with session(own_db) as s, s.begin():
        for cid in [f"c{i:03d}" for i in range(0, 140, 3)] + ["tie2"]:
            queue.add_review(s, cid, nurse, "no_action", "")
    with session(own_db) as s:
        entries = list(s.scalars(select(QueueEntry)))
    cases = [queue.Filters(), queue.Filters(reviewed=False),
             queue.Filters(levels=("urgent", "emergency"), channel="sms"),
             queue.Filters(date_from=(NOW - timedelta(days=20)).date(),
                           date_to=(NOW - timedelta(days=5)).date(), reviewed=True),
             queue.Filters(procedure="bone_marrow"),
             queue.Filters(procedure="bone_biopsy", reviewed=False, levels=("urgent",))]
    tz = queue.settings().timezone
    for f in cases:
        def keep(e: QueueEntry) -> bool:
            local = aware(e.last_at).astimezone(tz).date()
            return ((not f.levels or e.level in f.levels)
                    and (f.reviewed is None or e.reviewed == f.reviewed)
                    and (not f.channel or e.channel_group == f.channel)
                    and (not f.procedure or procedures.get(e.conversation_id) == f.procedure)
                    and (not f.date_from or local >= f.date_from)
                    and (not f.date_to or local <= f.date_to))
        expected = [e.conversation_id for e in sorted(filter(keep, entries), key=queue.sort_key)]
        for size in (1, 7, 50, 500):
            assert walk(own_db, f, size) == expected, (f, size)
        with session(own_db) as s:
            assert queue.count(s, f) == len(expected)
    order = walk(own_db, queue.Filters(), 500)
    with session(own_db) as s:
        by_id = {e.conversation_id: e for e in s.scalars(select(QueueEntry))}
    keys = [(by_id[c].reviewed, -by_id[c].level_rank) for c in order]
    assert keys == sorted(keys)  # unreviewed first, then emergency .. self-care


def test_sync_reads_outcomes_and_patient_messages(own_db):
    t0 = NOW - timedelta(hours=2)
    add_event(own_db, "web-1", "action", t0, name="action_session_start")
    add_event(own_db, "web-1", "user", t0, text="hi", input_channel="rest", metadata={})
    add_event(own_db, "sms-1", "user", t0, text="EXTERNAL: follow_up", input_channel="sms",
              metadata={"is_external": True})  # a check-in nobody answered: not in the queue
    queue.sync(own_db)
    with session(own_db) as s:
        rows = {e.conversation_id: e for e in s.scalars(select(QueueEntry))}
    assert set(rows) == {"web-1"}
    assert rows["web-1"].level == "none" and rows["web-1"].channel_group == "web"
    add_event(own_db, "sms-1", "user", t0 + timedelta(minutes=5), text="yes bleeding",
              input_channel="twilio_sms", metadata={})
    add_outcome(own_db, "web-1", "self_care", t0 + timedelta(minutes=3))
    add_outcome(own_db, "web-1", "contact_team", t0 + timedelta(minutes=4))
    add_outcome(own_db, "web-1", "self_care", t0 + timedelta(minutes=6))
    assert queue.sync(own_db) == 2
    assert queue.sync(own_db) == 0  # nothing new: nothing changes
    with session(own_db) as s:
        rows = {e.conversation_id: e for e in s.scalars(select(QueueEntry))}
        # the highest advice given wins; the last activity moves on
        assert rows["web-1"].level == "contact_team" and rows["web-1"].outcome_count == 3
        gap = aware(rows["web-1"].last_at) - (t0 + timedelta(minutes=6))
        assert abs(gap) < timedelta(milliseconds=1)
        assert rows["sms-1"].channel_group == "sms" and rows["sms-1"].level == "none"
        # refresh is idempotent
        assert queue.refresh(s, ["web-1", "sms-1"]) == 0


def test_review_covers_the_advice_seen_and_new_advice_reopens(own_db):
    add_outcome(own_db, "c1", "urgent", NOW - timedelta(hours=1))
    queue.sync(own_db)
    nurse = staff(own_db)
    with session(own_db) as s, s.begin():
        with pytest.raises(ValueError):
            queue.add_review(s, "c1", nurse, "maybe", "")
        with pytest.raises(ValueError):
            queue.add_review(s, "c1", nurse, "other", "  ")
        with pytest.raises(LookupError):
            queue.add_review(s, "nobody", nurse, "no_action", "")
        review = queue.add_review(s, "c1", nurse, "called_back", "ok")
    with session(own_db) as s:
        entry = s.scalar(select(QueueEntry).where(QueueEntry.conversation_id == "c1"))
        assert entry.reviewed and entry.last_review_id == review.id
    add_outcome(own_db, "c1", "emergency", NOW)
    queue.sync(own_db)
    with session(own_db) as s:
        entry = s.scalar(select(QueueEntry).where(QueueEntry.conversation_id == "c1"))
        assert not entry.reviewed and entry.level == "emergency"
        assert queue.page(s, queue.Filters(reviewed=False)).rows[0].review.id == review.id


def test_search_matches_ids_and_phone_forms(own_db):
    for cid in ("+447700900123", "abc-123", "abc-456", "zzz"):
        add_outcome(own_db, cid, "self_care", NOW)
    queue.sync(own_db)
    with session(own_db) as s:
        def found(term):
            return sorted(r.entry.conversation_id for r in queue.page(s, queue.Filters(search=term)).rows)
        assert found("abc") == ["abc-123", "abc-456"]
        assert found("abc-456") == ["abc-456"]
        assert found("07700 900123") == ["+447700900123"]
        assert found("+44 7700 900123") == ["+447700900123"]
        assert found("nothing") == []


def test_overview_counts_days_and_waiting(own_db):
    tz = queue.settings().timezone
    today = datetime.now(tz).date()
    noon = lambda d: datetime.combine(d, datetime.min.time(), tzinfo=tz) + timedelta(hours=12)  # noqa: E731
    add_outcome(own_db, "a", "emergency", noon(today))
    add_outcome(own_db, "b", "self_care", noon(today - timedelta(days=2)))
    add_outcome(own_db, "c", "urgent", noon(today - timedelta(days=40)))  # outside 30 days
    queue.sync(own_db)
    with session(own_db) as s:
        view = queue.overview(s, today=today)
    assert view.waiting == 3 and view.waiting_by_level["emergency"] == 1
    assert len(view.days) == 30 and view.days[-1] == today
    assert view.per_day[today]["emergency"] == 1
    assert view.per_day[today - timedelta(days=2)]["self_care"] == 1
    assert view.total_30_days == 2
    drawn = chart.build(view)
    assert len(drawn.bars) == 2 and all(b.height > 0 for b in drawn.bars)
    assert "emergency" in drawn.bars[-1].title or "emergency" in drawn.bars[0].title


def test_events_of_any_shape_never_break_the_queue_transcript_or_export(own_db):
    """Rasa stores what a client or its API was given: metadata, channel, parse data and a
    bot message's data need not be what our channels send."""
    t0 = NOW - timedelta(minutes=5)
    add_event(own_db, "shapes", "user", t0, text="hi", input_channel={"not": "a name"},
              metadata="not a dict")
    add_event(own_db, "shapes", "user", t0, text=["not", "text"], input_channel=None,
              metadata=["is_external"], parse_data="nothing")
    add_event(own_db, "shapes", "user", t0, text="x", metadata={"is_external": True},
              parse_data={"intent": "not a dict"})
    add_event(own_db, "shapes", "bot", t0, text="ok", data=["not", "a dict"])
    add_event(own_db, "shapes", "bot", t0, text="ok", data={"buttons": "Yes", "custom": [1]})
    queue.sync(own_db)
    with session(own_db) as s, s.begin():
        t = transcript.load(s, "shapes")
        rows = list(queue.all_rows(s, queue.Filters(), 100))
    assert [m.kind for m in t.messages] == ["patient", "patient", "system", "bot", "bot"]
    assert [r.entry.conversation_id for r in rows] == ["shapes"]
    text, n = export.to_csv(rows)
    assert n == 1 and "shapes" in text


def test_transcript_shows_what_the_patient_saw(own_db, monkeypatch):
    t0 = NOW - timedelta(minutes=30)
    add_event(own_db, "t1", "session_started", t0)
    add_event(own_db, "t1", "user", t0, text="<b>hi</b>", input_channel="rest", metadata={})
    add_event(own_db, "t1", "bot", t0, text="Any bleeding?",
              data={"buttons": [{"title": "Yes", "payload": "/affirm"}]})
    add_event(own_db, "t1", "slot", t0, name="bleeding", value="no")  # not shown
    add_event(own_db, "t1", "bot", t0, text="I can't assess this right now.",
              data={"custom": {"failsafe": True}})
    add_event(own_db, "t1", "restart", t0)
    with engine(own_db).begin() as c:
        c.execute(insert(TriageOutcome).values(
            conversation_id="t1", channel="rest", level="urgent",
            findings=["site.redness_spreading", "made.up"], advice_ids=["redness_spreading"],
            sources=["safety-addition"], unsure_slots=["fever"], red_flag_interrupt=False,
            patient_is_child=True, advice_text="", policy_version="old", created_at=t0))
    with session(own_db) as s, s.begin():
        assert transcript.load(s, "nothing-here") is None
        t = transcript.load(s, "t1")
    kinds = [(m.kind, m.text) for m in t.messages]
    assert kinds == [("patient", "<b>hi</b>"), ("bot", "Any bleeding?"),
                     ("bot", "I can't assess this right now."), ("system", "Conversation started again")]
    assert t.messages[1].buttons == ["Yes"] and t.messages[2].failsafe
    view = t.outcomes[0]
    assert view.level.slug == "urgent" and not view.current_policy
    assert view.findings[0].advice_id == "redness_spreading" and view.findings[1].level is None
    assert view.advice[0].sources[0].name.startswith("standard safety advice")
    from bot.console.alerts_view import ConversationAlerts
    from bot.console.app import TEMPLATES
    html = TEMPLATES.get_template("transcript.html").render(
        t=t, alerts=ConversationAlerts(), staff=None, csrf="x", path="/", notice=None,
        error="", note="", outcome="")
    assert "&lt;b&gt;hi&lt;/b&gt;" in html and "<b>hi</b>" not in html


def add_discharge(url: str, cid: str, phone: str, created: datetime,
                  procedure: str = "bone_biopsy") -> int:
    from bot.sms.models import Discharge
    with engine(url).begin() as c:
        return c.execute(insert(Discharge).values(
            phone=phone, procedure=procedure, procedure_at=created - timedelta(hours=1),
            is_child=False, conversation_id=cid, source="test",
            created_at=created)).inserted_primary_key[0]


def add_text(url: str, table, **values) -> int:
    with engine(url).begin() as c:
        return c.execute(insert(table).values(**values)).inserted_primary_key[0]


def test_sync_lists_sms_conversations_by_texts_the_bot_never_saw_or_that_failed(own_db):
    from bot.sms import console_hooks as sms
    from bot.sms.models import InboundSms, OutboundSms
    t0 = NOW - timedelta(hours=3)
    quiet = add_discharge(own_db, "sms-quiet", "+447400000001", t0)      # check-in delivered
    failed = add_discharge(own_db, "sms-failed", "+447400000002", t0)    # check-in undelivered
    stopped = add_discharge(own_db, "sms-stopped", "+447400000003", t0)  # texts after STOP
    waiting = add_discharge(own_db, "sms-waiting", "+447400000004", t0)  # a text not yet read
    out = dict(kind="followup", attempts=1, next_attempt_at=t0, status="sent", body="check-in")
    add_text(own_db, OutboundSms, to_number="+447400000001", discharge_id=quiet,
             created_at=t0, delivery_status="delivered", **out)
    add_text(own_db, OutboundSms, to_number="+447400000002", discharge_id=failed,
             created_at=t0 + timedelta(minutes=1), delivery_status="undelivered", **out)
    add_text(own_db, InboundSms, message_sid="SM1", from_number="+447400000003", body="STOP",
             discharge_id=stopped, status="keyword", received_at=t0 + timedelta(minutes=2))
    add_text(own_db, InboundSms, message_sid="SM2", from_number="+447400000004", body="help me",
             status="received", received_at=t0 + timedelta(minutes=3))  # no discharge id yet
    with session(own_db) as s:
        assert [t.body for t in sms.conversation(s, "sms-waiting").texts] == ["help me"]
        assert sms.conversation(s, "sms-waiting").discharge.id == waiting
    queue.sync(own_db)
    with session(own_db) as s:
        rows = {e.conversation_id: e for e in s.scalars(select(QueueEntry))}
        assert set(rows) == {"sms-failed", "sms-stopped", "sms-waiting"}
        assert all(e.channel_group == "sms" and e.level == "none" for e in rows.values())
        marked = {r.entry.conversation_id: r.not_delivered for r in queue.page(s, queue.Filters()).rows}
        assert marked == {"sms-failed": True, "sms-stopped": False, "sms-waiting": False}
        assert queue.refresh(s, list(rows) + ["sms-quiet"]) == 0  # the same from scratch
    assert queue.sync(own_db) == 0  # and nothing more to do
    later = NOW - timedelta(minutes=5)  # a text after STOP: newer activity, the row moves up
    add_text(own_db, InboundSms, message_sid="SM3", from_number="+447400000003", body="worse",
             discharge_id=stopped, status="opted_out", received_at=later)
    assert queue.sync(own_db) == 1
    with session(own_db) as s:
        entry = s.scalar(select(QueueEntry).where(QueueEntry.conversation_id == "sms-stopped"))
        assert queue._naive_utc(entry.last_at) == queue._naive_utc(later)


def test_a_receipt_that_comes_later_still_lists_the_conversation(own_db):
    from bot.sms.models import OutboundSms
    t0 = NOW - timedelta(hours=1)
    ids = [add_discharge(own_db, f"sms-late-{i}", f"+44740000001{i}", t0 - timedelta(hours=1))
           for i in range(3)]
    texts = [add_text(own_db, OutboundSms, to_number=f"+44740000001{i}", discharge_id=d,
                      kind="followup", attempts=1, next_attempt_at=t0, status="sent",
                      body="check-in", created_at=t0 + timedelta(minutes=i))
             for i, d in enumerate(ids)]
    queue.sync(own_db)  # sent, no receipt yet: no work for anyone
    with session(own_db) as s:
        assert s.scalars(select(QueueEntry)).all() == []
    with engine(own_db).begin() as c:  # then Twilio's status callbacks say undelivered
        c.execute(update(OutboundSms).where(OutboundSms.id.in_(texts))
                  .values(delivery_status="undelivered", delivery_error="30003"))
    queue.sync(own_db, batch=2)  # more than a batch: the rest at the next sync
    queue.sync(own_db, batch=2)
    with session(own_db) as s:
        rows = queue.page(s, queue.Filters()).rows
    assert sorted(r.entry.conversation_id for r in rows) == [f"sms-late-{i}" for i in range(3)]
    assert all(r.not_delivered and r.phone.startswith("07400 00001") for r in rows)


# --- sessions and lock-out -------------------------------------------------------------
def test_sessions_expire_when_idle_or_old(own_db):
    cfg = ConsoleSettings(session_idle_minutes=30, session_max_hours=8)
    person = staff(own_db)
    with session(own_db) as s, s.begin():
        token = auth.create_session(s, cfg, s.merge(person))
    with session(own_db) as s, s.begin():
        assert auth.load_session(s, cfg, token) is not None
        assert auth.load_session(s, cfg, token + "x") is None
        s.execute(update(StaffSession).values(last_seen_at=NOW - timedelta(minutes=31)))
    with session(own_db) as s, s.begin():
        assert auth.load_session(s, cfg, token) is None  # idle too long, and now deleted
    with session(own_db) as s, s.begin():
        token = auth.create_session(s, cfg, s.merge(person))
        s.flush()
        s.execute(update(StaffSession).values(expires_at=NOW - timedelta(seconds=1)))
    with session(own_db) as s, s.begin():
        assert auth.load_session(s, cfg, token) is None


def log_in(url: str, cfg: ConsoleSettings, username: str, password: str, ip: str):
    """The console's three steps: reserve, check the password, finish."""
    with session(url) as s, s.begin():
        reservation = auth.reserve_attempt(s, cfg, username, ip)
    if reservation.attempt_id is None:
        return auth.LoginResult(locked_until=reservation.locked_until)
    ok = auth.check_password(reservation, password)
    with session(url) as s, s.begin():
        return auth.finish_attempt(s, cfg, reservation, password, ok)


def test_lockout_window_and_reset(own_db):
    cfg = ConsoleSettings(lockout_attempts=3, lockout_minutes=15, ip_failure_limit=5)
    staff(own_db, name="lock-me")
    right = "a long test password 1"
    for _ in range(2):
        assert log_in(own_db, cfg, "lock-me", "wrong", "10.0.0.1").locked_until is None
    assert log_in(own_db, cfg, "Lock-Me ", "wrong", "10.0.0.1").locked_until is not None
    assert log_in(own_db, cfg, "lock-me", right, "10.0.0.1").staff is None
    with session(own_db) as s, s.begin():
        later = auth.now_utc() + timedelta(minutes=16)
        assert auth.locked_until(s, cfg, "lock-me", "10.0.0.1", now=later) is None
        auth.unlock(s, "lock-me")
    assert log_in(own_db, cfg, "lock-me", right, "10.0.0.1").staff
    # one address trying many names
    for i in range(5):
        log_in(own_db, cfg, f"guess{i}", "x", "10.9.9.9")
    with session(own_db) as s:
        assert auth.locked_until(s, cfg, "someone-else", "10.9.9.9") is not None
        assert auth.locked_until(s, cfg, "someone-else", "10.0.0.2") is None


def test_a_pending_attempt_counts_and_a_refused_one_does_not(own_db):
    cfg = ConsoleSettings(lockout_attempts=2, lockout_minutes=15, ip_failure_limit=50)
    staff(own_db, name="racer")
    with session(own_db) as s, s.begin():
        first = auth.reserve_attempt(s, cfg, "racer", "10.0.0.5")
    with session(own_db) as s, s.begin():
        second = auth.reserve_attempt(s, cfg, "racer", "10.0.0.5")
    with session(own_db) as s, s.begin():  # two passwords are being checked: no third
        third = auth.reserve_attempt(s, cfg, "racer", "10.0.0.5")
    assert first.attempt_id and second.attempt_id and third.attempt_id is None
    assert third.locked_until is not None
    with session(own_db) as s:
        kinds = sorted(s.scalars(select(LoginAttempt.kind).where(LoginAttempt.username == "racer")))
    assert kinds == ["pending", "pending"]  # the refused one left no row
    # A disabled account, or a password changed meanwhile, is no success.
    ok = auth.check_password(first, "a long test password 1")
    with session(own_db) as s, s.begin():
        auth.set_password(s, auth.find_staff(s, "racer"), "another long password 2")
    with session(own_db) as s, s.begin():
        assert ok and auth.finish_attempt(s, cfg, first, "a long test password 1", ok).staff is None


def test_password_and_username_rules(own_db):
    assert auth.password_problem("short")
    assert auth.password_problem("nurse-jo is my password", "nurse-jo")
    assert auth.password_problem("a long enough password") is None
    assert auth.username_problem("Jo Smith") and auth.username_problem("x")
    assert auth.username_problem("jo.smith@nhs.net") is None
    hashed = auth.hash_password("a long enough password")
    assert hashed.startswith("$argon2id$")
    assert auth.verify_password(hashed, "a long enough password")
    assert not auth.verify_password(hashed, "another") and not auth.verify_password("junk", "x")
    with session(own_db) as s, s.begin():
        with pytest.raises(ValueError):
            auth.create_staff(s, "ok-name", "a long enough password", "superuser")


# --- small parts -------------------------------------------------------------------------
def test_cursor_round_trip_and_garbage():
    at = datetime(2026, 3, 4, 5, 6, 7, 891011)
    cursor = queue.Cursor(True, 3, at, 42)
    assert queue.Cursor.decode(cursor.encode()) == cursor
    for junk in ("", "x", "1.2.3", "2.1.5.5", "1.10.5.5", "1.1.-5.5", "1.1.5.5;drop"):
        assert queue.Cursor.decode(junk) is None


def test_filters_drop_what_is_not_valid():
    from multidict import MultiDict
    f = queue.Filters.from_query(MultiDict([("level", "urgent"), ("level", "bogus"),
                                            ("level", "emergency"), ("from", "2026-13-01"),
                                            ("to", "2026-02-03"), ("channel", "fax"),
                                            ("reviewed", "maybe"), ("procedure", "x"),
                                            ("q", "  abc  ")]))
    assert f == queue.Filters(levels=("emergency", "urgent"), date_to=date(2026, 2, 3), search="abc")
    assert dict(queue.Filters.from_query(dict(f.as_query())).as_query()) == dict(f.as_query())
    assert queue.Filters.from_query({"procedure": "bone_marrow"}).procedure == "bone_marrow"


def test_channel_groups():
    assert queue.channel_group("rest") == "web"
    assert queue.channel_group("twilio_signed") == "sms" and queue.channel_group("sms") == "sms"
    assert queue.channel_group("cmdline") == "other" and queue.channel_group("") == "other"


def test_csv_cells_never_start_a_formula():
    assert export.safe_cell("=1+1") == "'=1+1" and export.safe_cell("@x") == "'@x"
    assert export.safe_cell("-2") == "'-2" and export.safe_cell("plain") == "plain"
    assert export.safe_cell(None) == "" and export.safe_cell(3) == "3"


def test_unknown_level_is_never_hidden_low():
    info = queue.level_info("brand_new_level")
    assert info.rank == queue.LEVEL_BY_SLUG["contact_team"].rank
    assert queue.level_info("emergency").rank > info.rank > queue.level_info("self_care").rank


def test_reviews_table_rejects_updates(own_db):
    nurse = staff(own_db)
    add_outcome(own_db, "r1", "urgent", NOW)
    queue.sync(own_db)
    with session(own_db) as s, s.begin():
        queue.add_review(s, "r1", nurse, "no_action", "")
    with pytest.raises(Exception, match="append-only"):
        with session(own_db) as s, s.begin():
            s.execute(update(Review).values(note="changed"))
