"""Times read back from the database. Everything is stored in UTC, but SQLite (and a
column without our UTCDateTime type, such as Rasa's, or an aggregate) gives back naive
datetimes: `aware` makes them UTC again."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Optional, overload


@overload
def aware(value: datetime) -> datetime: ...
@overload
def aware(value: None) -> None: ...
@overload
def aware(value: Optional[datetime]) -> Optional[datetime]: ...


def aware(value: Optional[datetime]) -> Optional[datetime]:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value
