"""One conversation as the patient saw it, with what the bot concluded and why.

The messages come from Rasa's `events` (patient messages and bot messages, in order, with
the buttons the patient was offered); the conclusions from `triage_outcomes` (findings,
level, advice ids, sources, policy version), each finding and advice id explained by the
policy table in `bot.policy`. An SMS conversation also has its discharge and every text in
and out (`bot.sms.console_hooks`), placed among Rasa's events by time: a patient's text
that Rasa read is shown once, where Rasa has it. Read-only: nothing here writes.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Optional, cast

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.console import sms_texts
from bot.console.events import EVENTS, event_data, events_exist, mapping, text_of
from bot.console.models import QueueEntry, Review
from bot.console.queue import LevelInfo, level_info, refresh, reviews_for
from bot.console.safe_text import storable
from bot.policy import POLICY_VERSION, RULES, RULES_BY_FINDING, SOURCES
from bot.sms import console_hooks as sms
from bot.storage.models import TriageOutcome
from bot.storage.times import aware

MAX_EVENTS = 5000  # a conversation is tens of turns; this only bounds a pathological one

# advice id -> the leaflet sources of the policy rows that use it
ADVICE_SOURCES: dict[str, tuple[str, ...]] = {}
for _rule in RULES:
    ADVICE_SOURCES[_rule.advice_id] = tuple(dict.fromkeys(
        ADVICE_SOURCES.get(_rule.advice_id, ()) + _rule.sources))


@dataclass
class Message:
    kind: str            # "patient", "bot", "system", "sms" (an SMS text of ours)
    text: str
    at: Optional[datetime]
    buttons: list[str] = field(default_factory=list)
    failsafe: bool = False
    channel: str = ""
    message_id: str = ""  # a patient's message: the channel's id (Twilio's MessageSid)
    label: str = ""       # an SMS text: who or what it is ("Patient", "Check-in text" ...)
    notes: list[str] = field(default_factory=list)  # a patient's text: keyword, not read ...
    delivery: str = ""    # a text of ours: what became of it
    not_delivered: bool = False


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
class DischargeView:
    """An SMS conversation's discharge, as the transcript shows it."""

    phone: str            # E.164, for the tel: link
    phone_shown: str      # +44 7400 123456
    phone_national: str   # 07400 123456
    procedure: str
    procedure_at: datetime
    is_child: bool
    name: str
    registered_at: datetime
    source: str
    cancelled_at: Optional[datetime]
    followups: list[tuple[str, datetime, str]]  # (label, due, status and reason)


@dataclass
class Transcript:
    conversation_id: str
    entry: Optional[QueueEntry]
    messages: list[Message]
    outcomes: list[OutcomeView]
    reviews: list[tuple[Review, str]]
    truncated: bool = False
    policy_version: str = POLICY_VERSION
    discharge: Optional[DischargeView] = None


def _source(source_id: str) -> Source:
    return Source(source_id, SOURCES.get(source_id, source_id))




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
                                    channel=text_of(data.get("input_channel")),
                                    message_id=text_of(data.get("message_id"))))
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
    return OutcomeView(outcome=outcome, level=level_info(outcome.level), at=aware(outcome.created_at),
                       findings=findings, advice=advice,
                       cited=[_source(x) for x in outcome.sources or []],
                       current_policy=outcome.policy_version == POLICY_VERSION)


def _text_message(text: sms.Text) -> Message:
    if text.direction == "in":
        return Message("patient", text.body, text.at, channel="sms", message_id=text.message_sid,
                       label=sms_texts.label(text), notes=sms_texts.notes(text))
    return Message("sms", text.body, text.at, label=sms_texts.label(text),
                   failsafe=text.kind == "failsafe", delivery=sms_texts.delivery(text),
                   not_delivered=text.not_delivered)


def with_texts(messages: list[Message], texts: list[sms.Text]) -> list[Message]:
    """Rasa's messages (in their own order) with the SMS texts placed among them by time. A
    patient's text that Rasa read (same MessageSid) is not shown twice: Rasa's message
    gets what the text adds (pictures, keyword, why it was not read)."""
    rasa_read = {m.message_id: m for m in messages if m.kind == "patient" and m.message_id}
    extra = []
    for text in texts:
        seen = rasa_read.get(text.message_sid) if text.direction == "in" else None
        if seen is not None:
            seen.notes = sms_texts.notes(text)
        else:
            extra.append(_text_message(text))
    merged, i = [], 0
    for message in messages:
        # every SMS text has a time (sms.Text.at), so `extra` holds no None
        while i < len(extra) and message.at is not None and cast(datetime, extra[i].at) < message.at:
            merged.append(extra[i])
            i += 1
        merged.append(message)
    return merged + extra[i:]


def _discharge_view(found: sms.SmsConversation) -> DischargeView:
    d = found.discharge
    return DischargeView(
        phone=d.phone, phone_shown=sms.phone_for_display(d.phone, international=True),
        phone_national=sms.phone_for_display(d.phone), procedure=found.procedure_label,
        procedure_at=d.procedure_at, is_child=bool(d.is_child), name=(d.name or "").strip(),
        registered_at=d.created_at, source=d.source, cancelled_at=d.cancelled_at,
        followups=[(f.label, f.due_at, f.status + (f": {f.reason}" if f.reason else ""))
                   for f in found.followups])


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
    texts = sms.conversation(s, conversation_id)
    if entry is None and not outcomes and not messages and texts is None:
        return None
    if texts is not None:
        messages = with_texts(messages, texts.texts)
    return Transcript(conversation_id, entry, messages, [_outcome_view(o) for o in outcomes],
                      reviews_for(s, conversation_id),
                      truncated or bool(texts and texts.truncated),
                      discharge=_discharge_view(texts) if texts else None)
