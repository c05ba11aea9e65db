"""Where an alert goes, by the department's opening hours (DEPARTMENT_OPEN_DAYS,
DEPARTMENT_OPENS, DEPARTMENT_CLOSES, TIMEZONE): in hours to the department; out of hours
to the on-call address if there is one, otherwise held and sent at the next opening.
Pure functions of the time and the settings."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Optional

from bot.config import Settings

DEPARTMENT, ON_CALL, HELD = "department", "on_call", "held"


def _at(day: date, hours, core: Settings) -> datetime:
    """Local `hours` on `day`, in UTC (a time the clocks skip comes an hour later)."""
    return datetime.combine(day, hours, tzinfo=core.timezone).astimezone(timezone.utc)


def is_open(when: datetime, core: Settings) -> bool:
    local = when.astimezone(core.timezone)
    return (local.weekday() in core.open_days
            and _at(local.date(), core.opens, core) <= when < _at(local.date(), core.closes, core))


def next_opening(when: datetime, core: Settings) -> Optional[datetime]:
    """`when` if the department is open then, else when it next opens (None: never open)."""
    if is_open(when, core):
        return when
    day = when.astimezone(core.timezone).date()
    for offset in range(8):
        candidate = day + timedelta(days=offset)
        opens = _at(candidate, core.opens, core)
        if candidate.weekday() in core.open_days and opens >= when:
            return opens
    return None


@dataclass(frozen=True)
class Route:
    route: str                          # department / on_call / held
    held_until: Optional[datetime] = None


def route_at(when: datetime, core: Settings, *, has_on_call: bool) -> Route:
    if is_open(when, core):
        return Route(DEPARTMENT)
    if has_on_call:
        return Route(ON_CALL)
    opening = next_opening(when, core)
    # No opening day configured: nobody would ever see a held alert, so send it now.
    return Route(HELD, opening) if opening else Route(DEPARTMENT)
