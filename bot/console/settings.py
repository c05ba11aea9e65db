"""The staff console's settings, from the environment or `.env` (see `.env.example`)."""
from __future__ import annotations

import os
from dataclasses import dataclass

from dotenv import load_dotenv

from bot.config import PROJECT_ROOT


def _env(name: str, default: str) -> str:
    return os.environ.get(name, "").strip() or default


def _flag(value: str) -> bool:
    return value.lower() in ("1", "true", "yes", "on")


@dataclass(frozen=True)
class ConsoleSettings:
    host: str = "127.0.0.1"
    port: int = 8001
    # "auto": Secure cookies and HSTS when the request came over HTTPS (directly, or by
    # X-Forwarded-Proto from a trusted proxy); "true"/"false" force it.
    secure_cookies: str = "auto"
    trust_proxy: bool = False
    session_idle_minutes: int = 60
    session_max_hours: int = 12
    lockout_attempts: int = 5
    lockout_minutes: int = 15
    ip_failure_limit: int = 50
    page_size: int = 50
    export_max_rows: int = 200_000
    sync_interval_seconds: float = 5.0


def console_settings() -> ConsoleSettings:
    load_dotenv(PROJECT_ROOT / ".env", override=False)
    secure = _env("CONSOLE_SECURE_COOKIES", "auto").lower()
    if secure not in ("auto", "true", "false"):
        raise ValueError("CONSOLE_SECURE_COOKIES must be auto, true or false")
    return ConsoleSettings(
        host=_env("CONSOLE_HOST", "127.0.0.1"),
        port=int(_env("CONSOLE_PORT", "8001")),
        secure_cookies=secure,
        trust_proxy=_flag(_env("CONSOLE_TRUST_PROXY", "false")),
        session_idle_minutes=int(_env("CONSOLE_SESSION_IDLE_MINUTES", "60")),
        session_max_hours=int(_env("CONSOLE_SESSION_MAX_HOURS", "12")),
        lockout_attempts=int(_env("CONSOLE_LOCKOUT_ATTEMPTS", "5")),
        lockout_minutes=int(_env("CONSOLE_LOCKOUT_MINUTES", "15")),
        ip_failure_limit=int(_env("CONSOLE_IP_FAILURE_LIMIT", "50")),
        page_size=int(_env("CONSOLE_PAGE_SIZE", "50")),
        sync_interval_seconds=float(_env("CONSOLE_SYNC_INTERVAL_SECONDS", "5")),
    )
