"""The staff console's tables, on the same metadata as `bot.storage.models` (one database,
one Alembic history: `migrations/versions/0003_console.py`).

- `console_staff`: accounts (argon2 hashes), roles `clinician` and `admin`.
- `console_sessions`: server-side sessions; the cookie carries a random token, the table
  only its SHA-256, so a copy of the database cannot be used to log in.
- `console_login_attempts`: every login attempt, for the lock-out.
- `console_audit`: append-only trail (login, transcript view, review, export, accounts).
  No code path updates or deletes it, and the migration adds triggers that refuse it.
- `console_reviews`: append-only reviews (who, when, outcome, note).
- `console_conversations`: one row per conversation, derived from `triage_outcomes` and
  Rasa's `events` (see `bot.console.queue.sync`), indexed in queue order so that every
  page is an index range scan, however many conversations there are.
- `console_sync`: how far the derived table has read each source table.
"""
from __future__ import annotations

from sqlalchemy import JSON, Boolean, Column, DateTime, ForeignKey, Index, Integer, String, Text

from bot.storage.models import Base, utcnow

ROLES = ("clinician", "admin")
REVIEW_OUTCOMES = {
    "called_back": "Called back",
    "no_action": "No action needed",
    "other": "Other",
}


class Staff(Base):
    __tablename__ = "console_staff"

    id = Column(Integer, primary_key=True)
    username = Column(String(150), nullable=False, unique=True)
    display_name = Column(String(200), nullable=False, default="")
    role = Column(String(16), nullable=False)
    password_hash = Column(String(255), nullable=False)
    active = Column(Boolean, nullable=False, default=True)
    created_at = Column(DateTime(timezone=True), nullable=False, default=utcnow)
    password_changed_at = Column(DateTime(timezone=True), nullable=False, default=utcnow)


class StaffSession(Base):
    __tablename__ = "console_sessions"

    id = Column(Integer, primary_key=True)
    token_hash = Column(String(64), nullable=False, unique=True)
    staff_id = Column(Integer, ForeignKey("console_staff.id"), nullable=False, index=True)
    csrf_token = Column(String(64), nullable=False)
    created_at = Column(DateTime(timezone=True), nullable=False, default=utcnow)
    last_seen_at = Column(DateTime(timezone=True), nullable=False, default=utcnow)
    expires_at = Column(DateTime(timezone=True), nullable=False)


class LoginAttempt(Base):
    __tablename__ = "console_login_attempts"
    __table_args__ = (Index("ix_console_login_attempts_username_at", "username", "at"),
                      Index("ix_console_login_attempts_ip_at", "ip", "at"))

    id = Column(Integer, primary_key=True)
    username = Column(String(150), nullable=False)
    ip = Column(String(64), nullable=False, default="")
    # "pending" (its password is being checked; counted as a failure), "failure",
    # "success", or "unlock" (an admin lifted a lock-out)
    kind = Column(String(16), nullable=False)
    at = Column(DateTime(timezone=True), nullable=False, default=utcnow)


class AuditEntry(Base):
    __tablename__ = "console_audit"

    id = Column(Integer, primary_key=True)
    at = Column(DateTime(timezone=True), nullable=False, default=utcnow, index=True)
    staff_id = Column(Integer, ForeignKey("console_staff.id"), nullable=True, index=True)
    username = Column(String(150), nullable=False, default="")
    action = Column(String(32), nullable=False, index=True)
    target = Column(String(255), nullable=False, default="")
    detail = Column(JSON, nullable=False, default=dict)
    ip = Column(String(64), nullable=False, default="")


class Review(Base):
    __tablename__ = "console_reviews"

    id = Column(Integer, primary_key=True)
    conversation_id = Column(String(255), nullable=False, index=True)
    staff_id = Column(Integer, ForeignKey("console_staff.id"), nullable=False)
    outcome = Column(String(32), nullable=False)
    note = Column(Text, nullable=False, default="")
    # The newest triage outcome the reviewer saw; a later one makes the conversation
    # wait for review again.
    last_outcome_id = Column(Integer, nullable=True)
    created_at = Column(DateTime(timezone=True), nullable=False, default=utcnow)


class QueueEntry(Base):
    __tablename__ = "console_conversations"
    __table_args__ = (
        # Queue order: unreviewed first, then level (emergency first), then newest.
        Index("ix_console_conversations_order", "reviewed", "level_rank", "last_at", "id"),
        Index("ix_console_conversations_channel_order",
              "channel_group", "reviewed", "level_rank", "last_at", "id"),
        Index("ix_console_conversations_first_at", "first_at", "level_rank"),  # the chart
    )

    id = Column(Integer, primary_key=True)
    conversation_id = Column(String(255), nullable=False, unique=True)
    channel = Column(String(64), nullable=False, default="unknown")
    channel_group = Column(String(16), nullable=False, default="other")  # web / sms / other
    level = Column(String(32), nullable=False)  # highest level advised, or "none"
    level_rank = Column(Integer, nullable=False)
    first_at = Column(DateTime(timezone=True), nullable=False)
    last_at = Column(DateTime(timezone=True), nullable=False)
    outcome_count = Column(Integer, nullable=False, default=0)
    last_outcome_id = Column(Integer, nullable=True)
    reviewed = Column(Boolean, nullable=False, default=False)
    last_review_id = Column(Integer, nullable=True)


class SyncMark(Base):
    __tablename__ = "console_sync"

    source = Column(String(64), primary_key=True)
    last_id = Column(Integer, nullable=False, default=0)
