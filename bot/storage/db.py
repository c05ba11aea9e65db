"""Engine and sessions (SQLAlchemy 1.4 with the 2.0-style API)."""
from __future__ import annotations

from functools import cache
from pathlib import Path

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from bot.config import settings

# A request during a database outage fails fast (the patient gets the fail-safe line), never hangs.
CONNECT_TIMEOUT_SECONDS = 5


@cache
def engine(url: str | None = None) -> Engine:
    url = url or settings().database_url
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        eng = create_engine(url, future=True, connect_args={"timeout": 30})

        @event.listens_for(eng, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):  # two processes write: Rasa and actions
            dbapi_connection.execute("PRAGMA journal_mode=WAL")
            dbapi_connection.execute("PRAGMA busy_timeout=30000")

        return eng
    # Pre-ping: pooled connections survive a database restart. UTC sessions: naive UTC times
    # written to time-zone-aware columns must not be read in the server's local zone.
    return create_engine(url, future=True, pool_pre_ping=True,
                         connect_args={"connect_timeout": CONNECT_TIMEOUT_SECONDS,
                                       "options": "-c timezone=UTC"})


def session(url: str | None = None) -> Session:
    return sessionmaker(engine(url), future=True, expire_on_commit=False)()
