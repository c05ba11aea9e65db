"""TriageTrackerStore: a database failure fails the turn instead of Rasa's silent in-memory
fallback (which would restart the questions with an empty history and store nothing)."""
from __future__ import annotations

import asyncio

import pytest
import sqlalchemy as sa
from rasa.core.tracker_store import FailSafeTrackerStore, InMemoryTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from bot import rasa_patches
from bot.config import PROJECT_ROOT
from bot.storage.tracker_store import TriageTrackerStore


@pytest.fixture(scope="module")
def domain() -> Domain:
    return Domain.load(str(PROJECT_ROOT / "domain.yml"))


def unreachable(store: TriageTrackerStore) -> TriageTrackerStore:
    store.engine = sa.create_engine("postgresql://nobody@127.0.0.1:1/none",
                                    connect_args={"connect_timeout": 2})
    store.sessionmaker = sa.orm.session.sessionmaker(bind=store.engine)
    return store


def test_constructing_the_store_applies_the_patches(migrated_db, domain, monkeypatch):
    for name in ("on_tracker_store_error", "on_tracker_store_retrieve_error"):
        monkeypatch.setattr(FailSafeTrackerStore, name,
                            rasa_patches.rasas_own(FailSafeTrackerStore, name))
    TriageTrackerStore(domain)  # as Rasa constructs it, from endpoints.yml
    assert FailSafeTrackerStore.on_tracker_store_error is rasa_patches.on_tracker_store_error
    assert (FailSafeTrackerStore.on_tracker_store_retrieve_error
            is rasa_patches.on_tracker_store_retrieve_error)


def test_stores_and_reads_back_a_conversation(migrated_db, domain):
    store = FailSafeTrackerStore(TriageTrackerStore(domain))
    tracker = DialogueStateTracker("ts-ok", domain.slots)
    tracker.update(UserUttered("hello"))
    asyncio.run(store.save(tracker))
    again = asyncio.run(store.retrieve("ts-ok"))
    assert [e.text for e in again.events if isinstance(e, UserUttered)] == ["hello"]


def test_on_sqlite_connections_are_pooled_and_wait_for_the_other_writer(migrated_db, domain):
    store = TriageTrackerStore(domain)
    assert isinstance(store.engine.pool, sa.pool.QueuePool)
    with store.engine.connect() as first:
        raw = first.connection.dbapi_connection
        assert first.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000
        assert first.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    with store.engine.connect() as again:
        assert again.connection.dbapi_connection is raw  # the same connection, reused


def test_database_down_raises_instead_of_an_empty_conversation(migrated_db, domain):
    store = FailSafeTrackerStore(unreachable(TriageTrackerStore(domain)))
    with pytest.raises(sa.exc.OperationalError):
        asyncio.run(store.retrieve("ts-down"))
    with pytest.raises(sa.exc.OperationalError):
        asyncio.run(store.get_or_create_tracker("ts-down"))
    tracker = DialogueStateTracker("ts-down", domain.slots)
    tracker.update(UserUttered("my hip is bleeding"))
    with pytest.raises(sa.exc.OperationalError):
        asyncio.run(store.save(tracker))
    assert asyncio.run(store.fallback_tracker_store.retrieve("ts-down")) is None


def test_other_stores_keep_rasas_fallback(domain):
    rasa_patches.apply()

    class Broken(InMemoryTrackerStore):
        async def retrieve(self, sender_id):
            raise RuntimeError("down")

    assert asyncio.run(FailSafeTrackerStore(Broken(domain)).retrieve("x")) is None
