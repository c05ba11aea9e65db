"""Conversations and staff accounts for the staff console's tests, written straight into
the test database: messages through Rasa's own SQLTrackerStore (our TriageTrackerStore),
outcomes through bot.storage.outcomes, accounts through bot.console.auth."""
from __future__ import annotations

import asyncio
import re
import secrets
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
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
    from rasa.shared.core.events import ActionExecuted, BotUttered, SessionStarted, UserUttered
    from rasa.core.tracker_store import SQLTrackerStore
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
