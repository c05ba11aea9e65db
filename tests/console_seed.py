"""Conversations and staff accounts for the staff console's tests, written straight into
the test database: messages through Rasa's own SQLTrackerStore (our TriageTrackerStore),
outcomes through bot.storage.outcomes, accounts through bot.console.auth."""
from __future__ import annotations

import asyncio
import re
import secrets
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from typing import Optional

import requests

from bot.policy import POLICY_VERSION, RULES_BY_FINDING

XSS = "<img src=x onerror=alert(1)>"
PASSWORD = "a long test password 1"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def save_messages(conversation_id: str, turns: list[tuple[str, str]], channel: str = "rest",
                  buttons: Optional[list[str]] = None, url: Optional[str] = None) -> None:
    """turns: ("patient" | "bot", text). Saved as Rasa saves them (in the test database,
    or in the one at `url`)."""
    from rasa.core.tracker_store import SQLTrackerStore
    from rasa.shared.core.events import ActionExecuted, BotUttered, SessionStarted, UserUttered
    from rasa.shared.core.trackers import DialogueStateTracker

    from bot.storage.tracker_store import TriageTrackerStore

    events = [ActionExecuted("action_session_start"), SessionStarted(),
              ActionExecuted("action_listen")]
    for who, text in turns:
        if who == "patient":
            events.append(UserUttered(text, {"name": "report_symptom", "confidence": 0.9},
                                      input_channel=channel))
        else:
            data = {"buttons": [{"title": b, "payload": b} for b in buttons]} if buttons else {}
            events += [BotUttered(text, data), ActionExecuted("action_listen")]
    store = SQLTrackerStore(host=url) if url else TriageTrackerStore()
    tracker = DialogueStateTracker.from_events(conversation_id, events)
    # In a thread of its own: Playwright's sync API keeps an event loop running in this one.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, store.save(tracker)).result()


def save_outcome(conversation_id: str, level: str, channel: str = "rest",
                 findings: Optional[list[str]] = None, at: Optional[datetime] = None,
                 url: Optional[str] = None) -> int:
    from bot.storage.db import session
    from bot.storage.models import TriageOutcome

    findings = findings or {"emergency": ["red_flag.chest_pain"], "urgent": ["site.redness_spreading"],
                            "contact_team": ["bleeding.continued"],
                            "self_care": ["site.soreness_easing"]}[level]
    rules = [RULES_BY_FINDING[f] for f in findings]
    with session(url) as s, s.begin():
        row = TriageOutcome(conversation_id=conversation_id, channel=channel, level=level,
                            findings=findings, advice_ids=[r.advice_id for r in rules],
                            sources=sorted({x for r in rules for x in r.sources}),
                            unsure_slots=[], red_flag_interrupt=level == "emergency",
                            patient_is_child=False, advice_text="advice",
                            policy_version=POLICY_VERSION,
                            created_at=at or datetime.now(timezone.utc))
        s.add(row)
        s.flush()
        return row.id


def make_staff(role: str, username: Optional[str] = None, password: str = PASSWORD,
               url: Optional[str] = None) -> str:
    from bot.console import auth
    from bot.storage.db import session

    username = username or unique(role)
    with session(url) as s, s.begin():
        auth.create_staff(s, username, password, role)
    return username


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF token in the page"
    return match.group(1)


def login(base: str, username: str, password: str = PASSWORD) -> requests.Session:
    web = requests.Session()
    token = csrf_of(web.get(f"{base}/login").text)
    response = web.post(f"{base}/login", data={"csrf_token": token, "username": username,
                                               "password": password, "next": "/"},
                        allow_redirects=False)
    assert response.status_code == 303, (response.status_code, response.text[:500])
    return web


def random_password() -> str:
    return secrets.token_urlsafe(18)


# --- SMS conversations ------------------------------------------------------------------
# A discharge, its texts in and out (sms_inbound, sms_outbox) and its Rasa events, written
# as the SMS channel and worker write them, at given times.
def random_mobile() -> str:
    """A UK mobile number in E.164, different for every test."""
    return f"+447400{secrets.randbelow(10 ** 6):06d}"


def save_discharge(phone: str, procedure: str = "bone_biopsy",
                   procedure_at: Optional[datetime] = None, is_child: bool = False,
                   name: Optional[str] = None, created_at: Optional[datetime] = None,
                   url: Optional[str] = None):
    from bot.sms.models import Discharge
    from bot.storage.db import session

    now = datetime.now(timezone.utc)
    with session(url) as s, s.begin():
        row = Discharge(phone=phone, procedure=procedure,
                        procedure_at=procedure_at or now - timedelta(hours=5), is_child=is_child,
                        name=name, conversation_id="sms-" + secrets.token_hex(12), source="test",
                        created_at=created_at or now - timedelta(hours=4))
        s.add(row)
        s.flush()
        return row


def save_text_in(discharge, body: str, at: datetime, status: str = "processed",
                 num_media: int = 0, assigned: bool = True,
                 url: Optional[str] = None) -> tuple[int, str]:
    """A text from the patient; `assigned=False` leaves discharge_id empty, as the channel
    does while the text waits for its turn or when the turn failed. Returns (id, MessageSid)."""
    from bot.sms.models import InboundSms
    from bot.storage.db import session

    sid = "SM" + secrets.token_hex(16)
    with session(url) as s, s.begin():
        row = InboundSms(message_sid=sid, from_number=discharge.phone, to_number="+447700900000",
                         body=body, num_media=num_media, status=status,
                         discharge_id=discharge.id if assigned else None, received_at=at,
                         processed_at=at, attempts=1)
        s.add(row)
        s.flush()
        return row.id, sid


def save_text_out(discharge, body: str, kind: str, at: datetime, status: str = "sent",
                  delivery: Optional[str] = "delivered", error: Optional[str] = None,
                  inbound_id: Optional[int] = None, assigned: bool = True,
                  last_error: Optional[str] = None, url: Optional[str] = None) -> int:
    """A text we sent (or tried to): `status` is ours, `delivery` Twilio's status callback."""
    from bot.sms.models import OutboundSms
    from bot.storage.db import session

    with session(url) as s, s.begin():
        row = OutboundSms(to_number=discharge.phone, body=body, kind=kind, status=status,
                          attempts=1, next_attempt_at=at,
                          discharge_id=discharge.id if assigned else None,
                          inbound_id=inbound_id, created_at=at, last_error=last_error,
                          sent_at=at if status == "sent" else None,
                          twilio_sid="SM" + secrets.token_hex(16) if status == "sent" else None,
                          delivery_status=delivery if status == "sent" else None,
                          delivery_error=error, delivery_at=at if delivery else None)
        s.add(row)
        s.flush()
        return row.id


def save_sms_events(conversation_id: str, items: list[tuple], url: Optional[str] = None) -> None:
    """Rasa's side of an SMS conversation, at given times. items:
    ("followup", at) the worker's trigger_intent (a new session, the external greet);
    ("patient", text, at, message_sid); ("bot", text, at, [buttons])."""
    from rasa.core.tracker_store import SQLTrackerStore
    from rasa.shared.core.events import ActionExecuted, BotUttered, SessionStarted, UserUttered
    from rasa.shared.core.trackers import DialogueStateTracker

    from bot.storage.tracker_store import TriageTrackerStore

    events = []
    for item in items:
        kind = item[0]
        stamp = (item[1] if kind == "followup" else item[2]).timestamp()
        if kind == "followup":
            greet = UserUttered.create_external("greet", input_channel="sms")
            greet.timestamp = stamp
            events += [ActionExecuted("action_session_start", timestamp=stamp),
                       SessionStarted(timestamp=stamp),
                       ActionExecuted("action_listen", timestamp=stamp), greet]
        elif kind == "patient":
            events.append(UserUttered(item[1], {"name": "report_symptom", "confidence": 0.9},
                                      timestamp=stamp, input_channel="sms", message_id=item[3],
                                      metadata={"message_sid": item[3]}))
        else:
            buttons = item[3] if len(item) > 3 else []
            data = {"buttons": [{"title": b, "payload": b} for b in buttons]} if buttons else {}
            events += [BotUttered(item[1], data, timestamp=stamp),
                       ActionExecuted("action_listen", timestamp=stamp)]
    store = SQLTrackerStore(host=url) if url else TriageTrackerStore()
    tracker = DialogueStateTracker.from_events(conversation_id, events)
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, store.save(tracker)).result()


def save_followup(discharge, seq: int, day: int, label: str, due_at: datetime,
                  status: str = "sent", reason: Optional[str] = None,
                  url: Optional[str] = None) -> int:
    from bot.sms.models import FollowUp
    from bot.storage.db import session

    with session(url) as s, s.begin():
        row = FollowUp(discharge_id=discharge.id, seq=seq, day=day, label=label, due_at=due_at,
                       window_end=due_at + timedelta(hours=3), status=status,
                       next_attempt_at=due_at, attempts=1 if status != "scheduled" else 0,
                       reason=reason, done_at=due_at if status != "scheduled" else None,
                       created_at=discharge.created_at)
        s.add(row)
        s.flush()
        return row.id
