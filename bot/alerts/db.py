"""Small database helpers: scan cursors, and INSERT ... ON CONFLICT on SQLite and PostgreSQL
(a row two workers try to add at once is added by one of them, and neither fails)."""
from __future__ import annotations

from collections.abc import Callable
from typing import Optional

from sqlalchemy import update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from bot.alerts.models import Cursor

# PostgreSQL can commit a lower id after a higher one: every scan reads this many ids back
# (reading a row twice is harmless). SQLite commits one writer at a time.
OVERLAP = {"outcomes": 200, "events": 1000}




def _insert(s: Session, table):
    return (postgresql.insert if s.get_bind().dialect.name == "postgresql" else sqlite.insert)(table)


def insert_ignore(s: Session, table, values: dict, keys: list[str]) -> bool:
    """True if the row was added, False if one with the same `keys` was there."""
    statement = _insert(s, table).values(**values).on_conflict_do_nothing(index_elements=keys)
    return s.execute(statement).rowcount == 1


def upsert_latest(s: Session, table, values: dict, key: str, column: str, also: dict) -> None:
    """Insert, or raise `column` to the new value (setting `also` with it) when it is later."""
    statement = _insert(s, table).values(**values)
    statement = statement.on_conflict_do_update(
        index_elements=[key], set_={column: statement.excluded[column], **also},
        where=getattr(table.c, column) < statement.excluded[column])
    s.execute(statement)


def read_cursor(s: Session, source: str, start: Callable[[], int]) -> tuple[int, int]:
    """(mark, low): the last id read, and where this scan starts (overlap included). A new
    cursor starts at `start()`."""
    row = s.get(Cursor, source)
    mark: Optional[int] = row.last_id if row else None
    if mark is None:
        mark = start()
        insert_ignore(s, Cursor.__table__, {"source": source, "last_id": mark}, ["source"])
    if s.get_bind().dialect.name == "sqlite":
        return mark, mark
    return mark, max(0, mark - OVERLAP[source])


def advance_cursor(s: Session, source: str, value: int) -> None:
    s.execute(update(Cursor).where(Cursor.source == source, Cursor.last_id < value)
              .values(last_id=value).execution_options(synchronize_session=False))
