"""One conversation as the patient saw it, with what the bot concluded and why.

The messages come from Rasa's `events` (patient messages and bot messages, in order, with
the buttons the patient was offered); the conclusions from `triage_outcomes` (findings,
level, advice ids, sources, policy version), each finding and advice id explained by the
policy table in `bot.policy`. Read-only: nothing here writes.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Optional

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.console.events import EVENTS, event_data, events_exist, mapping, text_of
from bot.console.models import QueueEntry, Review
from bot.console.queue import LevelInfo, level_info, refresh, reviews_for
from bot.console.safe_text import storable
from bot.policy import POLICY_VERSION, RULES, RULES_BY_FINDING, SOURCES
from bot.storage.models import TriageOutcome

MAX_EVENTS = 5000  # a conversation is tens of turns; this only bounds a pathological one

# advice id -> the leaflet sources of the policy rows that use it
ADVICE_SOURCES: dict[str, tuple[str, ...]] = {}
for _rule in RULES:
    ADVICE_SOURCES[_rule.advice_id] = tuple(dict.fromkeys(
        ADVICE_SOURCES.get(_rule.advice_id, ()) + _rule.sources))


@dataclass
class Message:
    kind: str            # "patient", "bot", "system"
    text: str
    at: Optional[datetime]
    buttons: list[str] = field(default_factory=list)
    failsafe: bool = False
    channel: str = ""


@dataclass
class Source:
    id: str
    name: str


@dataclass
class FindingRow:
    finding: str
    level: Optional[LevelInfo]
    advice_id: str
    sources: list[Source]
    quote: str


@dataclass
class AdviceRow:
    advice_id: str
    sources: list[Source]


@dataclass
class OutcomeView:
    outcome: TriageOutcome
    level: LevelInfo
    at: datetime
    findings: list[FindingRow]
    advice: list[AdviceRow]
    cited: list[Source]
    current_policy: bool


@dataclass
class Transcript:
    conversation_id: str
    entry: Optional[QueueEntry]
    messages: list[Message]
    outcomes: list[OutcomeView]
    reviews: list[tuple[Review, str]]
    truncated: bool = False
    policy_version: str = POLICY_VERSION


def _source(source_id: str) -> Source:
    return Source(source_id, SOURCES.get(source_id, source_id))


def _utc(value: Optional[datetime]) -> Optional[datetime]:
    if value is None:
        return None
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value


def _messages(s: Session, conversation_id: str) -> tuple[list[Message], bool]:
    if not events_exist(s.connection()):
        return [], False
    rows = s.execute(select(EVENTS.c.type_name, EVENTS.c.timestamp, EVENTS.c.data)
                     .where(EVENTS.c.sender_id == conversation_id)
                     .order_by(EVENTS.c.id).limit(MAX_EVENTS + 1)).all()
    messages: list[Message] = []
    for type_name, stamp, raw in rows[:MAX_EVENTS]:
        at = datetime.fromtimestamp(stamp, timezone.utc) if stamp else None
        if type_name == "user":
            data = event_data(raw)
            if mapping(data.get("metadata")).get("is_external"):
                intent = text_of(mapping(mapping(data.get("parse_data")).get("intent")).get("name"))
                messages.append(Message("system", f"Started by the system ({intent})", at))
                continue
            messages.append(Message("patient", text_of(data.get("text")), at,
                                    channel=text_of(data.get("input_channel"))))
        elif type_name == "bot":
            data = event_data(raw)
            extra = mapping(data.get("data"))
            offered = extra.get("buttons") or extra.get("quick_replies")
            buttons = [str(b.get("title") or b.get("payload") or "")
                       for b in (offered if isinstance(offered, list) else [])
                       if isinstance(b, dict)]
            messages.append(Message("bot", text_of(data.get("text")), at, buttons=buttons,
                                    failsafe=bool(mapping(extra.get("custom")).get("failsafe"))))
        elif type_name == "restart":
            messages.append(Message("system", "Conversation started again", at))
        elif type_name == "session_started":
            if messages:  # the first one is just the start
                messages.append(Message("system", "New session", at))
    return messages, len(rows) > MAX_EVENTS


def _outcome_view(outcome: TriageOutcome) -> OutcomeView:
    findings = []
    for finding in outcome.findings or []:
        rule = RULES_BY_FINDING.get(finding)
        findings.append(FindingRow(
            finding=str(finding), level=level_info(rule.level.slug) if rule else None,
            advice_id=rule.advice_id if rule else "",
            sources=[_source(x) for x in rule.sources] if rule else [],
            quote=rule.quote if rule else ""))
    advice = [AdviceRow(str(a), [_source(x) for x in ADVICE_SOURCES.get(a, ())])
              for a in outcome.advice_ids or []]
    return OutcomeView(outcome=outcome, level=level_info(outcome.level), at=_utc(outcome.created_at),
                       findings=findings, advice=advice,
                       cited=[_source(x) for x in outcome.sources or []],
                       current_policy=outcome.policy_version == POLICY_VERSION)


def load(s: Session, conversation_id: str) -> Optional[Transcript]:
    """The transcript, or None when nothing is stored under this conversation id."""
    if not storable(s, conversation_id):
        return None
    refresh(s, [conversation_id])
    entry = s.scalar(select(QueueEntry).where(QueueEntry.conversation_id == conversation_id))
    outcomes = list(s.scalars(select(TriageOutcome)
                              .where(TriageOutcome.conversation_id == conversation_id)
                              .order_by(TriageOutcome.id)))
    messages, truncated = _messages(s, conversation_id)
    if entry is None and not outcomes and not messages:
        return None
    return Transcript(conversation_id, entry, messages, [_outcome_view(o) for o in outcomes],
                      reviews_for(s, conversation_id), truncated)
