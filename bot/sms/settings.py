"""SMS settings, from the environment or `.env` (the "SMS" section of `.env.example`).

Read on every call (no cache): tests and `make run` set them per process, and the
values are cheap to parse. The time zone and the department's contact details come
from `bot.config.settings()`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import time, timedelta
from zoneinfo import ZoneInfo

from bot.config import Settings, env, parse_flag, parse_time, rasa_url, settings


@dataclass(frozen=True)
class FollowUpSpec:
    """Day `day` after the procedure (0 = the day of it), at local time `at`."""

    day: int
    at: time

    @property
    def label(self) -> str:
        return f"day {self.day} {self.at:%H:%M}"



def parse_followups(value: str) -> tuple[FollowUpSpec, ...]:
    """"0@18:00,1@10:00" -> follow-ups on day 0 at 18:00 and day 1 at 10:00, sorted."""
    specs = []
    for item in value.split(","):
        item = item.strip()
        if not item:
            continue
        match = re.fullmatch(r"(\d{1,3})@(.+)", item)
        if not match:
            raise ValueError(f"SMS_FOLLOWUPS: {item!r} is not DAY@HH:MM (e.g. 1@10:00)")
        specs.append(FollowUpSpec(int(match[1]), parse_time(match[2], "SMS_FOLLOWUPS")))
    specs.sort(key=lambda s: (s.day, s.at))
    if len({(s.day, s.at) for s in specs}) != len(specs):
        raise ValueError("SMS_FOLLOWUPS lists the same time twice")
    return tuple(specs)


def parse_quiet_hours(value: str) -> tuple[time, time]:
    """"21:00-08:00" -> (21:00, 08:00); the span may wrap past midnight."""
    parts = value.replace("–", "-").split("-")
    if len(parts) != 2:
        raise ValueError(f"SMS_QUIET_HOURS: {value!r} is not like 21:00-08:00")
    start, end = (parse_time(p, "SMS_QUIET_HOURS") for p in parts)
    if start == end:
        raise ValueError("SMS_QUIET_HOURS: start and end are the same")
    return start, end


@dataclass(frozen=True)
class SmsSettings:
    account_sid: str
    auth_token: str
    from_number: str
    api_base_url: str        # Twilio's REST API; tests and local mode: bot/sms/local_twilio.py
    webhook_url: str         # the public URL Twilio posts to ('' = the URL the request came to)
    followups: tuple[FollowUpSpec, ...]
    quiet_start: time
    quiet_end: time
    send_window: timedelta   # how long after its time a follow-up may still go out
    min_gap: timedelta       # no follow-up sooner than this after the procedure
    skip_if_active: timedelta  # skip a follow-up if the patient texted us this recently
    api_token: str           # bearer token of the discharge API ('' = API off)
    api_host: str
    api_port: int
    default_region: str      # how to read national numbers (07700 900123 in GB)
    rasa_url: str
    rasa_token: str
    followup_intent: str
    poll_seconds: float
    threads: int
    lease: timedelta         # a claim older than this is taken to be from a dead worker
    max_attempts: int
    retry_base: timedelta
    reply_max_age: timedelta  # a reply not delivered by then is recorded as expired
    http_timeout: float
    use_names: bool          # texts may name the patient (they show on a lock screen)
    local_twilio: bool       # texts go to the local stand-in, never to a phone
    local_twilio_port: int
    core: Settings

    @property
    def timezone(self) -> ZoneInfo:
        return self.core.timezone

    @property
    def twilio_configured(self) -> bool:
        return bool(self.account_sid and self.auth_token and self.from_number)


# Local mode's own credentials: the stand-in and our code both know them, so `cli text`
# can sign a reply exactly as Twilio would. They open nothing outside this machine.
LOCAL_TWILIO = {"account_sid": "AC" + "0" * 32, "auth_token": "local-stand-in-for-twilio",
                "from_number": "+447700900000"}


def _local_twilio(port: int) -> dict:
    return {**LOCAL_TWILIO, "api_base_url": f"http://127.0.0.1:{port}",
            "webhook_url": f"http://127.0.0.1:{env('RASA_PORT')}/webhooks/sms/webhook"}


def sms_settings() -> SmsSettings:
    core = settings()  # loads .env (the environment wins)
    quiet_start, quiet_end = parse_quiet_hours(env("SMS_QUIET_HOURS"))
    followups = parse_followups(env("SMS_FOLLOWUPS"))
    if not followups:
        raise ValueError("SMS_FOLLOWUPS is empty")
    local = parse_flag(env("SMS_LOCAL_TWILIO"), "SMS_LOCAL_TWILIO")
    local_port = int(env("SMS_LOCAL_TWILIO_PORT"))
    twilio = (_local_twilio(local_port) if local else
              {"account_sid": env("TWILIO_ACCOUNT_SID"), "auth_token": env("TWILIO_AUTH_TOKEN"),
               "from_number": env("TWILIO_FROM_NUMBER"),
               "api_base_url": env("TWILIO_API_BASE_URL").rstrip("/"),
               "webhook_url": env("SMS_WEBHOOK_URL")})
    return SmsSettings(
        **twilio,
        followups=followups,
        quiet_start=quiet_start,
        quiet_end=quiet_end,
        send_window=timedelta(minutes=float(env("SMS_SEND_WINDOW_MINUTES"))),
        min_gap=timedelta(minutes=float(env("SMS_MIN_GAP_MINUTES"))),
        skip_if_active=timedelta(minutes=float(env("SMS_SKIP_IF_ACTIVE_MINUTES"))),
        api_token=env("SMS_API_TOKEN"),
        api_host=env("SMS_API_HOST"),
        api_port=int(env("SMS_API_PORT")),
        default_region=env("SMS_DEFAULT_REGION").upper(),
        rasa_url=rasa_url(),
        rasa_token=env("RASA_TOKEN"),
        followup_intent=env("SMS_FOLLOWUP_INTENT"),
        poll_seconds=float(env("SMS_POLL_SECONDS")),
        threads=max(1, int(env("SMS_WORKER_THREADS"))),
        lease=timedelta(seconds=float(env("SMS_LEASE_SECONDS"))),
        max_attempts=max(1, int(env("SMS_MAX_ATTEMPTS"))),
        retry_base=timedelta(seconds=float(env("SMS_RETRY_BASE_SECONDS"))),
        reply_max_age=timedelta(minutes=float(env("SMS_REPLY_MAX_AGE_MINUTES"))),
        http_timeout=float(env("SMS_HTTP_TIMEOUT_SECONDS")),
        use_names=parse_flag(env("SMS_USE_NAMES"), "SMS_USE_NAMES"),
        local_twilio=local,
        local_twilio_port=local_port,
        core=core,
    )
