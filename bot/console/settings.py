"""The staff console's settings, from the environment or `.env` (see `.env.example`)."""
from __future__ import annotations

from dataclasses import dataclass

from bot.config import env, parse_flag


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
    secure = env("CONSOLE_SECURE_COOKIES").lower()
    if secure not in ("auto", "true", "false"):
        raise ValueError("CONSOLE_SECURE_COOKIES must be auto, true or false")
    return ConsoleSettings(
        host=env("CONSOLE_HOST"),
        port=int(env("CONSOLE_PORT")),
        secure_cookies=secure,
        trust_proxy=parse_flag(env("CONSOLE_TRUST_PROXY"), "CONSOLE_TRUST_PROXY"),
        session_idle_minutes=int(env("CONSOLE_SESSION_IDLE_MINUTES")),
        session_max_hours=int(env("CONSOLE_SESSION_MAX_HOURS")),
        lockout_attempts=int(env("CONSOLE_LOCKOUT_ATTEMPTS")),
        lockout_minutes=int(env("CONSOLE_LOCKOUT_MINUTES")),
        ip_failure_limit=int(env("CONSOLE_IP_FAILURE_LIMIT")),
        page_size=int(env("CONSOLE_PAGE_SIZE")),
        sync_interval_seconds=float(env("CONSOLE_SYNC_INTERVAL_SECONDS")),
    )
