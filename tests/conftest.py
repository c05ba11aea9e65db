"""Shared fixtures. Unit tests use a throw-away SQLite database; live tests start
the real Rasa and action servers once per session (the `live_bot` fixture)."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

# Before anything imports bot.config: tests never touch the developer's database.
_TMP = Path(tempfile.mkdtemp(prefix="triage-tests-"))
_TMP.chmod(0o755)  # PostgreSQL runs as the `postgres` user when tests run as root
os.environ["DATABASE_URL"] = f"sqlite:///{_TMP / 'test.db'}"
os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402


def trained_model() -> Path:
    """The model `make train` builds; the live fixtures cannot start without it."""
    from bot.config import PROJECT_ROOT

    model = PROJECT_ROOT / "models" / "triage.tar.gz"
    if not model.exists():
        pytest.fail("no trained model: run `make train` (make test does it)")
    return model


@pytest.fixture(scope="session")
def tmp_root() -> Path:
    return _TMP


@pytest.fixture(scope="session")
def migrated_db(tmp_root):
    """Our tables, created by the real Alembic migrations."""
    from alembic import command
    from alembic.config import Config

    from bot.config import PROJECT_ROOT

    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    command.upgrade(config, "heads")
    return os.environ["DATABASE_URL"]


@pytest.fixture(scope="session")
def live_bot(migrated_db, tmp_root):
    """The real Rasa server and action server, on free ports, on the test database."""
    import secrets

    from bot.stack import Stack, free_port
    from tests.client import BotClient

    model = trained_model()
    stack = Stack(rasa_port=free_port(), action_port=free_port(), token=secrets.token_hex(16),
                  model=str(model), log_dir=tmp_root / "logs")
    stack.start()
    try:
        yield stack, BotClient(stack.rasa_url, stack.token)
    finally:
        stack.stop()


@pytest.fixture(scope="session")
def live_web(live_bot, tmp_root):
    """The web chat (`python -m bot.web`) on a free port in front of live_bot's Rasa.

    `embedding_origin` is a second local origin listed in ALLOWED_ORIGINS, for a
    test page that embeds the widget the way a hospital website would.
    """
    from types import SimpleNamespace

    from bot.stack import Stack, free_port

    stack, _ = live_bot
    embedding_origin = f"http://127.0.0.1:{free_port()}"
    web = Stack(rasa_port=stack.rasa_port, action_port=stack.action_port, token=stack.token,
                web_port=free_port(), env={"ALLOWED_ORIGINS": embedding_origin},
                log_dir=tmp_root / "logs")
    web.start_web()
    try:
        web.wait_until_up(timeout=60)
        yield SimpleNamespace(url=web.web_url, embedding_origin=embedding_origin)
    finally:
        web.stop()


# --- SMS follow-up ---------------------------------------------------------------
# Fakes of Twilio's Messages API and of Rasa's HTTP API (bot/sms/local_twilio.py,
# tests/fakes/rasa.py), a clean set of SMS tables per test, and `sms_live`: a Rasa server
# and action server of its own, started with the SMS settings (its channel reads them from
# the environment, and live_bot may already be running without them).

SMS_TEST_DEFAULTS = {
    "SMS_FOLLOWUPS": "0@18:00,1@10:00,3@10:00,7@10:00", "SMS_QUIET_HOURS": "21:00-08:00",
    "SMS_SEND_WINDOW_MINUTES": "180", "SMS_MIN_GAP_MINUTES": "120",
    "SMS_SKIP_IF_ACTIVE_MINUTES": "120", "SMS_DEFAULT_REGION": "GB",
    "SMS_FOLLOWUP_INTENT": "greet", "SMS_WORKER_THREADS": "4", "SMS_LEASE_SECONDS": "120",
    "SMS_MAX_ATTEMPTS": "4", "SMS_RETRY_BASE_SECONDS": "30", "SMS_REPLY_MAX_AGE_MINUTES": "60",
    "SMS_HTTP_TIMEOUT_SECONDS": "10", "SMS_POLL_SECONDS": "0.2", "SMS_WEBHOOK_URL": "",
    "SMS_API_TOKEN": "test-api-token",
}


@pytest.fixture
def sms_clean(migrated_db):
    """Empty SMS tables (the worker dispatches whatever is due in the whole database)."""
    from sqlalchemy import text as sql

    from bot.storage.db import engine

    with engine().begin() as db:
        for table in ("sms_outbox", "sms_inbound", "sms_followups", "sms_discharges",
                      "sms_opt_outs"):
            db.execute(sql(f"DELETE FROM {table}"))
    return migrated_db


@pytest.fixture
def sms_fakes(sms_clean, monkeypatch):
    """A fake Twilio and a fake Rasa, and the SMS settings pointing at them."""
    from types import SimpleNamespace

    from bot.sms.local_twilio import LocalTwilio
    from tests.fakes.rasa import FakeRasa

    with LocalTwilio() as twilio, FakeRasa() as rasa:
        env = {**SMS_TEST_DEFAULTS, **twilio.env(), **rasa.env()}
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        yield SimpleNamespace(twilio=twilio, rasa=rasa, env=env)


@pytest.fixture(scope="session")
def sms_live(migrated_db, tmp_root):
    """Real Rasa + action servers with our SMS channel, sending to a fake Twilio."""
    import secrets
    from types import SimpleNamespace

    from bot.sms.local_twilio import LocalTwilio
    from bot.stack import Stack, free_port
    from tests.client import BotClient

    model = trained_model()
    twilio = LocalTwilio().start()
    rasa_port, token = free_port(), secrets.token_hex(16)
    webhook_url = f"http://127.0.0.1:{rasa_port}/webhooks/sms/webhook"
    env = {**SMS_TEST_DEFAULTS, **twilio.env(), "SMS_WEBHOOK_URL": webhook_url,
           "RASA_URL": f"http://127.0.0.1:{rasa_port}", "RASA_TOKEN": token}
    stack = Stack(rasa_port=rasa_port, action_port=free_port(), token=token, model=str(model),
                  env=env, log_dir=tmp_root / "logs-sms")
    try:
        stack.start()
        yield SimpleNamespace(stack=stack, twilio=twilio, env=env, webhook_url=webhook_url,
                              bot=BotClient(stack.rasa_url, token))
    finally:
        stack.stop()
        twilio.stop()


# --- Staff console ------------------------------------------------------------
@pytest.fixture(scope="session")
def live_console(migrated_db, tmp_root):
    """The staff console (`python -m bot.console`) on a free port, on the test database.
    It needs no Rasa: tests seed conversations straight into the database."""
    from types import SimpleNamespace

    from bot.stack import Stack, free_port

    stack = Stack(rasa_port=free_port(), action_port=free_port(), token="unused",
                  log_dir=tmp_root / "logs-console", env={"CONSOLE_SYNC_INTERVAL_SECONDS": "1"})
    try:
        url = stack.start_console(free_port())
        yield SimpleNamespace(url=url, log=tmp_root / "logs-console" / "console.log")
    finally:
        stack.stop()


# --- Scaled profile ------------------------------------------------------------
# A PostgreSQL server of the tests' own (Debian's package, a temp folder, a free loopback
# port), and `scaled`: Redis + two Rasa replicas + the action server behind nginx, on it.
@pytest.fixture(scope="session")
def postgres(tmp_root):
    from bot.services import Postgres
    from bot.stack import free_port

    server = Postgres(tmp_root / "postgres", free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def scaled(postgres, tmp_root):
    import secrets

    from bot.scaled import ScaledStack
    from bot.stack import free_port

    model = trained_model()
    stack = ScaledStack(rasa_port=free_port(), action_port=free_port(), token=secrets.token_hex(16),
                        data_dir=tmp_root / "scaled", model=str(model), postgres=postgres)
    stack.start()
    try:
        yield stack
    finally:
        stack.stop()


@pytest.fixture(scope="session")
def redis_server(tmp_root):
    """A Redis server of the tests' own (Debian's package) on a free loopback port."""
    import subprocess

    from bot.services import Redis, wait_for
    from bot.stack import free_port

    server = Redis(tmp_root / "redis", free_port())
    process = subprocess.Popen(server.command(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(server.ping, 30, "Redis")
        yield server
    finally:
        process.terminate()
        process.wait(timeout=30)


# --- Browser tests (web chat widget, staff console) ------------------------------------------
# Debian's chromium, never a downloaded one; no background connections (the network is closed).
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-sync"]


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


# --- care-team alerts: a real SMTP server, a webhook receiver, empty alert tables ---------
ALERT_TABLES = ("alerts_deliveries", "alerts_alerts", "alerts_bundles", "alerts_quiet",
                "alerts_watch", "alerts_cursors")


@pytest.fixture
def smtp():
    from tests.fakes.mail import SmtpServer

    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture
def hooks():
    from tests.fakes.mail import WebhookReceiver

    receiver = WebhookReceiver()
    yield receiver
    receiver.stop()


@pytest.fixture(scope="module")
def events_table(migrated_db):
    """Rasa's `events` table (its tracker store creates it), as the running bot has it."""
    from bot.storage.tracker_store import TriageTrackerStore

    TriageTrackerStore()
    return migrated_db


@pytest.fixture
def alerts_db(sms_clean, events_table, monkeypatch):
    """Empty alert tables whose scans start after everything already in the shared test
    database, and alert settings for the local servers (each test adds its own)."""
    from sqlalchemy import func, select
    from sqlalchemy import text as sql

    from bot.alerts.models import Cursor
    from bot.storage.db import session
    from bot.storage.models import TriageOutcome

    with session() as s, s.begin():
        for table in ALERT_TABLES:
            s.execute(sql(f"DELETE FROM {table}"))
        s.add(Cursor(source="outcomes",
                     last_id=s.scalar(select(func.max(TriageOutcome.id))) or 0))
        s.add(Cursor(source="events", last_id=s.scalar(sql("SELECT max(id) FROM events")) or 0))
    for key in [k for k in os.environ if k.startswith("ALERT_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("CONSOLE_PUBLIC_URL", "https://console.test")
    monkeypatch.setenv("ALERT_EMAIL_FROM", "triage-bot@hospital.test")
    monkeypatch.setenv("ALERT_RETRY_BASE_SECONDS", "0.2")
    monkeypatch.setenv("ALERT_RETRY_MAX_SECONDS", "1")
    monkeypatch.setenv("ALERT_SMTP_TIMEOUT_SECONDS", "5")
    monkeypatch.setenv("SMS_QUIET_HOURS", "21:00-08:00")
    monkeypatch.setenv("ALERT_DIGEST_AT", "23:59")  # out of the way; the digest tests set it
    return monkeypatch
