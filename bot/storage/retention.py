"""Retention: a conversation is deleted once it has been quiet for RETENTION_DAYS.

    python -m bot.storage.retention [--dry-run]

deletes, on DATABASE_URL, everything older than RETENTION_DAYS (both from .env) and prints
the rows deleted per table; with --dry-run it deletes nothing and prints what it would
delete. Exit status 0. The SMS worker (`make run`) runs the same purge once a day at
RETENTION_PURGE_AT local time (TIMEZONE; default 03:30), or at its first pass after that
time if it was not running then; the day is claimed in `retention_runs`, so restarts and
several workers still purge once a day.

What goes is whole conversations (a Rasa sender id), each in one transaction: its Rasa
events, triage outcomes, console queue row and reviews, and for an SMS conversation its
discharge with the follow-ups and texts. A conversation goes when nothing in it is at or
after the cutoff (now - RETENTION_DAYS): not its last event, last outcome, the discharge's
registration, procedure or cancellation, any follow-up (one still to come keeps it) or any
text. Deleting the events older than the cutoff instead would leave the later half of a
conversation that straddles it: a transcript opening with answers to questions that are
gone ("yes", "since Tuesday"), read by a nurse without the red flag reported before, and a
Rasa tracker rebuilt without its earlier slots. The price: a conversation still going on
keeps its first messages until it has been quiet for RETENTION_DAYS, so the privacy notice
should say "N days after your last message".

Texts tied to no discharge (from unknown numbers, and the replies to them) go by their own
age. Kept: the console audit trail (who viewed or reviewed which conversation id, when),
opt-outs (a STOP must outlive the texts, or a later discharge of that number would be texted),
staff accounts and their logins. Reviews are append-only; their trigger lets the purge's own
transaction delete them (migration 0004_retention).

Every transaction is short: one batch of conversations (at most CONVERSATIONS_PER_BATCH, and
EVENTS_PER_BATCH events unless one conversation alone has more) or ROWS_PER_BATCH texts, so
that neither SQLite's single writer nor PostgreSQL's row locks wait long on the purge. Only
counts are logged, never what was deleted.
"""
from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Optional
from zoneinfo import ZoneInfo

from sqlalchemy import (
    Column,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    delete,
    exists,
    func,
    insert,
    inspect,
    or_,
    select,
    update,
)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql import ColumnElement

from bot.alerts import retention as alert_retention
from bot.console.models import QueueEntry, Review
from bot.sms.models import Discharge, FollowUp, InboundSms, OutboundSms
from bot.storage.models import RetentionPermit, RetentionRun, TriageOutcome

logger = logging.getLogger(__name__)

CONVERSATIONS_PER_BATCH = 100
EVENTS_PER_BATCH = 5_000
ROWS_PER_BATCH = 1_000

# Rasa's SQLTrackerStore creates and owns this table; these are the columns the purge reads.
EVENTS = Table("events", MetaData(), Column("id", Integer, primary_key=True),
               Column("sender_id", String(255)), Column("timestamp", Float))
OUTCOMES = TriageOutcome.__table__
QUEUE = QueueEntry.__table__
REVIEWS = Review.__table__
DISCHARGES = Discharge.__table__
FOLLOWUPS = FollowUp.__table__
INBOUND = InboundSms.__table__
OUTBOX = OutboundSms.__table__
PERMITS = RetentionPermit.__table__
RUNS = RetentionRun.__table__

# In the order they are deleted (foreign keys: texts, then follow-ups, then discharges).
TABLES = ("sms_outbox", "sms_inbound", "sms_followups", "sms_discharges", "events",
          "triage_outcomes", "console_conversations", "console_reviews", *alert_retention.TABLES)


@dataclass
class PurgeReport:
    cutoff: datetime
    dry_run: bool
    conversations: int = 0
    rows: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TABLES, 0))
    complete: bool = True  # False when stopped (the worker shutting down) before the end

    def lines(self) -> list[str]:
        verb = "would delete" if self.dry_run else "deleted"
        head = (f"Retention: {verb} what was quiet since before {self.cutoff:%Y-%m-%d %H:%M} UTC"
                + ("" if self.complete else " (stopped before the end)"))
        width = max(map(len, TABLES))
        return [head, f"  {'conversations':<{width}}  {self.conversations:>8}",
                *(f"  {table:<{width}}  {n:>8}" for table, n in self.rows.items())]


def purge(engine: Engine, now: datetime, retention_days: int, *, dry_run: bool = False,
          stop: Callable[[], bool] = lambda: False) -> PurgeReport:
    """Delete (with `dry_run`: count) everything quiet for `retention_days` before `now`.
    `stop` is asked between batches; every batch done is committed."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if retention_days < 1:
        raise ValueError("RETENTION_DAYS must be at least 1: 0 would delete conversations "
                         "going on now")
    cutoff = now.astimezone(timezone.utc) - timedelta(days=retention_days)
    report = PurgeReport(cutoff, dry_run)
    with engine.connect() as conn:
        has_events = inspect(conn).has_table("events")  # Rasa creates it on its first start
        candidates = _candidates(conn, cutoff, has_events)
    for batch in _batches(candidates):
        if stop():
            report.complete = False
            return report
        with engine.begin() as conn:
            active = _active(conn, batch, cutoff, has_events)
            expired = [cid for cid in batch if cid not in active]
            if expired:
                report.conversations += len(expired)
                for table, where in _rows_of(conn, expired, has_events):
                    report.rows[table.name] += _delete(conn, table, where, dry_run)
    for table, where in ((OUTBOX, _loose_outbox(OUTBOX, cutoff)),
                         (INBOUND, _loose_inbound(cutoff)), *alert_retention.by_age(cutoff)):
        if not _delete_in_batches(engine, table, where, report, stop):
            report.complete = False
            return report
    return report


def _candidates(conn: Connection, cutoff: datetime, has_events: bool) -> dict[str, int]:
    """Conversation ids that may have expired (each checked again in its batch's
    transaction), with their number of events, to size the batches."""
    weights: dict[str, int] = {}
    if has_events:
        weights.update(conn.execute(
            select(EVENTS.c.sender_id, func.count()).group_by(EVENTS.c.sender_id)
            .having(func.max(EVENTS.c.timestamp) < cutoff.timestamp())).all())
    # Also those with no events (left by a failed Rasa save, or a discharge never texted).
    for query in (
            select(OUTCOMES.c.conversation_id).group_by(OUTCOMES.c.conversation_id)
            .having(func.max(OUTCOMES.c.created_at) < cutoff),
            select(DISCHARGES.c.conversation_id).where(DISCHARGES.c.created_at < cutoff),
            select(QUEUE.c.conversation_id).where(QUEUE.c.last_at < cutoff),
            select(REVIEWS.c.conversation_id).group_by(REVIEWS.c.conversation_id)
            .having(func.max(REVIEWS.c.created_at) < cutoff)):
        for cid in conn.scalars(query):
            weights.setdefault(cid, 1)
    return weights


def _batches(weights: dict[str, int]) -> Iterator[list[str]]:
    batch: list[str] = []
    events = 0
    for cid in sorted(weights):
        if batch and (len(batch) >= CONVERSATIONS_PER_BATCH
                      or events + weights[cid] > EVENTS_PER_BATCH):
            yield batch
            batch, events = [], 0
        batch.append(cid)
        events += weights[cid]
    if batch:
        yield batch


def _active(conn: Connection, ids: Sequence[str], cutoff: datetime, has_events: bool) -> set[str]:
    """Those of `ids` with anything at or after the cutoff (a patient may have come back
    since the candidates were read)."""
    active: set[str] = set()
    if has_events:
        active.update(conn.scalars(select(EVENTS.c.sender_id).distinct().where(
            EVENTS.c.sender_id.in_(ids), EVENTS.c.timestamp >= cutoff.timestamp())))
    active.update(conn.scalars(select(OUTCOMES.c.conversation_id).distinct().where(
        OUTCOMES.c.conversation_id.in_(ids), OUTCOMES.c.created_at >= cutoff)))
    d, f, i, o = DISCHARGES.c, FOLLOWUPS.c, INBOUND.c, OUTBOX.c
    recent_discharge = or_(
        d.created_at >= cutoff, d.procedure_at >= cutoff, d.cancelled_at >= cutoff,
        exists().where(f.discharge_id == d.id,
                       or_(f.due_at >= cutoff, f.window_end >= cutoff, f.done_at >= cutoff)),
        exists().where(i.discharge_id == d.id, i.received_at >= cutoff),
        exists().where(o.discharge_id == d.id, or_(o.created_at >= cutoff, o.sent_at >= cutoff)))
    active.update(conn.scalars(select(d.conversation_id).where(d.conversation_id.in_(ids),
                                                               recent_discharge)))
    return active


def _rows_of(conn: Connection, ids: Sequence[str],
             has_events: bool) -> list[tuple[Table, ColumnElement]]:
    """Every row of these conversations, table by table in a safe order to delete."""
    discharge_ids = list(conn.scalars(select(DISCHARGES.c.id)
                                      .where(DISCHARGES.c.conversation_id.in_(ids))))
    followup_ids = list(conn.scalars(select(FOLLOWUPS.c.id)
                                     .where(FOLLOWUPS.c.discharge_id.in_(discharge_ids))))
    inbound_ids = list(conn.scalars(select(INBOUND.c.id)
                                    .where(INBOUND.c.discharge_id.in_(discharge_ids))))
    rows = alert_retention.rows_of(ids) + [
        (OUTBOX, or_(OUTBOX.c.discharge_id.in_(discharge_ids),
                     OUTBOX.c.followup_id.in_(followup_ids), OUTBOX.c.inbound_id.in_(inbound_ids))),
        (INBOUND, INBOUND.c.id.in_(inbound_ids)),
        (FOLLOWUPS, FOLLOWUPS.c.id.in_(followup_ids)),
        (DISCHARGES, DISCHARGES.c.id.in_(discharge_ids)),
        (EVENTS, EVENTS.c.sender_id.in_(ids)),
        (OUTCOMES, OUTCOMES.c.conversation_id.in_(ids)),
        (QUEUE, QUEUE.c.conversation_id.in_(ids)),
        (REVIEWS, REVIEWS.c.conversation_id.in_(ids)),
    ]
    return [(table, where) for table, where in rows if has_events or table is not EVENTS]


def _loose_outbox(outbox: Table, cutoff: datetime) -> ColumnElement:
    """Texts we sent that belong to no discharge (replies to unknown numbers), by age."""
    return (outbox.c.discharge_id.is_(None) & outbox.c.followup_id.is_(None)
            & (outbox.c.created_at < cutoff))


def _loose_inbound(cutoff: datetime) -> ColumnElement:
    """Texts from numbers with no discharge, by age, once no text we keep replies to them."""
    reply = OUTBOX.alias("reply")
    kept_reply = exists().where(reply.c.inbound_id == INBOUND.c.id,
                                ~_loose_outbox(reply, cutoff))
    return INBOUND.c.discharge_id.is_(None) & (INBOUND.c.received_at < cutoff) & ~kept_reply


def _delete_in_batches(engine: Engine, table: Table, where: ColumnElement, report: PurgeReport,
                       stop: Callable[[], bool]) -> bool:
    """Rows matching `where`, ROWS_PER_BATCH per transaction; False if stopped."""
    after = 0
    while not stop():
        with engine.begin() as conn:
            ids = list(conn.scalars(select(table.c.id).where(where, table.c.id > after)
                                    .order_by(table.c.id).limit(ROWS_PER_BATCH)))
            if not ids:
                return True
            report.rows[table.name] += _delete(conn, table, where & table.c.id.in_(ids),
                                               report.dry_run)
            after = ids[-1]
    return False


def _delete(conn: Connection, table: Table, where: ColumnElement, dry_run: bool) -> int:
    if dry_run:
        return conn.scalar(select(func.count()).select_from(table).where(where)) or 0
    if table is not REVIEWS:
        return conn.execute(delete(table).where(where)).rowcount
    permit = conn.execute(insert(PERMITS)).inserted_primary_key[0]
    deleted = conn.execute(delete(table).where(where)).rowcount
    conn.execute(delete(PERMITS).where(PERMITS.c.id == permit))  # never committed
    return deleted


# --- the daily run -----------------------------------------------------------------------


def scheduled_at(day: date, at: time, tz: ZoneInfo) -> datetime:
    """`at` on the local `day`, in UTC. On the day the clocks go forward a time they skip
    comes an hour later by the clock (01:30 -> 02:30); on the day they go back, a time
    that happens twice is its first occurrence."""
    return datetime.combine(day, at, tzinfo=tz).astimezone(timezone.utc)


class DailyPurge:
    """The SMS worker's daily job: `run_if_due(now)` on every pass purges when today's
    RETENTION_PURGE_AT has come and nobody has claimed today yet."""

    def __init__(self, engine: Engine, *, at: time, tz: ZoneInfo, retention_days: int,
                 stop: Callable[[], bool] = lambda: False) -> None:
        self.engine, self.at, self.tz = engine, at, tz
        self.retention_days, self.stop = retention_days, stop
        self._done_on: Optional[date] = None  # saves a database round trip per pass

    def run_if_due(self, now: Optional[datetime] = None) -> Optional[PurgeReport]:
        """The report if this call purged; None when it is not time yet or today was
        claimed already (by this worker, another one, or before a restart)."""
        now = now or datetime.now(timezone.utc)
        day = now.astimezone(self.tz).date()
        if day == self._done_on or now < scheduled_at(day, self.at, self.tz):
            return None
        try:
            claimed = claim(self.engine, day, now)
        except Exception as error:  # the database is down: try again on the next pass
            logger.warning("retention purge of %s not claimed (%s)", day, type(error).__name__)
            return None
        self._done_on = day
        if not claimed:
            return None
        try:
            report = purge(self.engine, now, self.retention_days, stop=self.stop)
            _finish(self.engine, day, rows={"conversations": report.conversations, **report.rows})
        except Exception as error:  # batches done so far stay done; the next day goes on
            logger.exception("retention purge of %s failed", day)
            _record_failure(self.engine, day, error)
            return None
        logger.info("retention purge of %s: %s conversations, rows %s%s", day,
                    report.conversations, report.rows,
                    "" if report.complete else " (stopped before the end)")
        return report


def claim(engine: Engine, day: date, now: datetime) -> bool:
    """Claim the purge of the local `day`: True for exactly one caller, however many try."""
    try:
        with engine.begin() as conn:
            conn.execute(insert(RUNS).values(run_on=day, started_at=now.astimezone(timezone.utc)))
    except IntegrityError:
        return False
    return True


def _finish(engine: Engine, day: date, *, rows: Optional[dict] = None,
            error: Optional[str] = None) -> None:
    with engine.begin() as conn:
        conn.execute(update(RUNS).where(RUNS.c.run_on == day)
                     .values(finished_at=datetime.now(timezone.utc), rows=rows, error=error))


def _record_failure(engine: Engine, day: date, error: Exception) -> None:
    try:
        _finish(engine, day, error=type(error).__name__)
    except Exception:
        logger.warning("retention purge of %s: the failure could not be recorded", day)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.storage.retention",
                                     description="Delete conversations quiet for RETENTION_DAYS.")
    parser.add_argument("--dry-run", action="store_true",
                        help="count what would be deleted, delete nothing")
    args = parser.parse_args(argv)
    from bot.config import settings
    from bot.storage.db import engine

    report = purge(engine(), datetime.now(timezone.utc), settings().retention_days,
                   dry_run=args.dry_run)
    print("\n".join(report.lines()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
