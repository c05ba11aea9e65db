"""The official `twilio` client, pointed at TWILIO_API_BASE_URL (tests: bot/sms/local_twilio.py).

The client is synchronous (requests): it is only ever called from worker threads, never
on an event loop. One client per thread (a requests session is not shared across threads).
"""
from __future__ import annotations

import threading
from datetime import datetime, timedelta
from typing import Optional

import requests
import urllib3
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from bot.config import env
from bot.sms.settings import SmsSettings

_local = threading.local()
# Twilio error codes that no retry will fix: bad or unreachable number, unsubscribed
# recipient (21610), blocked, not SMS-capable, and so on.
PERMANENT_CODES = {21211, 21212, 21214, 21217, 21219, 21408, 21606, 21610, 21612, 21614,
                   21635, 30003, 30004, 30005, 30006, 30007}


class SendError(Exception):
    def __init__(self, message: str, *, permanent: bool, ambiguous: bool) -> None:
        super().__init__(message)
        self.permanent = permanent  # no retry can help
        self.ambiguous = ambiguous  # Twilio may have accepted it: check before sending again


def _never_sent(error: requests.RequestException) -> bool:
    """A connection that was never made (refused, DNS, connect timeout)."""
    if isinstance(error, requests.ConnectTimeout):
        return True
    reason = getattr(error.args[0], "reason", None) if error.args else None
    return isinstance(reason, (urllib3.exceptions.NewConnectionError,
                               urllib3.exceptions.ConnectTimeoutError))


def client(cfg: SmsSettings) -> Client:
    key = (cfg.account_sid, cfg.auth_token, cfg.api_base_url, cfg.http_timeout)
    cached = getattr(_local, "client", None)
    if cached is None or cached[0] != key:
        twilio = Client(cfg.account_sid, cfg.auth_token,
                        http_client=TwilioHttpClient(timeout=cfg.http_timeout))
        twilio.api.base_url = cfg.api_base_url  # the Messages API lives on the `api` domain
        _local.client = cached = (key, twilio)
    return cached[1]


def status_callback_url(cfg: SmsSettings) -> Optional[str]:
    """Where Twilio reports what became of each text: SMS_STATUS_CALLBACK_URL, else beside
    the public SMS webhook (.../webhooks/sms/status); None when neither is known."""
    explicit = env("SMS_STATUS_CALLBACK_URL")
    if explicit:
        return explicit
    if cfg.webhook_url and cfg.webhook_url.rstrip("/").endswith("/webhook"):
        return cfg.webhook_url.rstrip("/")[: -len("/webhook")] + "/status"
    return None


def send(cfg: SmsSettings, to: str, body: str) -> str:
    """Send one text; returns Twilio's message SID or raises SendError."""
    if not cfg.twilio_configured:
        raise SendError("Twilio is not configured (TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, "
                        "TWILIO_FROM_NUMBER)", permanent=False, ambiguous=False)
    try:
        callback = status_callback_url(cfg)
        extra = {"status_callback": callback} if callback else {}
        message = client(cfg).messages.create(to=to, from_=cfg.from_number, body=body, **extra)
    except TwilioRestException as error:
        permanent = (error.code in PERMANENT_CODES
                     or (400 <= error.status < 500 and error.status not in (401, 408, 409, 429)))
        raise SendError(f"Twilio {error.status} {error.code or ''}: {error.msg}".strip(),
                        permanent=permanent, ambiguous=False) from None
    except requests.ConnectionError as error:
        # Never reached Twilio, or the connection broke after the request went out.
        raise SendError(f"cannot reach Twilio: {error}", permanent=False,
                        ambiguous=not _never_sent(error)) from None
    except (requests.RequestException, TwilioException, ValueError) as error:
        # A read timeout or a garbled answer: the message may have been accepted.
        raise SendError(f"no clear answer from Twilio: {error}", permanent=False,
                        ambiguous=True) from None
    return message.sid


def find_sent(cfg: SmsSettings, to: str, body: str, since: datetime) -> Optional[str]:
    """The SID of a message with this body already sent to `to` since `since`, if any.

    Used before re-sending a text whose first attempt ended without a clear answer (a
    timeout, or a worker killed mid-send). Raises SendError if Twilio cannot be asked.
    """
    try:
        for message in client(cfg).messages.list(
                to=to, from_=cfg.from_number, date_sent_after=since - timedelta(minutes=5),
                limit=200):
            if (message.body or "") == body:
                return message.sid
    except TwilioRestException as error:
        raise SendError(f"Twilio {error.status}: {error.msg}", permanent=False,
                        ambiguous=True) from None
    except (requests.RequestException, TwilioException, ValueError) as error:
        raise SendError(f"cannot list messages at Twilio: {error}", permanent=False,
                        ambiguous=True) from None
    return None
