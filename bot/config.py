"""Settings, all from the environment or `.env` (documented in `.env.example`).

One loader and one table of defaults for every process: `env(NAME)` reads the
environment, after loading `.env` once per process (python-dotenv; the environment wins
over `.env`), and falls back to `DEFAULTS[NAME]`. `.env.example` documents the same names
with the same values (tests/unit/test_settings.py holds the two together). Each part of the
system turns what it reads into a typed, checked object of its own (`settings()` here,
`console_settings()`, `web_settings()`, `sms_settings()`, `alert_settings()`), so that a
wrong SMS setting stops the SMS worker without stopping the staff console.

`python -m bot.config` prints every setting as shell `export` lines: scripts/env.sh
sources them for the Makefile's recipes.
"""
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


# Every setting and its default ("" = none, or worked out where it is read: see `env`).
DEFAULTS: dict[str, str] = {
    # Database: Rasa's conversation events and our triage outcomes
    "DATABASE_URL": "sqlite:///var/triage.db",
    # Rasa servers
    "RASA_TOKEN": "",
    "RASA_PORT": "5005",
    "ACTION_PORT": "5055",
    "ACTION_ENDPOINT_URL": "",
    "ACTION_HOST": "127.0.0.1",
    "ACTION_SERVER_TOKEN": "",
    "MAX_REQUEST_BYTES": "2097152",
    # The department patients are told to call
    "DEPARTMENT_NAME": "Interventional Radiology (IR) department",
    "DEPARTMENT_PHONE": "020 7000 0000",
    "DEPARTMENT_OPEN_DAYS": "mon-fri",
    "DEPARTMENT_OPENS": "09:00",
    "DEPARTMENT_CLOSES": "17:00",
    "TIMEZONE": "Europe/London",
    "EMERGENCY_NUMBER": "999",
    "URGENT_NUMBER": "111",
    # Privacy
    "RETENTION_DAYS": "365",
    "RETENTION_PURGE_AT": "03:30",
    "PUBLIC_WEB_URL": "http://localhost:8000",
    # Patient messages
    "MAX_MESSAGE_CHARS": "1000",
    # Patient web chat (python -m bot.web; make run starts it)
    "WEB_PORT": "8000",
    "WEB_HOST": "127.0.0.1",
    "RASA_URL": "",
    "RASA_TIMEOUT_SECONDS": "30",
    "ALLOWED_ORIGINS": "",
    # Staff console (python -m bot.console; make run starts it)
    "CONSOLE_PORT": "8001",
    "CONSOLE_HOST": "127.0.0.1",
    "CONSOLE_SECURE_COOKIES": "auto",
    "CONSOLE_TRUST_PROXY": "false",
    "CONSOLE_SESSION_IDLE_MINUTES": "60",
    "CONSOLE_SESSION_MAX_HOURS": "12",
    "CONSOLE_LOCKOUT_ATTEMPTS": "5",
    "CONSOLE_LOCKOUT_MINUTES": "15",
    "CONSOLE_IP_FAILURE_LIMIT": "50",
    "CONSOLE_PAGE_SIZE": "50",
    "CONSOLE_SYNC_INTERVAL_SECONDS": "5",
    # SMS follow-up after discharge (make run starts python -m bot.sms.worker)
    "TWILIO_ACCOUNT_SID": "",
    "TWILIO_AUTH_TOKEN": "",
    "TWILIO_FROM_NUMBER": "",
    "TWILIO_API_BASE_URL": "https://api.twilio.com",
    "SMS_WEBHOOK_URL": "",
    "SMS_STATUS_CALLBACK_URL": "",
    "SMS_API_TOKEN": "",
    "SMS_API_HOST": "127.0.0.1",
    "SMS_API_PORT": "5006",
    "SMS_FOLLOWUPS": "0@18:00,1@10:00,3@10:00,7@10:00",
    "SMS_QUIET_HOURS": "21:00-08:00",
    "SMS_SEND_WINDOW_MINUTES": "180",
    "SMS_MIN_GAP_MINUTES": "120",
    "SMS_SKIP_IF_ACTIVE_MINUTES": "120",
    "SMS_DEFAULT_REGION": "GB",
    "SMS_USE_NAMES": "false",
    "SMS_LOCAL_TWILIO": "false",
    "SMS_LOCAL_TWILIO_PORT": "5007",
    "SMS_FOLLOWUP_INTENT": "greet",
    "SMS_POLL_SECONDS": "5",
    "SMS_WORKER_THREADS": "8",
    "SMS_LEASE_SECONDS": "120",
    "SMS_MAX_ATTEMPTS": "6",
    "SMS_RETRY_BASE_SECONDS": "30",
    "SMS_REPLY_MAX_AGE_MINUTES": "60",
    "SMS_HTTP_TIMEOUT_SECONDS": "20",
    # Care-team alerts (the SMS worker runs them; python -m bot.alerts status)
    "ALERT_LEVEL_SMS": "contact_team",
    "ALERT_LEVEL_WEB": "urgent",
    "ALERT_SMTP_HOST": "",
    "ALERT_SMTP_PORT": "",
    "ALERT_SMTP_STARTTLS": "",
    "ALERT_SMTP_SSL": "false",
    "ALERT_SMTP_USERNAME": "",
    "ALERT_SMTP_PASSWORD": "",
    "ALERT_SMTP_CA_FILE": "",
    "ALERT_SMTP_TIMEOUT_SECONDS": "20",
    "ALERT_EMAIL_FROM": "",
    "ALERT_EMAIL_TO": "",
    "ALERT_EMAIL_ON_CALL": "",
    "ALERT_WEBHOOK_URL": "",
    "ALERT_WEBHOOK_ON_CALL_URL": "",
    "ALERT_WEBHOOK_FORMAT": "plain",
    "ALERT_WEBHOOK_SECRET": "",
    "ALERT_WEBHOOK_TIMEOUT_SECONDS": "10",
    "CONSOLE_PUBLIC_URL": "",
    "ALERT_INCLUDE_PATIENT_DETAILS": "false",
    "ALERT_RETRY_BASE_SECONDS": "30",
    "ALERT_RETRY_MAX_SECONDS": "300",
    "ALERT_GIVE_UP_HOURS": "24",
    "ALERT_LEASE_SECONDS": "300",
    "ALERT_BACKFILL_HOURS": "24",
    "ALERT_NO_REPLY_HOURS": "24",
    "ALERT_NO_REPLY_IN_A_ROW": "2",
    "ALERT_NO_REPLY_LOOKBACK_DAYS": "14",
    "ALERT_INCOMPLETE_MINUTES": "120",
    "ALERT_SMS_REMINDER": "true",
    "ALERT_DIGEST_TO": "",
    "ALERT_DIGEST_AT": "08:30",
    # Scaled profile (make run-scaled: PostgreSQL + Redis + Rasa replicas behind nginx)
    "SCALED_RASA_REPLICAS": "2",
    "SCALED_POSTGRES_PORT": "5433",
    "SCALED_REDIS_PORT": "6380",
    "SCALED_DATA_DIR": "var/scaled",
    "SQL_POOL_SIZE": "50",
    "SQL_MAX_OVERFLOW": "100",
}
_loaded: list[bool] = []


def load_env() -> None:
    """Load `.env` into the environment, once per process (never over what is set)."""
    if not _loaded:
        load_dotenv(PROJECT_ROOT / ".env", override=False)
        _loaded.append(True)


def env(name: str, computed: str = "") -> str:
    """A setting: the environment, else `.env`, else its default; blank counts as unset.
    `computed` is the fallback of a setting whose default depends on others (its entry
    in DEFAULTS is blank). An unknown name is a programming error (KeyError)."""
    default = DEFAULTS[name]
    if computed and default:
        raise ValueError(f"{name} has a default in DEFAULTS; do not compute another")
    load_env()
    return os.environ.get(name, "").strip() or default or computed


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


def rasa_url() -> str:
    """Where the web chat and the SMS worker reach Rasa (default: RASA_PORT on this machine)."""
    return env("RASA_URL", f"http://127.0.0.1:{env('RASA_PORT')}").rstrip("/")


def database_url(value: str) -> str:
    """A relative SQLite path is relative to the project, whatever the working directory."""
    prefix = "sqlite:///"
    if value.startswith(prefix) and not value.startswith(prefix + "/") and value != prefix:
        return f"{prefix}{PROJECT_ROOT / value[len(prefix):]}"
    return value


@lru_cache(maxsize=1)
def settings() -> Settings:
    return Settings(
        database_url=database_url(env("DATABASE_URL")),
        department_name=env("DEPARTMENT_NAME"),
        department_phone=env("DEPARTMENT_PHONE"),
        open_days=_days(env("DEPARTMENT_OPEN_DAYS")),
        opens=parse_time(env("DEPARTMENT_OPENS"), "DEPARTMENT_OPENS"),
        closes=parse_time(env("DEPARTMENT_CLOSES"), "DEPARTMENT_CLOSES"),
        timezone=ZoneInfo(env("TIMEZONE")),
        emergency_number=env("EMERGENCY_NUMBER"),
        urgent_number=env("URGENT_NUMBER"),
        retention_days=int(env("RETENTION_DAYS")),
        retention_purge_at=parse_time(env("RETENTION_PURGE_AT"), "RETENTION_PURGE_AT"),
        max_message_chars=_message_limit(env("MAX_MESSAGE_CHARS")),
    )


def shell_exports() -> str:
    """Every setting as `export NAME=value` lines, with what the Makefile's recipes need
    worked out: the action endpoint and Rasa URL from the ports, and a fresh secret for
    the action server unless one is set."""
    import secrets
    import shlex

    values = {name: env(name) for name in DEFAULTS}
    values["ACTION_ENDPOINT_URL"] = (values["ACTION_ENDPOINT_URL"]
                                     or f"http://localhost:{values['ACTION_PORT']}/webhook")
    values["RASA_URL"] = rasa_url()
    values["ACTION_SERVER_TOKEN"] = values["ACTION_SERVER_TOKEN"] or secrets.token_urlsafe(32)
    return "\n".join(f"export {name}={shlex.quote(value)}" for name, value in values.items())


if __name__ == "__main__":
    print(shell_exports())
