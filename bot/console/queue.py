"""The review queue: one row per conversation, in the order staff work through it.

Order: unreviewed first; then by level (emergency, urgent, contact team, conversations
that ended without advice, self-care); then newest activity first. The rows live in
`console_conversations`, derived from `triage_outcomes` (level, channel), Rasa's
`events` (patient messages) and, for SMS conversations, the texts Rasa never saw or that
did not reach the patient (`bot.sms.console_hooks`): `sync` reads whatever is new (by id,
with a small overlap for rows committed out of order on PostgreSQL) and `refresh`
recomputes each touched conversation from scratch, so running either twice, or from two
processes, is harmless. Nothing here writes to `triage_outcomes`, `events` or the SMS
tables.

Paging is keyset paging over (reviewed, level_rank) "buckets": each bucket is one range
of the index `(reviewed, level_rank, last_at, id)` (or the same prefixed by
`channel_group` when filtering by channel), read newest first from the cursor on, so a
page costs the same on page 1 and page 2,000.
"""
from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta, timezone
from typing import Optional

from sqlalchemy import and_, bindparam, delete, func, insert, or_, select, tuple_, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement

from bot.alerts import staff as alert_staff
from bot.config import settings
from bot.console.events import EVENTS, event_data, events_exist, mapping, text_of
from bot.console.models import REVIEW_OUTCOMES, QueueEntry, Review, Staff, SyncMark
from bot.console.safe_text import storable, without_controls
from bot.policy import Level
from bot.sms import console_hooks as sms
from bot.storage.db import session as db_session
from bot.storage.models import TriageOutcome
from bot.storage.times import aware

# --- levels --------------------------------------------------------------------------


@dataclass(frozen=True)
class LevelInfo:
    slug: str
    label: str
    rank: int       # queue order, highest first
    severity: int   # bot.policy.Level value; -1 for "no advice given"


LEVELS: tuple[LevelInfo, ...] = (
    LevelInfo("emergency", "Emergency", 4, Level.EMERGENCY.value),
    LevelInfo("urgent", "Urgent", 3, Level.URGENT.value),
    LevelInfo("contact_team", "Contact team", 2, Level.CONTACT_TEAM.value),
    LevelInfo("none", "No advice given", 1, -1),
    LevelInfo("self_care", "Self-care", 0, Level.SELF_CARE.value),
)
LEVEL_BY_SLUG = {info.slug: info for info in LEVELS}
ACTION_LEVELS = ("emergency", "urgent", "contact_team")
assert {lvl.slug for lvl in Level} <= set(LEVEL_BY_SLUG), "a policy level is missing here"
# An unknown level string (a newer policy?) is never hidden low in the queue.
UNKNOWN_LEVEL = LevelInfo("unknown", "Unknown level", 2, Level.CONTACT_TEAM.value)


def level_info(slug: str) -> LevelInfo:
    return LEVEL_BY_SLUG.get(slug) or replace(UNKNOWN_LEVEL, slug=slug, label=slug)


# --- channels ------------------------------------------------------------------------
CHANNEL_GROUPS = {"web": "Web chat", "sms": "SMS", "other": "Other"}


def channel_group(channel: str) -> str:
    """Rasa's input channel name -> web / sms / other. The web chat reaches Rasa through
    the REST channel ("rest"); any channel whose name mentions sms or twilio is SMS."""
    name = (channel or "").lower()
    if "sms" in name or "twilio" in name:
        return "sms"
    if name in ("rest", "web", "socketio", "webchat") or name.startswith("web"):
        return "web"
    return "other"


# --- SMS discharges ----------------------------------------------------------------
# A conversation is an SMS one when a discharge has its id (bot.sms.console_hooks): the
# queue filters by its procedure, finds it by its phone number and lists conversations
# whose texts Rasa never saw or that did not reach the patient.
PROCEDURES = sms.PROCEDURE_LABELS  # code -> label


# --- filters -------------------------------------------------------------------------
MAX_SEARCH = 255


@dataclass(frozen=True)
class Filters:
    levels: tuple[str, ...] = ()
    date_from: Optional[date] = None
    date_to: Optional[date] = None   # inclusive
    channel: str = ""                # "", web, sms, other
    reviewed: Optional[bool] = None
    procedure: str = ""
    search: str = ""

    @classmethod
    def from_query(cls, query: Mapping) -> Filters:
        """From a request's query or form (a MultiDict or a plain dict); anything invalid
        is dropped rather than trusted."""
        getall = getattr(query, "getall", None)
        raw_levels = getall("level", []) if getall else query.get("level") or []
        if isinstance(raw_levels, str):
            raw_levels = [raw_levels]
        levels = tuple(sorted({lvl for lvl in raw_levels if lvl in LEVEL_BY_SLUG},
                              key=lambda s: -LEVEL_BY_SLUG[s].rank))
        reviewed = {"yes": True, "no": False}.get(str(query.get("reviewed", "")))
        channel = str(query.get("channel", ""))
        procedure = str(query.get("procedure", ""))
        return cls(levels=levels, date_from=_date(query.get("from")), date_to=_date(query.get("to")),
                   channel=channel if channel in CHANNEL_GROUPS else "",
                   reviewed=reviewed, procedure=procedure if procedure in PROCEDURES else "",
                   search=without_controls(str(query.get("q", ""))).strip()[:MAX_SEARCH])

    def as_query(self) -> list[tuple[str, str]]:
        pairs = [("level", lvl) for lvl in self.levels]
        if self.date_from:
            pairs.append(("from", self.date_from.isoformat()))
        if self.date_to:
            pairs.append(("to", self.date_to.isoformat()))
        if self.channel:
            pairs.append(("channel", self.channel))
        if self.reviewed is not None:
            pairs.append(("reviewed", "yes" if self.reviewed else "no"))
        if self.procedure:
            pairs.append(("procedure", self.procedure))
        if self.search:
            pairs.append(("q", self.search))
        return pairs

    def describe(self) -> dict:
        """For the audit trail: the filters as a small JSON-able dict."""
        out: dict = {}
        for key, value in self.as_query():
            out.setdefault(key, []).append(value)
        return {k: v if k == "level" else v[0] for k, v in out.items()}


def _date(value) -> Optional[date]:
    try:
        return date.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


def _local_midnight_utc(day: date) -> datetime:
    """Midnight of a local calendar day (TIMEZONE), in UTC."""
    return datetime.combine(day, time(0), tzinfo=settings().timezone).astimezone(timezone.utc)


def _conditions(f: Filters, counting: bool = False) -> list[ColumnElement]:
    q = QueueEntry
    where: list[ColumnElement] = []
    if f.channel:
        where.append(q.channel_group == f.channel)
    elif f.procedure and not counting:  # only SMS rows have one: a page reads the SMS index
        where.append(q.channel_group == "sms")
    if f.date_from:
        where.append(q.last_at >= _naive_utc(_local_midnight_utc(f.date_from)))
    if f.date_to:
        where.append(q.last_at < _naive_utc(_local_midnight_utc(f.date_to + timedelta(days=1))))
    if f.procedure:  # at 88,000 rows, a page: 80 ms by IN, 2.5 ms row by row; a count: 7, 34
        where.append(sms.by_procedure(q.conversation_id, f.procedure, row_by_row=not counting))
    return where


def _search_condition(term: str) -> ColumnElement:
    q = QueueEntry.conversation_id
    options = [q == term, and_(q > term, q < term + "\uffff")]  # exact, or id prefix
    by_phone = sms.by_phone(q, term)
    if by_phone is not None:
        options.append(by_phone)  # the discharge's number, in whatever form it was typed
        # and conversations named by the number (channels that use it as the sender id)
        options.append(q.in_(sms.phone_forms(term) + [re.sub(r"\D", "", term)]))
    return or_(*options)


def _naive_utc(value: datetime) -> datetime:
    """What we compare stored datetimes with: UTC (SQLite keeps no time zone)."""
    return value.astimezone(timezone.utc).replace(tzinfo=None) if value.tzinfo else value


# --- pages ---------------------------------------------------------------------------


EPOCH = datetime(1970, 1, 1)


@dataclass(frozen=True)
class Cursor:
    reviewed: bool
    rank: int
    last_at: datetime
    id: int

    def encode(self) -> str:
        micros = (_naive_utc(aware(self.last_at)) - EPOCH) // timedelta(microseconds=1)
        return f"{int(self.reviewed)}.{self.rank}.{micros}.{self.id}"

    @classmethod
    def decode(cls, value: str) -> Optional[Cursor]:
        match = re.fullmatch(r"([01])\.(\d)\.(\d{1,20})\.(\d{1,18})", value or "")
        if not match:
            return None
        reviewed, rank, micros, row_id = match.groups()
        at = EPOCH + timedelta(microseconds=int(micros))  # naive UTC
        return cls(reviewed == "1", int(rank), at, int(row_id))


@dataclass
class QueueRow:
    entry: QueueEntry
    review: Optional[Review] = None
    reviewer: str = ""
    phone: str = ""             # an SMS conversation's discharge: whom to call
    procedure: str = ""
    not_delivered: bool = False  # a text of ours did not reach the patient
    marks: set[str] = field(default_factory=set)  # open: "alert", "no_reply", "incomplete"

    @property
    def level(self) -> LevelInfo:
        return level_info(self.entry.level)

    @property
    def cursor(self) -> Cursor:
        e = self.entry
        return Cursor(bool(e.reviewed), e.level_rank, e.last_at, e.id)


@dataclass
class QueuePage:
    rows: list[QueueRow]
    next_cursor: Optional[str]
    searched: bool = False
    buckets_read: int = 0
    notes: list[str] = field(default_factory=list)


def _buckets(f: Filters) -> list[tuple[bool, int]]:
    """(reviewed, level_rank) groups in queue order. Filters go by rank, so an unknown
    level (which has contact team's rank) shows with contact team."""
    reviewed = [False, True] if f.reviewed is None else [f.reviewed]
    ranks = sorted({info.rank for info in LEVELS if not f.levels or info.slug in f.levels},
                   reverse=True)
    return [(r, k) for r in reviewed for k in ranks]


def page(s: Session, f: Filters, after: Optional[Cursor] = None, size: int = 50) -> QueuePage:
    if f.search:
        return _search(s, f, size)
    where = _conditions(f)
    buckets = _buckets(f)
    start = 0
    if after is not None:
        key = (after.reviewed, after.rank)
        later = [i for i, b in enumerate(buckets) if b == key or _bucket_after(b, key)]
        start = later[0] if later else len(buckets)
    found: list[QueueEntry] = []
    read = 0
    for reviewed, rank in buckets[start:]:
        read += 1
        query = select(QueueEntry).where(QueueEntry.reviewed == reviewed,
                                         QueueEntry.level_rank == rank, *where)
        if after is not None and (reviewed, rank) == (after.reviewed, after.rank):
            query = query.where(tuple_(QueueEntry.last_at, QueueEntry.id)
                                < (_naive_utc(after.last_at), after.id))
        query = query.order_by(QueueEntry.last_at.desc(), QueueEntry.id.desc())
        found += s.scalars(query.limit(size + 1 - len(found))).all()
        if len(found) > size:
            break
    rows = _rows(s, found[:size])
    next_cursor = rows[-1].cursor.encode() if len(found) > size else None
    return QueuePage(rows, next_cursor, buckets_read=read)


def _bucket_after(bucket: tuple[bool, int], key: tuple[bool, int]) -> bool:
    """Whether `bucket` comes after `key` in queue order (reviewed last, rank high first)."""
    return (bucket[0], -bucket[1]) > (key[0], -key[1])


def sort_key(entry: QueueEntry) -> tuple:
    return (bool(entry.reviewed), -entry.level_rank, -aware(entry.last_at).timestamp(), -entry.id)


def _search(s: Session, f: Filters, size: int) -> QueuePage:
    query = select(QueueEntry).where(_search_condition(f.search), *_conditions(f))
    if f.levels:
        query = query.where(QueueEntry.level_rank.in_({LEVEL_BY_SLUG[x].rank for x in f.levels}))
    if f.reviewed is not None:
        query = query.where(QueueEntry.reviewed == f.reviewed)
    found = sorted(s.scalars(query.limit(size + 1)).all(), key=sort_key)
    page_ = QueuePage(_rows(s, found[:size]), None, searched=True)
    if len(found) > size:
        page_.notes.append(f"More than {size} conversations match: type more of the id.")
    return page_


def count(s: Session, f: Filters) -> int:
    query = select(func.count()).select_from(QueueEntry).where(*_conditions(f, counting=True))
    if f.search:
        query = query.where(_search_condition(f.search))
    if f.levels:  # by rank: the count reads the index only
        query = query.where(QueueEntry.level_rank.in_({LEVEL_BY_SLUG[x].rank for x in f.levels}))
    if f.reviewed is not None:
        query = query.where(QueueEntry.reviewed == f.reviewed)
    return s.scalar(query) or 0


def _rows(s: Session, entries: Sequence[QueueEntry]) -> list[QueueRow]:
    """The entries with their last review and, for SMS conversations, the discharge and
    whether a text did not get through."""
    review_ids = [e.last_review_id for e in entries if e.last_review_id]
    reviews: dict[int, tuple[Review, str]] = {}
    if review_ids:
        for review, username in s.execute(select(Review, Staff.username)
                                          .join(Staff, Staff.id == Review.staff_id)
                                          .where(Review.id.in_(review_ids))):
            reviews[review.id] = (review, username)
    facts = sms.row_facts(s, [e.conversation_id for e in entries if e.channel_group == "sms"])
    region = sms.default_region() if facts else ""
    marks = alert_staff.open_marks_by_conversation(s, [e.conversation_id for e in entries])
    rows = []
    for entry in entries:
        review, who = reviews.get(entry.last_review_id, (None, ""))
        row = QueueRow(entry, review, who, marks=marks.get(entry.conversation_id, set()))
        sms_facts = facts.get(entry.conversation_id)
        if sms_facts is not None:
            row.phone = sms.phone_for_display(sms_facts.phone, region=region)
            row.procedure = PROCEDURES.get(sms_facts.procedure, sms_facts.procedure)
            row.not_delivered = sms_facts.not_delivered
        rows.append(row)
    return rows


def all_rows(s: Session, f: Filters, limit: int, batch: int = 1000) -> Iterator[QueueRow]:
    """Every row of the filtered queue in queue order (for the CSV export)."""
    after: Optional[Cursor] = None
    sent = 0
    while sent < limit:
        current = page(s, f, after, size=min(batch, limit - sent))
        yield from current.rows
        sent += len(current.rows)
        if current.searched or not current.next_cursor:
            return
        after = Cursor.decode(current.next_cursor)


# --- overview ------------------------------------------------------------------------


@dataclass
class Overview:
    waiting: int
    waiting_by_level: dict[str, int]
    days: list[date]
    per_day: dict[date, dict[str, int]]
    total_30_days: int


def waiting(s: Session) -> int:
    return s.scalar(select(func.count()).select_from(QueueEntry)
                    .where(QueueEntry.reviewed.is_(False))) or 0


def overview(s: Session, days: int = 30, today: Optional[date] = None) -> Overview:
    tz = settings().timezone
    today = today or datetime.now(tz).date()
    first_day = today - timedelta(days=days - 1)
    waiting_by_rank = dict(s.execute(
        select(QueueEntry.level_rank, func.count()).where(QueueEntry.reviewed.is_(False))
        .group_by(QueueEntry.level_rank)).all())
    # By rank (an index-only count); an unknown level counts with contact team, its rank.
    waiting_by_level = {info.slug: waiting_by_rank.get(info.rank, 0) for info in LEVELS}
    per_day: dict[date, dict[str, int]] = {}
    slug_of_rank = {info.rank: info.slug for info in LEVELS}
    total = 0
    for i in range(days):  # one index range per local day (DST-proof, any database)
        day = first_day + timedelta(days=i)
        start = _naive_utc(_local_midnight_utc(day))
        end = _naive_utc(_local_midnight_utc(day + timedelta(days=1)))
        counts = {info.slug: 0 for info in LEVELS}
        for rank, n in s.execute(select(QueueEntry.level_rank, func.count())
                                 .where(QueueEntry.first_at >= start, QueueEntry.first_at < end)
                                 .group_by(QueueEntry.level_rank)):
            counts[slug_of_rank.get(rank, "contact_team")] += n
            total += n
        per_day[day] = counts
    return Overview(sum(waiting_by_rank.values()), waiting_by_level, list(per_day), per_day, total)


# --- reviews -------------------------------------------------------------------------


def add_review(s: Session, conversation_id: str, staff: Staff, outcome: str, note: str) -> Review:
    """Records a review (append-only) and marks the queue row; nothing else changes."""
    if outcome not in REVIEW_OUTCOMES:
        raise ValueError("Choose an outcome.")
    note = note.strip()
    if outcome == "other" and not note:
        raise ValueError("Add a note to say what was done.")
    if len(note) > 4000:
        raise ValueError("The note is too long (4,000 characters at most).")
    if not storable(s, conversation_id):
        raise LookupError(conversation_id)
    refresh(s, [conversation_id])
    entry = s.scalar(select(QueueEntry).where(QueueEntry.conversation_id == conversation_id))
    if entry is None:
        raise LookupError(conversation_id)
    review = Review(conversation_id=conversation_id, staff_id=staff.id, outcome=outcome, note=note,
                    last_outcome_id=entry.last_outcome_id or 0,
                    created_at=datetime.now(timezone.utc))
    s.add(review)
    s.flush()
    refresh(s, [conversation_id])
    return review


def reviews_for(s: Session, conversation_id: str) -> list[tuple[Review, str]]:
    return list(s.execute(select(Review, Staff.username).join(Staff, Staff.id == Review.staff_id)
                          .where(Review.conversation_id == conversation_id)
                          .order_by(Review.id)).all())


# --- keeping the derived table up to date ------------------------------------------------
TABLE = QueueEntry.__table__
OUTCOMES_SOURCE, EVENTS_SOURCE = "triage_outcomes", "events"
SMS_IN_SOURCE, SMS_OUT_SOURCE = "sms_inbound", "sms_outbox"
SMS_UNLISTED = sms.unlisted_query(QueueEntry.last_at, QueueEntry.conversation_id)
# Ids re-read at every sync on databases where a transaction can commit after one that
# took a later id (PostgreSQL): refresh is idempotent, so reading twice is harmless.
OUTCOME_OVERLAP, EVENT_OVERLAP = 200, 1000
CHUNK = 400  # conversation ids per IN (...) list
_sync_lock = threading.Lock()


def _chunks(items: Sequence[str], size: int = CHUNK) -> Iterator[Sequence[str]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


def _epoch(value: Optional[float]) -> Optional[datetime]:
    return datetime.fromtimestamp(value, timezone.utc).replace(tzinfo=None) if value else None


def refresh(s: Session, conversation_ids: Iterable[str]) -> int:
    """Recompute the queue rows of these conversations from triage_outcomes, events and
    reviews. Returns how many rows it inserted, changed or removed."""
    ids = sorted({c for c in conversation_ids if c})
    if not ids:
        return 0
    have_events = events_exist(s.connection())
    changed = 0
    o = TriageOutcome
    for chunk in _chunks(ids):
        state: dict[str, dict] = {}
        st: Optional[dict]  # one conversation's state; None below when it has none
        for cid, level, n, first, last, max_id in s.execute(
                select(o.conversation_id, o.level, func.count(), func.min(o.created_at),
                       func.max(o.created_at), func.max(o.id))
                .where(o.conversation_id.in_(chunk)).group_by(o.conversation_id, o.level)):
            st = state.setdefault(cid, {"outcomes": 0, "levels": set(), "first": None,
                                        "last": None, "last_outcome_id": 0, "channel": None})
            st["outcomes"] += n
            st["levels"].add(level)
            st["first"] = min(filter(None, [st["first"], _naive_utc(first)]))
            st["last"] = max(filter(None, [st["last"], _naive_utc(last)]))
            st["last_outcome_id"] = max(st["last_outcome_id"], max_id)
        if state:
            latest = [st["last_outcome_id"] for st in state.values()]
            for cid, channel in s.execute(select(o.conversation_id, o.channel).where(o.id.in_(latest))):
                state[cid]["channel"] = channel
        if have_events:
            for cid, _, stamp, raw in s.execute(
                    select(EVENTS.c.sender_id, EVENTS.c.id, EVENTS.c.timestamp, EVENTS.c.data)
                    .where(EVENTS.c.sender_id.in_(chunk), EVENTS.c.type_name == "user")
                    .order_by(EVENTS.c.id)):
                data = event_data(raw)
                if mapping(data.get("metadata")).get("is_external"):
                    continue  # started by the system (e.g. an SMS follow-up), not the patient
                at = _epoch(stamp)
                st = state.setdefault(cid, {"outcomes": 0, "levels": set(), "first": None,
                                            "last": None, "last_outcome_id": 0, "channel": None})
                if at is not None:
                    st["first"] = min(filter(None, [st["first"], at]))
                    st["last"] = max(filter(None, [st["last"], at]))
                st["event_channel"] = text_of(data.get("input_channel")) or st.get("event_channel")
        # SMS texts Rasa never saw (STOP, texts after it ...) and ours that did not get through
        sms_activity = sms.activity(s, chunk)
        for cid, times in sms_activity.items():
            if times is None:
                continue
            st = state.setdefault(cid, {"outcomes": 0, "levels": set(), "first": None,
                                        "last": None, "last_outcome_id": 0, "channel": None})
            st["first"] = min(filter(None, [st["first"], _naive_utc(times[0])]))
            st["last"] = max(filter(None, [st["last"], _naive_utc(times[1])]))
            st["event_channel"] = st.get("event_channel") or "sms"
        reviewed_upto = {cid: (upto, last_id) for cid, upto, last_id in s.execute(
            select(Review.conversation_id, func.max(Review.last_outcome_id), func.max(Review.id))
            .where(Review.conversation_id.in_(chunk)).group_by(Review.conversation_id))}
        existing = {e.conversation_id: e for e in s.execute(
            select(TABLE).where(TABLE.c.conversation_id.in_(chunk)))}
        inserts, updates = [], []
        for cid in chunk:
            st, row = state.get(cid), existing.get(cid)
            if st is None or st["first"] is None:
                if row is not None:  # its outcomes and events are gone (retention)
                    s.execute(delete(TABLE).where(TABLE.c.id == row.id))
                    changed += 1
                continue
            if st["outcomes"]:
                info = max((level_info(lvl) for lvl in st["levels"]), key=lambda i: i.severity)
            else:
                info = LEVEL_BY_SLUG["none"]
            channel = st["channel"] or st.get("event_channel") or "unknown"
            upto, last_review_id = reviewed_upto.get(cid, (None, None))
            values = {  # a discharge's conversation is an SMS one, whatever a turn's channel
                "channel": channel[:64],
                "channel_group": "sms" if cid in sms_activity else channel_group(channel),
                "level": info.slug[:32], "level_rank": info.rank,
                "first_at": st["first"], "last_at": st["last"],
                "outcome_count": st["outcomes"],
                "last_outcome_id": st["last_outcome_id"] or None,
                "reviewed": upto is not None and upto >= st["last_outcome_id"],
                "last_review_id": last_review_id,
            }
            if row is None:
                inserts.append({"conversation_id": cid, **values})
            elif any(_differs(getattr(row, k), v) for k, v in values.items()):
                updates.append({"row_id": row.id, **values})
        # Core statements, executemany: no ORM bookkeeping on thousands of rows
        if updates:
            s.execute(update(TABLE).where(TABLE.c.id == bindparam("row_id"))
                      .values({k: bindparam(k) for k in updates[0] if k != "row_id"}), updates)
        if inserts:
            s.execute(insert(TABLE), inserts)
        changed += len(updates) + len(inserts)
    for obj in list(s.identity_map.values()):  # Core wrote behind the ORM's back
        if isinstance(obj, QueueEntry):
            s.expire(obj)
    return changed


def _differs(old, new) -> bool:
    if isinstance(old, datetime) and isinstance(new, datetime):
        return _naive_utc(old) != _naive_utc(new)
    return old != new


def _mark(s: Session, source: str) -> int:
    value = s.scalar(select(SyncMark.last_id).where(SyncMark.source == source))
    if value is None:
        s.add(SyncMark(source=source, last_id=0))
        s.flush()
        return 0
    return value


def _marks(s: Session, *sources: str) -> list[int]:
    """Several marks in one query (a missing one starts at 0)."""
    stored = dict(s.execute(select(SyncMark.source, SyncMark.last_id)
                            .where(SyncMark.source.in_(sources))).all())
    return [stored[source] if source in stored else _mark(s, source) for source in sources]


def _set_mark(s: Session, source: str, value: int) -> None:
    s.execute(update(SyncMark).where(SyncMark.source == source).values(last_id=value))


def _step(s: Session, batch: int, first: bool) -> tuple[int, bool]:
    """One batch from each source; returns (rows changed, whether more is waiting). The
    first step of a sync also takes the SMS conversations whose latest texts the queue does
    not show yet (`_sms_step`)."""
    o = TriageOutcome
    touched: set[str] = set()
    more = False
    # SQLite commits one writer at a time, so ids become visible in order: no overlap needed.
    overlap = first and s.get_bind().dialect.name != "sqlite"
    mark = _mark(s, OUTCOMES_SOURCE)
    low = max(0, mark - OUTCOME_OVERLAP) if overlap else mark
    rows = s.execute(select(o.id, o.conversation_id).where(o.id > low)
                     .order_by(o.id).limit(batch + (mark - low))).all()
    if rows:
        touched.update(cid for _, cid in rows)
        if rows[-1][0] > mark:
            _set_mark(s, OUTCOMES_SOURCE, rows[-1][0])
        more = len(rows) >= batch + (mark - low)
    if events_exist(s.connection()):
        mark = _mark(s, EVENTS_SOURCE)
        low = max(0, mark - EVENT_OVERLAP) if overlap else mark
        top = s.scalar(select(func.max(EVENTS.c.id))) or 0
        rows = s.execute(select(EVENTS.c.id, EVENTS.c.sender_id)
                         .where(EVENTS.c.id > low, EVENTS.c.id <= top, EVENTS.c.type_name == "user")
                         .order_by(EVENTS.c.id).limit(batch)).all()
        touched.update(cid for _, cid in rows)
        full = len(rows) >= batch
        new_mark = rows[-1][0] if full else top
        if new_mark > mark:
            _set_mark(s, EVENTS_SOURCE, new_mark)
        more = more or full
    if first:
        touched.update(_sms_step(s, batch, overlap))
    return refresh(s, touched), more


def _sms_step(s: Session, batch: int, overlap: bool) -> list[str]:
    """SMS conversations whose newest texts the queue does not show yet. A text changes
    state without a new id (sent, then undelivered), so rows after the marks are compared
    with the queue each time, and the marks only move past texts that are settled (and
    not while more than a batch waits: the next sync reads the rest)."""
    marks = sms.Marks(*_marks(s, SMS_IN_SOURCE, SMS_OUT_SOURCE))
    low = marks
    if overlap:
        low = sms.Marks(max(0, marks.inbound - OUTCOME_OVERLAP),
                        max(0, marks.outbox - OUTCOME_OVERLAP))
    unlisted = sms.unlisted_activity(s, SMS_UNLISTED, low, batch)
    if len(unlisted) >= batch:
        return unlisted
    moved = sms.settled(s, marks, datetime.now(timezone.utc))
    if moved.inbound > marks.inbound:
        _set_mark(s, SMS_IN_SOURCE, moved.inbound)
    if moved.outbox > marks.outbox:
        _set_mark(s, SMS_OUT_SOURCE, moved.outbox)
    return unlisted


def sync(url: Optional[str] = None, batch: int = 2000) -> int:
    """Bring `console_conversations` up to date. Safe to call often and concurrently."""
    total, first, failures = 0, True, 0
    with _sync_lock:
        while True:
            try:
                with db_session(url) as s, s.begin():
                    changed, more = _step(s, batch, first=first)
            except (IntegrityError, OperationalError):
                failures += 1  # another process inserted the same row first, or the
                if failures > 5:  # database was busy: read again
                    raise
                continue
            total += changed
            first, failures = False, 0
            if not more:
                return total
