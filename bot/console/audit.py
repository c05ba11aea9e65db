"""The audit trail: who did what, when. Append-only: this module only inserts and reads
(and the migration's triggers refuse UPDATE and DELETE on `console_audit`)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.console.auth import now_utc
from bot.console.models import AuditEntry, Staff

ACTIONS = {
    "login": "Logged in",
    "login_failed": "Failed login",
    "login_locked": "Login refused (locked out)",
    "logout": "Logged out",
    "view_transcript": "Viewed a transcript",
    "review": "Reviewed a conversation",
    "alert_ack": "Acknowledged a care-team alert",
    "quiet_resolved": "Marked a quiet patient as dealt with",
    "export": "Exported CSV",
    "account_create": "Created an account",
    "account_update": "Changed an account",
    "password_change": "Changed own password",
    "view_audit": "Viewed the audit trail",
}


def record(s: Session, action: str, *, staff: Optional[Staff] = None, username: str = "",
           target: str = "", detail: Optional[dict] = None, ip: str = "") -> None:
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    s.add(AuditEntry(at=now_utc(), staff_id=staff.id if staff else None,
                     username=(staff.username if staff else username)[:150], action=action,
                     target=(target or "")[:255], detail=detail or {}, ip=(ip or "")[:64]))


@dataclass(frozen=True)
class AuditPage:
    entries: list[AuditEntry]
    next_cursor: Optional[str]


def page(s: Session, *, action: str = "", username: str = "", before: str = "",
         size: int = 100) -> AuditPage:
    """Newest first; `before` is the cursor of the previous page ("<id>")."""
    query = select(AuditEntry)
    if action in ACTIONS:
        query = query.where(AuditEntry.action == action)
    if username:
        query = query.where(AuditEntry.username == username.strip().lower())
    if before.isdigit():
        query = query.where(AuditEntry.id < int(before))
    rows = list(s.scalars(query.order_by(AuditEntry.id.desc()).limit(size + 1)))
    next_cursor = str(rows[size - 1].id) if len(rows) > size else None
    return AuditPage(rows[:size], next_cursor)
