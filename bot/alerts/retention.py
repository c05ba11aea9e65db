"""What the retention purge (bot.storage.retention) deletes of the alert tables, in the
shapes it uses: (table, condition) pairs, in an order that keeps foreign keys intact.

- With a conversation: its alerts and their messages, its quiet marks, its watch row.
- By age: bundles (held alerts, digests) made before the cutoff that no alert still points
  to, and their messages (a digest lists conversation links, and names where allowed).
Scan cursors hold ids only and stay.
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Table, exists, select
from sqlalchemy.sql import ColumnElement

from bot.alerts.models import Alert, Bundle, Delivery, QuietPatient, Watch

ALERTS, BUNDLES, DELIVERIES = Alert.__table__, Bundle.__table__, Delivery.__table__
QUIET, WATCH = QuietPatient.__table__, Watch.__table__
TABLES = ("alerts_deliveries", "alerts_alerts", "alerts_quiet", "alerts_watch", "alerts_bundles")


def rows_of(ids: Sequence[str]) -> list[tuple[Table, ColumnElement]]:
    """Every alert row of these conversations, messages before their alerts."""
    alert_ids = select(ALERTS.c.id).where(ALERTS.c.conversation_id.in_(ids))
    return [(DELIVERIES, DELIVERIES.c.alert_id.in_(alert_ids)),
            (ALERTS, ALERTS.c.conversation_id.in_(ids)),
            (QUIET, QUIET.c.conversation_id.in_(ids)),
            (WATCH, WATCH.c.conversation_id.in_(ids))]


def by_age(cutoff: datetime) -> list[tuple[Table, ColumnElement]]:
    """Bundles older than the cutoff that no kept alert points to, messages first."""
    old = (BUNDLES.c.created_at < cutoff) & ~exists().where(ALERTS.c.bundle_id == BUNDLES.c.id)
    return [(DELIVERIES, DELIVERIES.c.bundle_id.in_(select(BUNDLES.c.id).where(old))),
            (BUNDLES, old)]
