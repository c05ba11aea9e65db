"""Alert emails: composed when queued (the stored message is what is sent, every attempt),
sent with the standard library's smtplib over one connection per pass (STARTTLS or
implicit TLS, and login, as ALERT_SMTP_* say).

A send that fails before the server has the whole message is safe to repeat. One that
fails after (the connection dropped while the server was answering the end of the data) may
have been delivered: it is retried marked as a possible repeat, with the same Message-ID,
so that the team's mail system can fold the copies together."""
from __future__ import annotations

import smtplib
import ssl
from collections.abc import Sequence
from datetime import datetime
from email import message_from_string
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, make_msgid
from typing import Optional, cast

from bot.alerts.settings import Smtp

# 7-bit: quoted-printable or base64 bodies, so any server takes the message as stored.
POLICY = SMTP.clone(cte_type="7bit")
REPEAT_NOTE = "[may be a repeat] "


class DeliveryError(Exception):
    """Why a message did not go: a short reason (error kind and code), never its content.
    `permanent`: trying again will not help. `ambiguous`: the server may have taken it.
    `unreachable`: the server itself failed (down, refused the login): its other messages
    would fail the same way."""

    def __init__(self, reason: str, *, permanent: bool = False, ambiguous: bool = False,
                 unreachable: bool = False) -> None:
        super().__init__(reason)
        self.permanent, self.ambiguous, self.unreachable = permanent, ambiguous, unreachable


def new_message_id(sender: str, kind: str) -> str:
    return make_msgid(idstring=kind, domain=sender.rpartition("@")[2] or "localhost")


def compose(*, smtp: Smtp, recipients: Sequence[str], subject: str, text: str, now: datetime,
            message_id: str, html: Optional[str] = None,
            image: Optional[tuple[bytes, str, str]] = None) -> str:
    """The whole message, as stored and sent. `image`: (png, cid, filename), shown inline
    in the HTML part (which must refer to it as cid:<cid>)."""
    message = EmailMessage(policy=POLICY)
    message["Subject"] = subject
    message["From"] = smtp.sender
    message["To"] = ", ".join(recipients)
    message["Date"] = format_datetime(now)
    message["Message-ID"] = message_id
    message["Auto-Submitted"] = "auto-generated"  # no out-of-office replies to the bot
    message.set_content(text)
    if html is not None:
        message.add_alternative(html, subtype="html")
        if image is not None:
            png, cid, filename = image
            # multipart/alternative after add_alternative: [text part, html part]
            html_part = cast(list[EmailMessage], message.get_payload())[1]
            html_part.add_related(png, maintype="image", subtype="png", cid=f"<{cid}>",
                                  filename=filename, disposition="inline")
    return message.as_string()


def marked_as_repeat(raw: str) -> str:
    """The stored message with its subject saying it may be a repeat (same Message-ID)."""
    message = message_from_string(raw, policy=POLICY)
    subject = str(message["Subject"] or "")
    if not subject.startswith(REPEAT_NOTE):
        message.replace_header("Subject", REPEAT_NOTE + subject)
    message["X-Triage-Possible-Repeat"] = "yes"
    return message.as_string()


def _code_error(stage: str, code: int, ambiguous: bool = False) -> DeliveryError:
    return DeliveryError(f"SMTP {stage} refused: {code}", permanent=500 <= code < 600,
                         ambiguous=ambiguous)


class SmtpSender:
    """One connection, opened on the first message and reused for the pass."""

    def __init__(self, cfg: Smtp) -> None:
        self.cfg = cfg
        self.connection: Optional[smtplib.SMTP] = None

    def _tls(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.cfg.ca_file or None)

    def _connect(self) -> smtplib.SMTP:
        c = self.cfg
        try:
            if c.ssl:
                conn: smtplib.SMTP = smtplib.SMTP_SSL(c.host, c.port, timeout=c.timeout,
                                                      context=self._tls())
            else:
                conn = smtplib.SMTP(c.host, c.port, timeout=c.timeout)
            conn.ehlo()
            if c.starttls and not c.ssl:
                conn.starttls(context=self._tls())
                conn.ehlo()
            if c.username:
                conn.login(c.username, c.password)
        except smtplib.SMTPAuthenticationError as error:
            raise DeliveryError(f"SMTP login refused: {error.smtp_code}",
                                unreachable=True) from None
        except smtplib.SMTPNotSupportedError:
            raise DeliveryError("SMTP server offers no STARTTLS or login",
                                unreachable=True) from None
        except smtplib.SMTPResponseException as error:
            raise DeliveryError(f"SMTP connection refused: {error.smtp_code}",
                                unreachable=True) from None
        except (OSError, smtplib.SMTPException) as error:
            raise DeliveryError(f"SMTP server unreachable: {type(error).__name__}",
                                unreachable=True) from None
        self.connection = conn
        return conn

    def send(self, recipients: Sequence[str], raw: str) -> str:
        """Send one message; returns a note ("" or which recipients were refused).
        Raises DeliveryError."""
        conn = self.connection or self._connect()
        stage = "sender"
        try:
            code, _ = conn.mail(self.cfg.sender)
            if code != 250:
                self._reset()
                raise _code_error("sender", code)
            stage, refused = "recipient", []
            for address in recipients:
                code, _ = conn.rcpt(address)
                if code not in (250, 251):
                    refused.append((address, code))
            if len(refused) == len(recipients):
                self._reset()
                raise _code_error("recipient", max(code for _, code in refused))
            stage = "data"
            code, _ = conn.data(raw.encode("ascii"))
            if code != 250:
                raise _code_error("message", code)
        except DeliveryError:
            raise
        except smtplib.SMTPDataError as error:
            raise _code_error("message", error.smtp_code) from None
        except smtplib.SMTPResponseException as error:
            self.close()
            raise _code_error(stage, error.smtp_code) from None
        except (TimeoutError, OSError, smtplib.SMTPException) as error:
            self.close()
            raise DeliveryError(f"SMTP connection lost during the {stage}: "
                                f"{type(error).__name__}", ambiguous=stage == "data",
                                unreachable=True) from None
        if refused:
            return f"refused by the server: {len(refused)} of {len(recipients)} recipient(s)"
        return ""

    def _reset(self) -> None:
        assert self.connection is not None  # only called by send(), on its open connection
        try:
            self.connection.rset()
        except (OSError, smtplib.SMTPException):
            self.close()

    def close(self) -> None:
        conn, self.connection = self.connection, None
        if conn is None:
            return
        try:
            conn.quit()
        except (OSError, smtplib.SMTPException):
            conn.close()
