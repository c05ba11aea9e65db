"""Care-team alert settings, from the environment or `.env` (the "Care-team alerts" section
of `.env.example`). Read on every call (no cache), like the SMS settings: tests set them per
test, and they are cheap to parse. Opening hours and the time zone come from
`bot.config.settings()`.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import time, timedelta
from typing import Optional
from urllib.parse import urlencode

from bot.config import Settings, env, parse_flag, parse_time, settings
from bot.policy import Level

WEBHOOK_FORMATS = ("plain", "teams", "slack")
OFF = "off"


def parse_level(value: str, name: str) -> Optional[Level]:
    """A level slug (contact_team, urgent, emergency...) or "off": no alerts for that channel."""
    value = value.strip().lower()
    if value == OFF:
        return None
    try:
        return Level.from_slug(value)
    except KeyError:
        raise ValueError(f"{name}: {value!r} is not one of "
                         f"{', '.join(lvl.slug for lvl in Level)} or off") from None


def addresses(value: str) -> tuple[str, ...]:
    """"a@x.nhs.uk, b@x.nhs.uk" -> both; blank -> ()."""
    found = tuple(part.strip() for part in value.replace(";", ",").split(",") if part.strip())
    for address in found:
        if "@" not in address or any(c.isspace() for c in address):
            raise ValueError(f"{address!r} is not an email address")
    return found


@dataclass(frozen=True)
class Smtp:
    host: str
    port: int
    starttls: bool
    ssl: bool              # implicit TLS (port 465); else plain, upgraded with STARTTLS
    username: str
    password: str
    timeout: float
    sender: str            # the From address
    ca_file: str           # a CA bundle for the server's certificate ('' = the system's)


@dataclass(frozen=True)
class AlertSettings:
    sms_threshold: Optional[Level]   # None: no alerts for SMS conversations
    web_threshold: Optional[Level]   # the web chat and every other channel
    smtp: Optional[Smtp]             # None: no email
    email_to: tuple[str, ...]        # the department, in opening hours
    email_on_call: tuple[str, ...]   # out of hours; none: held for the next opening
    webhook_url: str
    webhook_on_call_url: str
    webhook_format: str
    webhook_secret: str              # plain format: HMAC-SHA256 of the body, if set
    webhook_timeout: float
    console_url: str
    include_patient_details: bool    # SMS alerts may name the discharge and give its number
    backfill: timedelta              # how far back the first scan reads outcomes and events
    lease: timedelta
    retry_base: timedelta
    retry_max: timedelta
    give_up_after: timedelta
    no_reply_after: timedelta
    no_reply_in_a_row: int
    incomplete_after: timedelta
    no_reply_lookback: timedelta
    sms_reminder: bool
    digest_to: tuple[str, ...]
    digest_at: time
    core: Settings

    @property
    def email_configured(self) -> bool:
        return self.smtp is not None and bool(self.email_to or self.email_on_call)

    @property
    def webhook_configured(self) -> bool:
        return bool(self.webhook_url or self.webhook_on_call_url)

    @property
    def lease_too_short(self) -> bool:
        """One send is several network waits (connect, TLS, login, sender, recipients, data):
        a lease shorter than that could hand a slow send to another worker, which would
        send it too."""
        longest = max(self.smtp.timeout if self.smtp else 0.0, self.webhook_timeout)
        return self.lease.total_seconds() <= 8 * longest

    def threshold(self, channel_group: str) -> Optional[Level]:
        return self.sms_threshold if channel_group == "sms" else self.web_threshold

    def transcript_url(self, conversation_id: str) -> str:
        """The staff console's transcript page (bot/console/app.py: GET /conversation?id=)."""
        return f"{self.console_url}/conversation?{urlencode({'id': conversation_id})}"


def _smtp() -> Optional[Smtp]:
    host = env("ALERT_SMTP_HOST")
    if not host:
        return None
    ssl = parse_flag(env("ALERT_SMTP_SSL"), "ALERT_SMTP_SSL")
    sender = env("ALERT_EMAIL_FROM")
    if not sender:
        raise ValueError("ALERT_EMAIL_FROM: set the From address of the alert emails")
    addresses(sender)
    return Smtp(host=host, port=int(env("ALERT_SMTP_PORT", "465" if ssl else "587")),
                starttls=parse_flag(env("ALERT_SMTP_STARTTLS", "false" if ssl else "true"),
                                    "ALERT_SMTP_STARTTLS"),
                ssl=ssl, username=env("ALERT_SMTP_USERNAME"), password=env("ALERT_SMTP_PASSWORD"),
                timeout=float(env("ALERT_SMTP_TIMEOUT_SECONDS")), sender=sender,
                ca_file=env("ALERT_SMTP_CA_FILE"))


def alert_settings() -> AlertSettings:
    core = settings()  # loads .env (the environment wins)
    webhook_format = env("ALERT_WEBHOOK_FORMAT").lower()
    if webhook_format not in WEBHOOK_FORMATS:
        raise ValueError(f"ALERT_WEBHOOK_FORMAT: {webhook_format!r} is not one of "
                         f"{', '.join(WEBHOOK_FORMATS)}")
    in_a_row = int(env("ALERT_NO_REPLY_IN_A_ROW"))
    if in_a_row < 1:
        raise ValueError("ALERT_NO_REPLY_IN_A_ROW must be at least 1")
    email_to = addresses(env("ALERT_EMAIL_TO"))
    console_port = env("CONSOLE_PORT")
    return AlertSettings(
        sms_threshold=parse_level(env("ALERT_LEVEL_SMS"), "ALERT_LEVEL_SMS"),
        web_threshold=parse_level(env("ALERT_LEVEL_WEB"), "ALERT_LEVEL_WEB"),
        smtp=_smtp(),
        email_to=email_to,
        email_on_call=addresses(env("ALERT_EMAIL_ON_CALL")),
        webhook_url=env("ALERT_WEBHOOK_URL"),
        webhook_on_call_url=env("ALERT_WEBHOOK_ON_CALL_URL"),
        webhook_format=webhook_format,
        webhook_secret=env("ALERT_WEBHOOK_SECRET"),
        webhook_timeout=float(env("ALERT_WEBHOOK_TIMEOUT_SECONDS")),
        console_url=env("CONSOLE_PUBLIC_URL", f"http://127.0.0.1:{console_port}").rstrip("/"),
        include_patient_details=parse_flag(env("ALERT_INCLUDE_PATIENT_DETAILS"),
                                           "ALERT_INCLUDE_PATIENT_DETAILS"),
        backfill=timedelta(hours=float(env("ALERT_BACKFILL_HOURS"))),
        lease=timedelta(seconds=float(env("ALERT_LEASE_SECONDS"))),
        retry_base=timedelta(seconds=float(env("ALERT_RETRY_BASE_SECONDS"))),
        retry_max=timedelta(seconds=float(env("ALERT_RETRY_MAX_SECONDS"))),
        give_up_after=timedelta(hours=float(env("ALERT_GIVE_UP_HOURS"))),
        no_reply_after=timedelta(hours=float(env("ALERT_NO_REPLY_HOURS"))),
        no_reply_in_a_row=in_a_row,
        incomplete_after=timedelta(minutes=float(env("ALERT_INCOMPLETE_MINUTES"))),
        no_reply_lookback=timedelta(days=float(env("ALERT_NO_REPLY_LOOKBACK_DAYS"))),
        sms_reminder=parse_flag(env("ALERT_SMS_REMINDER"), "ALERT_SMS_REMINDER"),
        digest_to=addresses(env("ALERT_DIGEST_TO")) or email_to,
        digest_at=parse_time(env("ALERT_DIGEST_AT"), "ALERT_DIGEST_AT"),
        core=core,
    )

