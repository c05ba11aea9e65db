"""Alembic migrations run unchanged on SQLite and on PostgreSQL: up to the head,
matching the models exactly, down to nothing, and up again."""
from __future__ import annotations

import uuid

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect

import bot.alerts.models  # noqa: F401  (registers the alert tables)
import bot.console.models  # noqa: F401  (registers the console tables)
import bot.sms.models  # noqa: F401  (registers the SMS tables)
from bot.config import PROJECT_ROOT
from bot.storage.models import Base

OUR_TABLES = set(Base.metadata.tables)


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database(request, tmp_root, postgres) -> str:
    name = f"migrations_{uuid.uuid4().hex[:8]}"
    if request.param == "sqlite":
        return f"sqlite:///{tmp_root / (name + '.db')}"
    return postgres.create_database(name)


def alembic(url: str) -> Config:
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    config.set_main_option("sqlalchemy.url", url)
    return config


def schema_differences(url: str) -> list:
    engine = create_engine(url, future=True)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={
                "compare_type": True,
                "include_object": lambda obj, name, type_, *_: type_ != "table" or name in OUR_TABLES})
            return compare_metadata(context, Base.metadata)
    finally:
        engine.dispose()


def tables(url: str) -> set[str]:
    engine = create_engine(url, future=True)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_migrations_up_down_up_on_both_databases(empty_database):
    url, config = empty_database, alembic(empty_database)
    command.upgrade(config, "heads")
    assert OUR_TABLES <= tables(url)
    assert schema_differences(url) == []
    command.downgrade(config, "base")
    assert not OUR_TABLES & tables(url)
    command.upgrade(config, "heads")
    assert OUR_TABLES <= tables(url)
