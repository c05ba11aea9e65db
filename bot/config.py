"""Settings, all from the environment or `.env` (documented in `.env.example`)."""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import time
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

from dotenv import load_dotenv

PROJECT_ROOT = Path(__file__).resolve().parent.parent
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def env(name: str, default: str = "") -> str:
    """A setting from the environment (or .env once loaded); blank counts as unset."""
    value = os.environ.get(name, "").strip()
    return value or default


def parse_time(value: str, name: str = "time") -> time:
    """"09:30" -> time(9, 30); anything else ("25:00", "9.30") is an error naming the setting."""
    match = re.fullmatch(r"(\d{1,2}):(\d{2})", value.strip())
    if not match or int(match[1]) > 23 or int(match[2]) > 59:
        raise ValueError(f"{name}: {value!r} is not a time like 09:30")
    return time(int(match[1]), int(match[2]))


def parse_flag(value: str, name: str) -> bool:
    """"true"/"yes"/"1"/"on" or "false"/"no"/"0"/"off"; anything else is an error naming the setting."""
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{name}: {value!r} is not true or false")


def _days(value: str) -> frozenset[int]:
    """"mon-fri" or "mon,tue,thu" -> weekday numbers (Monday is 0)."""
    days: set[int] = set()
    for part in value.lower().replace(" ", "").split(","):
        if "-" in part:
            first, last = (WEEKDAYS.index(p[:3]) for p in part.split("-"))
            days.update(range(first, last + 1))
        elif part:
            days.add(WEEKDAYS.index(part[:3]))
    return frozenset(days)


# The rules read this much of a message (bot.extraction); a channel must never accept more,
# or a red flag past it would go unread.
MAX_ANALYSED_CHARS = 2000


def _message_limit(value: str) -> int:
    limit = int(value)
    if not 1 <= limit <= MAX_ANALYSED_CHARS:
        raise ValueError(f"MAX_MESSAGE_CHARS: {limit} is not between 1 and {MAX_ANALYSED_CHARS} "
                         "(the red-flag rules read at most that much of a message)")
    return limit


@dataclass(frozen=True)
class Settings:
    database_url: str
    department_name: str
    department_phone: str
    open_days: frozenset[int]
    opens: time
    closes: time
    timezone: ZoneInfo
    emergency_number: str
    urgent_number: str
    retention_days: int
    retention_purge_at: time
    max_message_chars: int

    @property
    def opening_hours_text(self) -> str:
        days = sorted(self.open_days)
        names = [WEEKDAYS[d].capitalize() for d in days]
        span = f"{names[0]}–{names[-1]}" if days == list(range(days[0], days[-1] + 1)) else ", ".join(names)
        return f"{span} {self.opens:%H:%M}–{self.closes:%H:%M}"


@lru_cache(maxsize=1)
def settings() -> Settings:
    load_dotenv(PROJECT_ROOT / ".env", override=False)
    return Settings(
        database_url=env("DATABASE_URL", f"sqlite:///{PROJECT_ROOT / 'var' / 'triage.db'}"),
        department_name=env("DEPARTMENT_NAME", "Interventional Radiology (IR) department"),
        department_phone=env("DEPARTMENT_PHONE", "020 7000 0000"),
        open_days=_days(env("DEPARTMENT_OPEN_DAYS", "mon-fri")),
        opens=parse_time(env("DEPARTMENT_OPENS", "09:00"), "DEPARTMENT_OPENS"),
        closes=parse_time(env("DEPARTMENT_CLOSES", "17:00"), "DEPARTMENT_CLOSES"),
        timezone=ZoneInfo(env("TIMEZONE", "Europe/London")),
        emergency_number=env("EMERGENCY_NUMBER", "999"),
        urgent_number=env("URGENT_NUMBER", "111"),
        retention_days=int(env("RETENTION_DAYS", "365")),
        retention_purge_at=parse_time(env("RETENTION_PURGE_AT", "03:30"), "RETENTION_PURGE_AT"),
        max_message_chars=_message_limit(env("MAX_MESSAGE_CHARS", "1000")),
    )
