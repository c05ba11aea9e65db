"""Settings, all from the environment or `.env` (documented in `.env.example`)."""
from __future__ import annotations

import os
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


def _time(value: str) -> time:
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))


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
        opens=_time(env("DEPARTMENT_OPENS", "09:00")),
        closes=_time(env("DEPARTMENT_CLOSES", "17:00")),
        timezone=ZoneInfo(env("TIMEZONE", "Europe/London")),
        emergency_number=env("EMERGENCY_NUMBER", "999"),
        urgent_number=env("URGENT_NUMBER", "111"),
        retention_days=int(env("RETENTION_DAYS", "365")),
        max_message_chars=int(env("MAX_MESSAGE_CHARS", "1000")),
    )
