"""What the staff console reads about SMS conversations, from the SMS tables (read only).

`bot.console.queue` and `bot.console.transcript` import these functions and call them; a
conversation is an SMS one when a discharge has its conversation id.

- `by_procedure`, `by_phone`: queue conditions on a conversation id column (the number in
  any common form: 07400 123456, +44 7400 123456, 447400123456 ...);
- `activity`, `unlisted_activity`, `settled`: the texts the queue must know of, because
  Rasa never saw them (STOP/HELP/START, texts after STOP, too long, pictures, a text still
  waiting or whose turn failed) or because they did not reach the patient, read from
  where the queue's marks say it stopped;
- `row_facts`: what a queue row shows (the number to call, the procedure, whether a text
  of ours did not get through);
- `conversation`: one conversation's discharge, follow-ups and every text in and out.

A text the channel could not finish has no discharge id (its turn failed, or has not run
yet); it belongs to the discharge the channel would have chosen: the latest procedure of
that number among the discharges registered by the time the text came.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any, Optional

import phonenumbers
from sqlalchemy import Integer, and_, bindparam, exists, func, or_, select, union, union_all
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql import ColumnElement, Select

from bot.sms.models import PROCEDURES, Discharge, FollowUp, InboundSms, OutboundSms
from bot.sms.settings import sms_settings
from bot.sms.texts import keyword

PROCEDURE_LABELS = {code: label[:1].upper() + label[1:] for code, label in PROCEDURES.items()}
PHONE = re.compile(r"\+?[\d\s().-]{7,25}")
MAX_TEXTS = 2000  # a conversation is tens of texts; this only bounds a pathological one

# Our texts that did not reach the patient: never accepted by Twilio (ours), or the
# carrier said so (Twilio's status callback). `suppressed` (after STOP) is not a failure.
UNSENT = ("failed", "expired")
UNDELIVERED = ("undelivered", "failed")
# Patient texts Rasa never read (every other status is a turn Rasa stored).
NOT_READ = ("keyword", "opted_out", "too_long", "no_text", "failed", "received", "processing")
# Statuses of texts the channel leaves without a discharge id.
UNFINISHED = ("received", "processing", "failed")


# --- finding conversations ---------------------------------------------------------------
def default_region() -> str:
    """How national numbers are read (SMS_DEFAULT_REGION). A wrong SMS setting elsewhere
    stops the SMS worker at start; it must not stop staff reading the queue."""
    try:
        return sms_settings().default_region
    except ValueError:
        return "GB"


def phone_forms(term: str, region: Optional[str] = None) -> list[str]:
    """The E.164 numbers a search term can mean ([] if it is not a phone number)."""
    if not PHONE.fullmatch(term or ""):
        return []
    region = region or default_region()
    digits = re.sub(r"\D", "", term)
    found = []
    for candidate in (term, "+" + digits):
        try:
            number = phonenumbers.parse(candidate, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_possible_number(number):
            found.append(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))
        if term.strip().startswith("+"):
            break
    return sorted(set(found))


def phone_for_display(e164: str, international: bool = False,
                      region: Optional[str] = None) -> str:
    """07400 123456 for a number of the default region (as staff dial it), +1 415 ... for
    others; `international` always gives +44 7400 123456."""
    return _formatted(e164, international, region or default_region())


@lru_cache(maxsize=4096)  # a page shows the same few numbers again and again
def _formatted(e164: str, international: bool, region: str) -> str:
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return e164
    home = phonenumbers.region_code_for_number(number) == region
    style = (phonenumbers.PhoneNumberFormat.NATIONAL if home and not international
             else phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    return phonenumbers.format_number(number, style)


def by_phone(conversation_id: ColumnElement, term: str) -> Optional[ColumnElement]:
    """Conversations of discharges with this number, or None if `term` is not a number."""
    forms = phone_forms(term)
    if not forms:
        return None
    return conversation_id.in_(select(Discharge.conversation_id)
                               .where(Discharge.phone.in_(forms)))


def by_procedure(conversation_id: ColumnElement, code: str, *,
                 row_by_row: bool = False) -> ColumnElement:
    """Conversations of discharges for this procedure. `row_by_row`: a correlated EXISTS,
    for a query that reads rows in an index's order and stops early (a queue page); the
    IN list suits one that reads them all (a count)."""
    if row_by_row:
        return exists().where(Discharge.conversation_id == conversation_id,
                              Discharge.procedure == code)
    return conversation_id.in_(select(Discharge.conversation_id)
                               .where(Discharge.procedure == code))


# --- which texts belong to which discharge ----------------------------------------------
def _owners_of_unfinished() -> Select:
    """(inbound id, discharge id) for texts without a discharge id (see the module doc)."""
    later = aliased(Discharge)
    return (select(InboundSms.id.label("inbound_id"), Discharge.id.label("discharge_id"))
            .join(Discharge, and_(Discharge.phone == InboundSms.from_number,
                                  Discharge.created_at <= InboundSms.received_at))
            .where(InboundSms.discharge_id.is_(None), InboundSms.status.in_(UNFINISHED),
                   ~exists().where(later.phone == Discharge.phone,
                                   later.created_at <= InboundSms.received_at,
                                   or_(later.procedure_at > Discharge.procedure_at,
                                       and_(later.procedure_at == Discharge.procedure_at,
                                            later.id > Discharge.id)))))


def _not_delivered() -> ColumnElement:
    return or_(OutboundSms.status.in_(UNSENT), OutboundSms.delivery_status.in_(UNDELIVERED))


@dataclass(frozen=True)
class Marks:
    """How far the queue has read the texts tables: every row up to these ids is settled
    (nothing more will change in it) and accounted for."""

    inbound: Any = 0   # an id (or, in a statement built once, a bind parameter)
    outbox: Any = 0


def _activity(discharges: Optional[Sequence[int]] = None, *, unread_only: bool,
              after: Marks = Marks()) -> Select:
    """(discharge id, at) for every text the queue counts as activity: the patient's texts
    (with `unread_only`, only those Rasa never read) and ours that did not get through
    (texts after the `after` marks only), and follow-ups that failed before any text was
    queued."""
    owned = _owners_of_unfinished().where(InboundSms.id > after.inbound)
    if discharges is not None:
        owned = owned.where(Discharge.id.in_(discharges))
    owned = owned.subquery()
    inbound = select(InboundSms.discharge_id, InboundSms.received_at.label("at")) \
        .where(InboundSms.discharge_id.isnot(None), InboundSms.id > after.inbound)
    if unread_only:
        inbound = inbound.where(InboundSms.status.in_(NOT_READ))
    ours = select(OutboundSms.discharge_id, OutboundSms.created_at).where(
        OutboundSms.discharge_id.isnot(None), OutboundSms.id > after.outbox, _not_delivered())
    failed_followups = select(FollowUp.discharge_id,
                              func.coalesce(FollowUp.done_at, FollowUp.due_at)) \
        .where(FollowUp.status == "failed")
    if discharges is not None:
        inbound = inbound.where(InboundSms.discharge_id.in_(discharges))
        ours = ours.where(OutboundSms.discharge_id.in_(discharges))
        failed_followups = failed_followups.where(FollowUp.discharge_id.in_(discharges))
    return union_all(
        inbound,
        select(owned.c.discharge_id, InboundSms.received_at)
        .join(owned, owned.c.inbound_id == InboundSms.id),
        ours,
        select(owned.c.discharge_id, OutboundSms.created_at)
        .join(owned, owned.c.inbound_id == OutboundSms.inbound_id)
        .where(OutboundSms.discharge_id.is_(None), OutboundSms.id > after.outbox,
               _not_delivered()),
        failed_followups)


def activity(s: Session, conversation_ids: Iterable[str]) -> dict[str, Optional[tuple[datetime, datetime]]]:
    """For the SMS conversations among these ids: the (first, last) time of their texts
    that the queue counts (see `_activity`), or None when there is none."""
    ids = {d_id: cid for d_id, cid in s.execute(
        select(Discharge.id, Discharge.conversation_id)
        .where(Discharge.conversation_id.in_(list(conversation_ids))))}
    if not ids:
        return {}
    found: dict[str, Optional[tuple[datetime, datetime]]] = dict.fromkeys(ids.values())
    texts = _activity(list(ids), unread_only=False).subquery()
    for d_id, first, last in s.execute(
            select(texts.c.discharge_id, func.min(texts.c.at), func.max(texts.c.at))
            .group_by(texts.c.discharge_id)):
        if first is not None:
            found[ids[d_id]] = (first, last)
    return found


def unlisted_query(listed_at: ColumnElement, listed_id: ColumnElement) -> Select:
    """SMS conversations with activity Rasa never saw, in texts after the marks (bind
    parameters `inbound_after`, `outbox_after`; and failed follow-ups), that the queue does
    not show yet: no queue row (`listed_id`, the conversation id column of the queue's
    table) has their id with a last activity (`listed_at`) at or after it. At most
    `limit` ids. Built once, run at every sync."""
    after = Marks(bindparam("inbound_after", type_=Integer),
                  bindparam("outbox_after", type_=Integer))
    texts = _activity(unread_only=True, after=after).subquery()
    shown = exists().where(listed_id == Discharge.conversation_id, listed_at >= texts.c.at)
    return (select(Discharge.conversation_id).distinct()
            .join(texts, texts.c.discharge_id == Discharge.id)
            .where(~shown).limit(bindparam("limit", type_=Integer)))


def unlisted_activity(s: Session, query: Select, after: Marks, limit: int) -> list[str]:
    """Runs `unlisted_query`'s query from these marks."""
    return list(s.scalars(query, {"inbound_after": after.inbound, "outbox_after": after.outbox,
                                  "limit": limit}))


# A text can still change while it waits for its turn (in), or to be sent or for the
# carrier's receipt (out); after this long nothing more is expected (Twilio gives up on
# an undelivered text within hours, and without status callbacks no receipt ever comes).
SETTLE_AFTER = timedelta(days=3)
OPEN_IN = ("received", "processing")
OPEN_OUT = ("pending", "sending")
FINAL_RECEIPTS = ("delivered", "undelivered", "failed", "read")


def settled(s: Session, after: Marks, now: datetime) -> Marks:
    """The marks moved past every row that is settled, up to the first that is not."""
    since = now - SETTLE_AFTER
    # The newest ids first: a row added meanwhile waits for the next sync.
    top_in, top_out = s.execute(select(select(func.max(InboundSms.id)).scalar_subquery(),
                                       select(func.max(OutboundSms.id)).scalar_subquery())).one()

    def upto(mark: int, top: Optional[int], model, at: ColumnElement,
             still_open: ColumnElement) -> int:
        if not top or top <= mark:
            return mark
        first_open = s.scalar(select(func.min(model.id)).where(
            model.id > mark, model.id <= top, still_open, at > since))
        return max(mark, top if first_open is None else first_open - 1)

    return Marks(
        inbound=upto(after.inbound, top_in, InboundSms, InboundSms.received_at,
                     InboundSms.status.in_(OPEN_IN)),
        outbox=upto(after.outbox, top_out, OutboundSms, OutboundSms.created_at,
                    or_(OutboundSms.status.in_(OPEN_OUT),
                        and_(OutboundSms.status == "sent",
                             or_(OutboundSms.delivery_status.is_(None),
                                 OutboundSms.delivery_status.notin_(FINAL_RECEIPTS))))))


@dataclass(frozen=True)
class RowFacts:
    """What a queue row shows of an SMS conversation."""

    phone: str            # E.164: whom to call
    procedure: str        # a key of PROCEDURES
    not_delivered: bool   # a text of ours (or a follow-up) did not reach the patient


def _not_delivered_query() -> Select:
    ids = bindparam("discharge_ids", expanding=True)
    owned = _owners_of_unfinished().where(Discharge.id.in_(ids)).subquery()
    return union(
        select(OutboundSms.discharge_id).where(OutboundSms.discharge_id.in_(ids),
                                               _not_delivered()),
        select(owned.c.discharge_id).join(OutboundSms, OutboundSms.inbound_id == owned.c.inbound_id)
        .where(OutboundSms.discharge_id.is_(None), _not_delivered()),
        select(FollowUp.discharge_id).where(FollowUp.discharge_id.in_(ids),
                                            FollowUp.status == "failed"))


# Built once: a queue page runs them for its rows.
_DISCHARGES = select(Discharge.id, Discharge.conversation_id, Discharge.phone, Discharge.procedure) \
    .where(Discharge.conversation_id.in_(bindparam("conversation_ids", expanding=True)))
_NOT_DELIVERED = _not_delivered_query()


def row_facts(s: Session, conversation_ids: Sequence[str]) -> dict[str, RowFacts]:
    """conversation id -> what its queue row shows, for the SMS conversations among these."""
    if not conversation_ids:
        return {}
    found = {d_id: (cid, phone, procedure) for d_id, cid, phone, procedure in s.execute(
        _DISCHARGES, {"conversation_ids": list(conversation_ids)})}
    if not found:
        return {}
    failed = set(s.scalars(_NOT_DELIVERED, {"discharge_ids": list(found)}))
    return {cid: RowFacts(phone, procedure, d_id in failed)
            for d_id, (cid, phone, procedure) in found.items()}


# --- one conversation ----------------------------------------------------------------------
@dataclass(frozen=True)
class Text:
    """One text in or out, as stored."""

    direction: str               # "in" (the patient's) or "out" (ours)
    at: datetime                 # received; for ours, sent (or queued, if never sent)
    body: str
    kind: str                    # out: followup, reply, help, opt_out, opt_in, failsafe ...
    status: str                  # sms_inbound.status or sms_outbox.status
    message_sid: str = ""        # in: Twilio's id, which Rasa's turn also carries
    num_media: int = 0
    keyword: str = ""            # in: stop, start or help when the text was one
    delivery_status: str = ""    # out: what Twilio's status callback last said
    delivery_error: str = ""
    last_error: str = ""

    @property
    def not_delivered(self) -> bool:
        return self.direction == "out" and (self.status in UNSENT
                                            or self.delivery_status in UNDELIVERED)


@dataclass(frozen=True)
class SmsConversation:
    discharge: Discharge
    followups: list[FollowUp]
    texts: list[Text]            # in the order they happened
    truncated: bool = False

    @property
    def procedure_label(self) -> str:
        return PROCEDURE_LABELS.get(self.discharge.procedure, self.discharge.procedure)


def conversation(s: Session, conversation_id: str) -> Optional[SmsConversation]:
    """The discharge behind this conversation and every text in and out, or None when the
    conversation is not an SMS one."""
    discharge = s.scalar(select(Discharge).where(Discharge.conversation_id == conversation_id))
    if discharge is None:
        return None
    followups = list(s.scalars(select(FollowUp).where(FollowUp.discharge_id == discharge.id)
                               .order_by(FollowUp.seq)))
    owned = _owners_of_unfinished().where(Discharge.id == discharge.id,
                                          InboundSms.from_number == discharge.phone)
    unfinished = [row.inbound_id for row in s.execute(owned)]
    inbound = list(s.scalars(select(InboundSms).where(
        or_(InboundSms.discharge_id == discharge.id, InboundSms.id.in_(unfinished)))
        .order_by(InboundSms.id).limit(MAX_TEXTS + 1)))
    outbound = list(s.scalars(select(OutboundSms).where(
        or_(OutboundSms.discharge_id == discharge.id,
            and_(OutboundSms.discharge_id.is_(None), OutboundSms.inbound_id.in_(unfinished))))
        .order_by(OutboundSms.id).limit(MAX_TEXTS + 1)))
    texts = [Text("in", row.received_at, row.body or "", "", row.status,
                  message_sid=row.message_sid, num_media=row.num_media or 0,
                  keyword=(keyword(row.body or "") or "") if row.status == "keyword" else "")
             for row in inbound[:MAX_TEXTS]]
    texts += [Text("out", row.sent_at or row.created_at, row.body or "", row.kind, row.status,
                   delivery_status=row.delivery_status or "",
                   delivery_error=row.delivery_error or "", last_error=row.last_error or "")
              for row in outbound[:MAX_TEXTS]]
    texts.sort(key=lambda text: text.at)  # stable: a reply stays after its text at a tie
    return SmsConversation(discharge, followups, texts,
                           truncated=len(inbound) > MAX_TEXTS or len(outbound) > MAX_TEXTS)

