"""CSV of the filtered queue, for audit meetings.

One line per conversation in queue order: no patient messages, only what the queue shows
(id, channel, level, times, review). Whatever a client put in a sender id or a channel
name, every cell is text a spreadsheet can hold (`bot.console.safe_text.showable`), and a
cell that a spreadsheet would run as a formula is prefixed with a quote (CSV injection).
"""
from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from datetime import datetime
from typing import Optional

from bot.config import settings
from bot.console.models import REVIEW_OUTCOMES
from bot.console.queue import CHANNEL_GROUPS, QueueRow
from bot.console.safe_text import showable
from bot.storage.times import aware

HEADER = ["conversation_id", "channel", "level", "first_activity", "last_activity",
          "advice_given", "reviewed", "review_outcome", "reviewed_by", "reviewed_at",
          "review_note"]
# OWASP's list (a CR is a LF by now) and, to be safe, the full-width forms of = + - @.
FORMULA_START = ("=", "+", "-", "@", "\t", "\n", "\uff1d", "\uff0b", "\uff0d", "\uff20")


def safe_cell(value: object) -> str:
    text = showable("" if value is None else str(value))
    # Leading spaces too: some spreadsheets skip them before looking for a formula.
    return "'" + text if text.lstrip(" ").startswith(FORMULA_START) else text


def _local(value: Optional[datetime]) -> str:
    if value is None:
        return ""
    return aware(value).astimezone(settings().timezone).strftime("%Y-%m-%d %H:%M:%S %Z")


def to_csv(rows: Iterable[QueueRow]) -> tuple[str, int]:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(HEADER)
    n = 0
    for row in rows:
        e, r = row.entry, row.review
        writer.writerow([safe_cell(x) for x in (
            e.conversation_id, CHANNEL_GROUPS.get(e.channel_group, e.channel), row.level.label,
            _local(e.first_at), _local(e.last_at), e.outcome_count,
            "yes" if e.reviewed else "no",
            REVIEW_OUTCOMES.get(r.outcome, r.outcome) if r else "", row.reviewer,
            _local(r.created_at) if r else "", r.note if r else "")])
        n += 1
    return out.getvalue(), n
