"""Rasa's SQLTrackerStore on our DATABASE_URL (SQLite by default, PostgreSQL by URL).

Named in endpoints.yml as `type: bot.storage.tracker_store.TriageTrackerStore`, so
Rasa and our tables share one database setting. On SQLite its connections are pooled
(bot.storage.db.pooled_sqlite_engine): Rasa's own engine opens one per read and per save.

No in-memory fallback. Rasa wraps every tracker store in a FailSafeTrackerStore which, when
the database fails, reads an empty conversation (the bot starts the questions again as if
nothing had been said) and keeps the turn in that process's memory only, never stored. For a
triage bot a silently lost history is unsafe (answers read against the wrong questions, red
flags already reported forgotten). So for our store the wrapper re-raises: the turn fails,
and the channel answers with the policy's fail-safe line (bot/channels/rest.py, bot/sms/).
Found by tests/live/test_scaled.py (PostgreSQL restart under load). The wrapper's handlers are
patched by bot.rasa_patches (patch 3), applied when Rasa constructs this store; the store
asks for it with `refuses_in_memory_fallback`.
"""
from __future__ import annotations

from typing import Any, Optional

import sqlalchemy as sa
from rasa.core.tracker_store import SQLTrackerStore, create_engine_kwargs, is_postgresql_url

from bot import rasa_patches
from bot.config import settings
from bot.storage.db import CONNECT_TIMEOUT_SECONDS, engine, pooled_sqlite_engine


class TriageTrackerStore(SQLTrackerStore):
    # Read by bot.rasa_patches: a database error fails the turn (see the module docstring).
    refuses_in_memory_fallback = True
    engine: sa.engine.Engine  # set by SQLTrackerStore.__init__ (untyped there)

    def __init__(self, domain: Optional[Any] = None, event_broker: Optional[Any] = None,
                 **kwargs: Any) -> None:
        rasa_patches.apply()  # Rasa constructs this store in every server process
        for key in ("host", "url", "dialect", "db", "username", "password"):
            kwargs.pop(key, None)
        url = settings().database_url
        engine(url)  # makes the SQLite folder if needed
        # SQLTrackerStore takes a full URL in `host`.
        super().__init__(domain=domain, host=url, event_broker=event_broker, **kwargs)
        if is_postgresql_url(url):
            self._reconnecting_engine(url)
        elif url.startswith("sqlite:///"):
            self._use_engine(pooled_sqlite_engine(url))

    def _use_engine(self, new: sa.engine.Engine) -> None:
        self.engine.dispose()
        self.engine = new
        self.sessionmaker = sa.orm.session.sessionmaker(bind=self.engine)

    def _reconnecting_engine(self, url: str) -> None:
        """Rasa's engine keeps pooled connections that die with a database restart, and the
        next turns would fail on them. Test each connection before use (pre-ping) and give up
        connecting after a few seconds, so a turn during an outage fails fast (the patient gets
        the fail-safe line) and the first turn after it works, with no restart of Rasa."""
        options = create_engine_kwargs(url)
        options["connect_args"] = {**options.get("connect_args", {}),
                                   "connect_timeout": CONNECT_TIMEOUT_SECONDS}
        self._use_engine(sa.create_engine(url, pool_pre_ping=True, **options))
