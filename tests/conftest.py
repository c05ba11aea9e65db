"""Shared fixtures. Unit tests use a throw-away SQLite database; live tests start
the real Rasa and action servers once per session (see tests/live.py)."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

# Before anything imports bot.config: tests never touch the developer's database.
_TMP = Path(tempfile.mkdtemp(prefix="triage-tests-"))
os.environ["DATABASE_URL"] = f"sqlite:///{_TMP / 'test.db'}"
os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402


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
    command.upgrade(config, "head")
    return os.environ["DATABASE_URL"]


@pytest.fixture(scope="session")
def live_bot(migrated_db, tmp_root):
    """The real Rasa server and action server, on free ports, on the test database."""
    import secrets

    from bot.config import PROJECT_ROOT
    from bot.stack import Stack, free_port
    from tests.client import BotClient

    model = PROJECT_ROOT / "models" / "triage.tar.gz"
    if not model.exists():
        pytest.fail("no trained model: run `make train` (make test does it)")
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
