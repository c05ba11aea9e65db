"""Retention: conversations quiet for RETENTION_DAYS are deleted whole, on SQLite and on a
real PostgreSQL, with a fixed clock; the audit trail and opt-outs stay; a dry run deletes
nothing; the SMS worker purges once per local day at RETENTION_PURGE_AT (DST days too),
however many workers run."""
from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time as clock
import uuid
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from alembic import command
from alembic.config import Config
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.events import ActionExecuted, BotUttered, SessionStarted, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from sqlalchemy import event, func, insert, inspect, select, text
from sqlalchemy.engine import Engine

from bot.config import PROJECT_ROOT, parse_time, settings
from bot.console.models import AuditEntry, QueueEntry, Review, Staff
from bot.sms.models import Discharge, FollowUp, InboundSms, OptOut, OutboundSms
from bot.stack import free_port
from bot.storage import retention
from bot.storage.db import engine as make_engine
from bot.storage.models import RetentionRun, TriageOutcome
from bot.storage.retention import EVENTS, DailyPurge, purge

UTC = timezone.utc
LONDON = ZoneInfo("Europe/London")
NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)
DAYS = 30  # cutoff: 2026-05-16 12:00 UTC
PATIENT_TEXT = "my wound is oozing pus since the biopsy"


def ago(days: float, now: datetime = NOW) -> datetime:
    return now - timedelta(days=days)


# --- databases ---------------------------------------------------------------------------

@pytest.fixture(params=["sqlite", "postgresql"])
def db(request, tmp_root) -> Engine:
    """A fresh database: our tables by the real migrations, `events` by Rasa itself."""
    name = f"retention_{uuid.uuid4().hex[:8]}"
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_root / (name + '.db')}"
    else:
        url = request.getfixturevalue("postgres").create_database(name)
    migrate(url)
    SQLTrackerStore(host=url).engine.dispose()  # creates `events` as Rasa does
    engine = make_engine(url)
    yield engine
    engine.dispose()


def migrate(url: str) -> None:
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    config.set_main_option("sqlalchemy.url", url)
    command.upgrade(config, "heads")


# --- seeding -----------------------------------------------------------------------------

def rasa_turns(conversation_id: str, engine: Engine, *times: datetime) -> None:
    """Store, through Rasa's own tracker store, one short session at each of `times`."""
    events = []
    for at in times:
        t = at.timestamp()
        events += [ActionExecuted("action_session_start", timestamp=t), SessionStarted(timestamp=t),
                   ActionExecuted("action_listen", timestamp=t),
                   UserUttered(PATIENT_TEXT, {"name": "inform", "confidence": 1.0},
                               timestamp=t + 1),
                   BotUttered("Is it spreading?", timestamp=t + 2),
                   ActionExecuted("action_listen", timestamp=t + 2)]
    store = SQLTrackerStore(host=str(engine.url.render_as_string(hide_password=False)))
    try:
        asyncio.run(store.save(DialogueStateTracker.from_events(conversation_id, events)))
    finally:
        store.engine.dispose()


def add(engine: Engine, table, **values) -> int:
    with engine.begin() as conn:
        return conn.execute(insert(table.__table__).values(**values)).inserted_primary_key[0]


def staff(engine: Engine) -> int:
    return add(engine, Staff, username=f"nurse-{uuid.uuid4().hex[:6]}", display_name="Nurse",
               role="clinician", password_hash="x", active=True, created_at=ago(400),
               password_changed_at=ago(400))


def web_conversation(engine: Engine, cid: str, *times: datetime, staff_id: int) -> None:
    """A web chat: Rasa events, an outcome, its queue row, a review and an audit row."""
    rasa_turns(cid, engine, *times)
    last = max(times)
    add(engine, TriageOutcome, conversation_id=cid, channel="rest", level="contact_team",
        findings=["discharge"], advice_ids=["a1"], sources=["leaflet"], unsure_slots=[],
        red_flag_interrupt=False, patient_is_child=False, advice_text="Call the team.",
        policy_version="test", created_at=last)
    add(engine, QueueEntry, conversation_id=cid, channel="rest", channel_group="web",
        level="contact_team", level_rank=2, first_at=min(times), last_at=last, outcome_count=1,
        reviewed=True)
    add(engine, Review, conversation_id=cid, staff_id=staff_id, outcome="called_back",
        note="Spoke to the patient about the wound.", created_at=last + timedelta(hours=2))
    add(engine, AuditEntry, at=last + timedelta(hours=2), staff_id=staff_id, username="nurse",
        action="view_transcript", target=cid, detail={}, ip="")


def sms_conversation(engine: Engine, cid: str, procedure_at: datetime, *,
                     followup_days=(0, 1, 3, 7), phone: str = "+447700900001",
                     now: datetime = NOW) -> int:
    """A discharge with its follow-ups, a reply from the patient and our texts, and the
    Rasa conversation of the first follow-up."""
    discharge = add(engine, Discharge, phone=phone, procedure="bone_biopsy",
                    procedure_at=procedure_at, is_child=False, name="Pat", conversation_id=cid,
                    source="cli", created_at=procedure_at - timedelta(hours=2))
    for seq, day in enumerate(followup_days):
        due = procedure_at + timedelta(days=day, hours=4)
        followup = add(engine, FollowUp, discharge_id=discharge, seq=seq, day=day,
                       label=f"day {day}", due_at=due, window_end=due + timedelta(hours=3),
                       status="sent" if due < now else "scheduled", next_attempt_at=due,
                       attempts=1, done_at=due if due < now else None,
                       created_at=procedure_at - timedelta(hours=2))
        if due < now:
            add(engine, OutboundSms, to_number=phone, body="How is your biopsy site?",
                kind="followup", discharge_id=discharge, followup_id=followup, status="sent",
                attempts=1, next_attempt_at=due, check_before_send=False, created_at=due,
                sent_at=due)
    first = procedure_at + timedelta(hours=4)
    inbound = add(engine, InboundSms, message_sid=f"SM{uuid.uuid4().hex}", from_number=phone,
                  to_number="+447700900999", body=PATIENT_TEXT, num_media=0,
                  discharge_id=discharge, status="processed", received_at=first,
                  processed_at=first)
    add(engine, OutboundSms, to_number=phone, body="Is it spreading?", kind="reply",
        discharge_id=discharge, inbound_id=inbound, status="sent", attempts=1,
        next_attempt_at=first, check_before_send=False, created_at=first, sent_at=first)
    rasa_turns(cid, engine, first)
    return discharge


def unknown_sender_text(engine: Engine, received: datetime, replied: datetime) -> int:
    """A text from a number with no discharge, and our reply to it."""
    phone = f"+4477009{uuid.uuid4().int % 100000:05d}"
    inbound = add(engine, InboundSms, message_sid=f"SM{uuid.uuid4().hex}", from_number=phone,
                  body=PATIENT_TEXT, num_media=0, status="unknown_sender", received_at=received)
    add(engine, OutboundSms, to_number=phone, body="We don't recognise this number.",
        kind="unknown", inbound_id=inbound, status="sent", attempts=1, next_attempt_at=replied,
        check_before_send=False, created_at=replied, sent_at=replied)
    return inbound


# --- reading back --------------------------------------------------------------------------

def conversations(engine: Engine, table, column: str) -> set[str]:
    with engine.connect() as conn:
        return set(conn.scalars(select(getattr(table, column)).distinct()))


def event_ids(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        return set(conn.scalars(select(EVENTS.c.sender_id).distinct()))


def event_count(engine: Engine, cid: str) -> int:
    with engine.connect() as conn:
        return conn.scalar(select(func.count()).where(EVENTS.c.sender_id == cid))


def row_counts(engine: Engine) -> dict[str, int]:
    tables = [*retention.TABLES, "console_audit", "sms_opt_outs", "console_staff",
              "retention_permits"]
    with engine.connect() as conn:
        return {t: conn.scalar(text(f"SELECT COUNT(*) FROM {t}")) for t in tables}


def user_texts(engine: Engine, cid: str) -> list[str]:
    store = SQLTrackerStore(host=str(engine.url.render_as_string(hide_password=False)))
    try:
        tracker = asyncio.run(store.retrieve_full_tracker(cid))
    finally:
        store.engine.dispose()
    return [e.text for e in tracker.events if isinstance(e, UserUttered)] if tracker else []


# --- what goes, what stays ---------------------------------------------------------------

def test_a_conversation_quiet_for_longer_than_retention_goes_whole_a_recent_one_stays(db):
    nurse = staff(db)
    web_conversation(db, "web-old", ago(45), ago(40), staff_id=nurse)
    web_conversation(db, "web-new", ago(5), staff_id=nurse)

    report = purge(db, NOW, DAYS)

    assert report.conversations == 1
    assert event_ids(db) == {"web-new"}
    assert user_texts(db, "web-old") == [] and user_texts(db, "web-new") == [PATIENT_TEXT]
    for table, column in ((TriageOutcome, "conversation_id"), (QueueEntry, "conversation_id"),
                          (Review, "conversation_id")):
        assert conversations(db, table, column) == {"web-new"}
    assert report.rows["events"] == 12  # two sessions of six events
    assert {k: report.rows[k] for k in ("triage_outcomes", "console_conversations",
                                        "console_reviews")} == dict.fromkeys(
        ("triage_outcomes", "console_conversations", "console_reviews"), 1)
    # The audit trail keeps who looked at the deleted conversation, by its id.
    assert conversations(db, AuditEntry, "target") == {"web-old", "web-new"}
    assert row_counts(db)["retention_permits"] == 0


def test_a_conversation_straddling_the_cutoff_is_kept_whole_until_its_last_message_is_old(db):
    nurse = staff(db)
    web_conversation(db, "web-straddle", ago(40), ago(10), staff_id=nurse)

    report = purge(db, NOW, DAYS)

    # Nothing of it goes, not even the session from before the cutoff: a transcript that
    # opened with answers to vanished questions would be misread.
    assert report.conversations == 0 and sum(report.rows.values()) == 0
    assert user_texts(db, "web-straddle") == [PATIENT_TEXT, PATIENT_TEXT]
    assert event_count(db, "web-straddle") == 12

    later = purge(db, NOW + timedelta(days=21), DAYS)  # 31 days after its last message
    assert later.conversations == 1 and event_ids(db) == set()
    assert conversations(db, Review, "conversation_id") == set()


def test_an_sms_discharge_goes_with_its_follow_ups_and_texts_once_all_are_past_the_cutoff(db):
    old = sms_conversation(db, "sms-old", ago(50), phone="+447700900001")
    recent = sms_conversation(db, "sms-recent", ago(20), phone="+447700900002")
    # Registered long ago, but one follow-up is still to come: kept.
    pending = sms_conversation(db, "sms-pending", ago(40), followup_days=(0, 45),
                               phone="+447700900003")

    report = purge(db, NOW, DAYS)

    assert report.conversations == 1
    assert conversations(db, Discharge, "id") == {recent, pending}
    assert conversations(db, FollowUp, "discharge_id") == {recent, pending}
    assert conversations(db, InboundSms, "discharge_id") == {recent, pending}
    assert conversations(db, OutboundSms, "discharge_id") == {recent, pending}
    assert event_ids(db) == {"sms-recent", "sms-pending"}
    assert old not in conversations(db, OutboundSms, "discharge_id")
    assert report.rows["sms_discharges"] == 1 and report.rows["sms_followups"] == 4
    assert report.rows["sms_outbox"] == 5 and report.rows["sms_inbound"] == 1


def test_texts_from_unknown_numbers_go_by_their_own_age(db):
    old = unknown_sender_text(db, ago(40), ago(40))
    recent = unknown_sender_text(db, ago(5), ago(5))
    answered_late = unknown_sender_text(db, ago(31), ago(29))  # its reply is still kept

    report = purge(db, NOW, DAYS)

    assert conversations(db, InboundSms, "id") == {recent, answered_late}
    assert report.rows["sms_inbound"] == 1 and report.rows["sms_outbox"] == 1
    assert old not in conversations(db, OutboundSms, "inbound_id")


def test_the_audit_trail_opt_outs_and_staff_accounts_are_kept(db):
    nurse = staff(db)
    web_conversation(db, "web-old", ago(60), staff_id=nurse)
    add(db, OptOut, phone="+447700900001", opted_out=True, changed_at=ago(300), keyword="STOP")
    before = row_counts(db)

    purge(db, NOW, DAYS)

    after = row_counts(db)
    for table in ("console_audit", "sms_opt_outs", "console_staff"):
        assert after[table] == before[table] == 1


def test_a_dry_run_deletes_nothing_and_counts_what_the_purge_then_deletes(db):
    nurse = staff(db)
    web_conversation(db, "web-old", ago(45), staff_id=nurse)
    web_conversation(db, "web-straddle", ago(40), ago(10), staff_id=nurse)
    sms_conversation(db, "sms-old", ago(50))
    unknown_sender_text(db, ago(40), ago(40))
    unknown_sender_text(db, ago(31), ago(29))
    before = row_counts(db)

    dry = purge(db, NOW, DAYS, dry_run=True)

    assert row_counts(db) == before
    real = purge(db, NOW, DAYS)
    assert dry.dry_run and not real.dry_run
    assert (dry.conversations, dry.rows) == (real.conversations, real.rows) == (2, {
        **dict.fromkeys(retention.TABLES, 0),
        "sms_outbox": 6, "sms_inbound": 2, "sms_followups": 4, "sms_discharges": 1,
        "events": 12, "triage_outcomes": 1, "console_conversations": 1, "console_reviews": 1})
    after = row_counts(db)
    assert {t: before[t] - after[t] for t in retention.TABLES} == real.rows
    assert all(after[t] == before[t] for t in before if t not in retention.TABLES)


def test_reviews_stay_append_only_outside_the_purge(db):
    nurse = staff(db)
    web_conversation(db, "web-new", ago(5), staff_id=nurse)
    purge(db, NOW, DAYS)
    for statement in ("DELETE FROM console_reviews", "UPDATE console_reviews SET note = 'x'",
                      "DELETE FROM console_audit", "UPDATE console_audit SET action = 'x'"):
        with pytest.raises(Exception, match="append-only"):
            with db.begin() as conn:
                conn.execute(text(statement))
    assert row_counts(db)["console_reviews"] == 1 and row_counts(db)["retention_permits"] == 0


def test_a_patient_back_after_the_scan_keeps_the_conversation(db):
    web_conversation(db, "web-back", ago(40), staff_id=staff(db))
    back = []

    def patient_writes_again() -> bool:  # asked before each batch, after the scan
        if not back:
            rasa_turns("web-back", db, ago(40), NOW - timedelta(minutes=1))  # Rasa adds the new
            back.append(True)
        return False

    report = purge(db, NOW, DAYS, stop=patient_writes_again)

    assert report.conversations == 0
    assert event_count(db, "web-back") == 12
    assert conversations(db, Review, "conversation_id") == {"web-back"}


def test_retention_below_one_day_is_refused(db):
    with pytest.raises(ValueError):
        purge(db, NOW, 0)


def test_every_foreign_key_into_a_purged_table_is_indexed(db):
    """PostgreSQL checks each deleted row's foreign keys by the referencing column: without
    an index, one scan of the referencing table per deleted row (measured: the purge of 5,000
    SMS conversations spent 18 of its 22 s checking sms_outbox.inbound_id)."""
    schema = inspect(db)
    unindexed = []
    for table in schema.get_table_names():
        leading = {tuple(ix["column_names"][:1]) for ix in schema.get_indexes(table)}
        leading |= {tuple(u["column_names"][:1]) for u in schema.get_unique_constraints(table)}
        leading.add(tuple(schema.get_pk_constraint(table)["constrained_columns"][:1]))
        for fk in schema.get_foreign_keys(table):
            column = fk["constrained_columns"][0]
            if fk["referred_table"] in retention.TABLES and (column,) not in leading:
                unindexed.append(f"{table}.{column}")
    assert unindexed == []


# --- batches -----------------------------------------------------------------------------

def transactions(engine: Engine) -> list:
    """Records every committed transaction that deleted something: its DELETE statements'
    tables."""
    done, current = [], []

    @event.listens_for(engine, "after_execute")
    def _statement(conn, clause, *_):
        if getattr(clause, "is_delete", False):
            current.append(clause.table.name)

    @event.listens_for(engine, "commit")
    def _commit(conn):
        if current:
            done.append(list(current))
            current.clear()

    return done


def test_the_purge_works_in_short_batches_each_conversation_in_one_transaction(db, monkeypatch):
    monkeypatch.setattr(retention, "CONVERSATIONS_PER_BATCH", 2)
    monkeypatch.setattr(retention, "EVENTS_PER_BATCH", 12)
    monkeypatch.setattr(retention, "ROWS_PER_BATCH", 2)
    nurse = staff(db)
    for n in range(5):
        web_conversation(db, f"web-{n}", ago(40), staff_id=nurse)          # 6 events each
    web_conversation(db, "web-long", *(ago(40 + d) for d in range(4)), staff_id=nurse)  # 24
    for _ in range(3):
        unknown_sender_text(db, ago(40), ago(40))
    done = transactions(db)

    report = purge(db, NOW, DAYS)

    assert report.conversations == 6 and event_ids(db) == set()
    conversation_batches = [t for t in done if "events" in t]
    # web-0 + web-1, web-2 + web-3, web-4, then web-long alone (more than 12 events, whole).
    assert len(conversation_batches) == 4
    text_batches = [t for t in done if "events" not in t]
    assert text_batches == [["sms_outbox"], ["sms_outbox"], ["sms_inbound"], ["sms_inbound"]]


# --- the daily run --------------------------------------------------------------------------

def daily(db: Engine, at: str = "03:30", stop=lambda: False) -> DailyPurge:
    return DailyPurge(db, at=parse_time(at), tz=LONDON, retention_days=DAYS,
                      stop=stop)


def runs(db: Engine) -> dict[date, dict]:
    with db.connect() as conn:
        return {r.run_on: r.rows for r in conn.execute(select(RetentionRun.__table__))}


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize("day,due_utc", [
    (date(2026, 1, 14), utc(2026, 1, 14, 3, 30)),   # GMT: 03:30 local is 03:30 UTC
    (date(2026, 6, 15), utc(2026, 6, 15, 2, 30)),   # BST: 03:30 local is 02:30 UTC
    (date(2026, 3, 29), utc(2026, 3, 29, 2, 30)),   # clocks went forward at 01:00 UTC
    (date(2026, 10, 25), utc(2026, 10, 25, 3, 30)),  # clocks went back at 01:00 UTC
])
def test_the_daily_purge_runs_once_at_the_local_time_even_after_a_restart(db, day, due_utc):
    web_conversation(db, "web-old", ago(60, due_utc), staff_id=staff(db))
    job = daily(db)
    assert job.run_if_due(due_utc - timedelta(minutes=1)) is None
    assert runs(db) == {} and event_ids(db) == {"web-old"}

    report = job.run_if_due(due_utc)

    assert report is not None and report.conversations == 1 and event_ids(db) == set()
    assert job.run_if_due(due_utc + timedelta(hours=2)) is None
    assert daily(db).run_if_due(due_utc + timedelta(hours=12)) is None  # restarted worker
    assert list(runs(db)) == [day] and runs(db)[day]["events"] == 6
    tomorrow = datetime.combine(day + timedelta(days=1), time(3, 30), tzinfo=LONDON)
    assert daily(db).run_if_due(tomorrow - timedelta(minutes=1)) is None
    assert daily(db).run_if_due(tomorrow) is not None
    assert list(runs(db)) == [day, day + timedelta(days=1)]


@pytest.mark.parametrize("day,at,due_utc", [
    (date(2026, 3, 29), "01:30", utc(2026, 3, 29, 1, 30)),   # 01:30 is skipped: 02:30 BST
    (date(2026, 10, 25), "01:30", utc(2026, 10, 25, 0, 30)),  # 01:30 BST, before 01:30 GMT
])
def test_a_purge_time_the_clocks_skip_or_repeat_runs_once_that_day(db, day, at, due_utc):
    job = daily(db, at)
    assert job.run_if_due(due_utc - timedelta(minutes=1)) is None
    assert job.run_if_due(due_utc) is not None
    for later in (1, 2, 3):  # the repeated hour comes round again: no second run
        assert daily(db, at).run_if_due(due_utc + timedelta(hours=later)) is None
    assert list(runs(db)) == [day]


def test_two_workers_at_the_same_moment_purge_once(db):
    web_conversation(db, "web-old", ago(60), staff_id=staff(db))
    workers = [daily(db) for _ in range(6)]
    start = threading.Barrier(len(workers))
    reports = []

    def work(job: DailyPurge) -> None:
        start.wait()
        reports.append(job.run_if_due(NOW))

    threads = [threading.Thread(target=work, args=(job,)) for job in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(reports) == 6 and len([r for r in reports if r is not None]) == 1
    assert list(runs(db)) == [date(2026, 6, 15)]


def test_the_daily_purge_logs_counts_never_patient_text(db, caplog):
    web_conversation(db, "web-old", ago(60), staff_id=staff(db))
    sms_conversation(db, "sms-old", ago(60))
    caplog.clear()
    with caplog.at_level("DEBUG"):
        assert daily(db).run_if_due(NOW) is not None
    assert "retention purge of 2026-06-15: 2 conversations" in caplog.text
    for private in (PATIENT_TEXT, "Spoke to the patient", "+447700900001", "web-old", "sms-old"):
        assert private not in caplog.text


def test_a_worker_stopping_mid_purge_leaves_whole_conversations(db, monkeypatch):
    monkeypatch.setattr(retention, "CONVERSATIONS_PER_BATCH", 1)
    nurse = staff(db)
    for n in range(3):
        web_conversation(db, f"web-{n}", ago(60), staff_id=nurse)
    asked = []

    report = daily(db, stop=lambda: asked.append(1) or len(asked) > 2).run_if_due(NOW)

    assert not report.complete and report.conversations == 2
    assert event_ids(db) == {"web-2"} and event_count(db, "web-2") == 6
    assert runs(db)[date(2026, 6, 15)]["conversations"] == 2


# --- the command line and the SMS worker ------------------------------------------------------

def sqlite_url(tmp_root: Path) -> str:
    url = f"sqlite:///{tmp_root / f'retention_{uuid.uuid4().hex[:8]}.db'}"
    migrate(url)
    SQLTrackerStore(host=url).engine.dispose()
    return url


def child_env(url: str, **extra: str) -> dict:
    return {**os.environ, "DATABASE_URL": url, "RETENTION_DAYS": str(DAYS),
            "PYTHONPATH": str(PROJECT_ROOT), **extra}


def test_the_command_line_dry_run_prints_counts_per_table_and_deletes_nothing(tmp_root):
    url = sqlite_url(tmp_root)
    db = make_engine(url)
    now = datetime.now(UTC)
    web_conversation(db, "web-old", ago(45, now), staff_id=staff(db))
    before = row_counts(db)

    dry = subprocess.run([sys.executable, "-m", "bot.storage.retention", "--dry-run"],
                         env=child_env(url), capture_output=True, text=True, timeout=120)

    assert dry.returncode == 0, dry.stderr
    assert "would delete" in dry.stdout
    assert "  conversations" in dry.stdout and "events" in dry.stdout
    assert [line.split() for line in dry.stdout.splitlines()[1:]][:2] == [
        ["conversations", "1"], ["sms_outbox", "0"]]
    assert row_counts(db) == before
    real = subprocess.run([sys.executable, "-m", "bot.storage.retention"], env=child_env(url),
                          capture_output=True, text=True, timeout=120)
    assert real.returncode == 0 and "deleted" in real.stdout
    assert event_ids(db) == set()
    assert PATIENT_TEXT not in dry.stdout + dry.stderr + real.stdout + real.stderr


def test_two_sms_workers_purge_once_a_day(tmp_root):
    url = sqlite_url(tmp_root)
    db = make_engine(url)
    now = datetime.now(UTC)
    web_conversation(db, "web-old", ago(45, now), staff_id=staff(db))
    sms_conversation(db, "sms-old", ago(50, now), now=now)
    web_conversation(db, "web-new", ago(1, now), staff_id=staff(db))
    logs = [tmp_root / f"sms-worker-{uuid.uuid4().hex[:6]}.log" for _ in range(2)]
    # 00:00: today's time has always come, so both try at their first pass.
    env = child_env(url, RETENTION_PURGE_AT="00:00", SMS_POLL_SECONDS="0.2",
                    TWILIO_ACCOUNT_SID="", SMS_API_TOKEN="")
    workers = [subprocess.Popen([sys.executable, "-m", "bot.sms.worker"],
                                env={**env, "SMS_API_PORT": str(free_port())},
                                stdout=log.open("w"), stderr=subprocess.STDOUT)
               for log in logs]
    try:
        deadline = clock.monotonic() + 90
        while clock.monotonic() < deadline and not all(
                "SMS worker up" in log.read_text() for log in logs):
            clock.sleep(0.2)
        deadline = clock.monotonic() + 30
        while clock.monotonic() < deadline and event_ids(db) != {"web-new"}:
            clock.sleep(0.2)
        clock.sleep(1)  # a few more passes of both workers
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        for worker in workers:
            worker.wait(30)
    output = "".join(log.read_text() for log in logs)
    assert event_ids(db) == {"web-new"}
    assert conversations(db, Discharge, "conversation_id") == set()
    assert output.count("retention purge of") == 1, output
    assert "2 conversations" in output
    today = datetime.now(settings().timezone).date()
    assert list(runs(db)) == [today] and runs(db)[today]["conversations"] == 2
    assert PATIENT_TEXT not in output and "+447700900001" not in output
    assert all(worker.returncode == 0 for worker in workers)
