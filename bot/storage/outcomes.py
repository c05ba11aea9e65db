"""Writing and reading triage outcomes."""
from __future__ import annotations

from sqlalchemy import select

from bot.storage.db import session
from bot.storage.models import TriageOutcome


def record_outcome(**fields) -> int:
    with session() as s, s.begin():
        row = TriageOutcome(**fields)
        s.add(row)
        s.flush()
        return row.id


def outcomes_for(conversation_id: str) -> list[TriageOutcome]:
    with session() as s:
        query = (select(TriageOutcome)
                 .where(TriageOutcome.conversation_id == conversation_id)
                 .order_by(TriageOutcome.id))
        return list(s.scalars(query))
