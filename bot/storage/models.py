"""Our own tables (Rasa's SQLTrackerStore owns `events`). Migrated with Alembic."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import JSON, Boolean, Column, Date, DateTime, Integer, String, Text
from sqlalchemy.orm import declarative_base

# Any: SQLAlchemy 1.4 ships no type information, and mypy takes no untyped call as a base class
Base: Any = declarative_base()


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class TriageOutcome(Base):
    """One piece of advice given: who was told what, why, under which policy."""

    __tablename__ = "triage_outcomes"

    id = Column(Integer, primary_key=True)
    conversation_id = Column(String(255), nullable=False, index=True)
    channel = Column(String(64), nullable=False, default="unknown", index=True)
    level = Column(String(32), nullable=False, index=True)
    findings = Column(JSON, nullable=False, default=list)
    advice_ids = Column(JSON, nullable=False, default=list)
    sources = Column(JSON, nullable=False, default=list)
    unsure_slots = Column(JSON, nullable=False, default=list)
    red_flag_interrupt = Column(Boolean, nullable=False, default=False)
    patient_is_child = Column(Boolean, nullable=False, default=False)
    advice_text = Column(Text, nullable=False, default="")
    policy_version = Column(String(32), nullable=False)
    created_at = Column(DateTime(timezone=True), nullable=False, default=utcnow, index=True)


class RetentionRun(Base):
    """One row per local day (TIMEZONE) whose daily purge was claimed (bot.storage.retention):
    the primary key is the claim, so restarts and several workers purge once a day."""

    __tablename__ = "retention_runs"

    run_on = Column(Date, primary_key=True)
    started_at = Column(DateTime(timezone=True), nullable=False)
    finished_at = Column(DateTime(timezone=True), nullable=True)
    rows = Column(JSON, nullable=True)           # rows deleted per table; counts only
    error = Column(String(200), nullable=True)   # the exception's class name, never its text


class RetentionPermit(Base):
    """Holds a row only inside a retention purge's own transaction (inserted and deleted in
    it, never committed): while it does, the trigger on `console_reviews` lets a DELETE
    through. Every other delete or update of a review is still refused."""

    __tablename__ = "retention_permits"

    id = Column(Integer, primary_key=True)
