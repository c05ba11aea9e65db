"""Rasa's SQLTrackerStore on our DATABASE_URL (SQLite by default, PostgreSQL by URL).

Named in endpoints.yml as `type: bot.storage.tracker_store.TriageTrackerStore`, so
Rasa and our tables share one database setting.
"""
from __future__ import annotations

from typing import Any, Optional

from rasa.core.tracker_store import SQLTrackerStore

from bot.config import settings
from bot.storage.db import engine


class TriageTrackerStore(SQLTrackerStore):
    def __init__(self, domain: Optional[Any] = None, event_broker: Optional[Any] = None,
                 **kwargs: Any) -> None:
        for key in ("host", "url", "dialect", "db", "username", "password"):
            kwargs.pop(key, None)
        url = settings().database_url
        engine(url)  # makes the SQLite folder if needed
        # SQLTrackerStore takes a full URL in `host`.
        super().__init__(domain=domain, host=url, event_broker=event_broker, **kwargs)
