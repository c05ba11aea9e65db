"""The SMS tables (migration 0002_sms). Every time is stored in UTC.

Status columns move only forward, by conditional UPDATEs (`... WHERE status = 'x'`), so
that two workers, or a worker and the webhook, can never both act on one row.
"""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.types import TypeDecorator

from bot.storage.models import Base


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class UTCDateTime(TypeDecorator):
    """Aware datetimes in, aware UTC datetimes out, on SQLite (which keeps no zone) too."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


PROCEDURES = {
    "bone_biopsy": "bone biopsy",
    "bone_marrow": "bone marrow aspiration and biopsy",
}


class Discharge(Base):
    """A patient sent home after a biopsy, who gets follow-up texts."""

    __tablename__ = "sms_discharges"
    __table_args__ = (UniqueConstraint("phone", "procedure", "procedure_at",
                                       name="uq_sms_discharges_phone_procedure_at"),
                      UniqueConstraint("conversation_id", name="uq_sms_discharges_conversation_id"))

    id = Column(Integer, primary_key=True)
    phone = Column(String(32), nullable=False, index=True)          # E.164
    procedure = Column(String(32), nullable=False)                  # a key of PROCEDURES
    procedure_at = Column(UTCDateTime, nullable=False)
    is_child = Column(Boolean, nullable=False, default=False)       # texts address the parent
    name = Column(String(200), nullable=True)
    conversation_id = Column(String(64), nullable=False)  # the Rasa sender id
    source = Column(String(32), nullable=False, default="cli")      # cli, csv, api, console
    created_at = Column(UTCDateTime, nullable=False, default=utcnow)
    cancelled_at = Column(UTCDateTime, nullable=True)


class FollowUp(Base):
    """One scheduled follow-up text.

    scheduled -> claimed -> triggered (the conversation started in Rasa, its text queued
    in the outbox) -> sent | failed; or scheduled -> skipped (window missed, opted out,
    superseded, patient already talking) | cancelled.
    """

    __tablename__ = "sms_followups"
    __table_args__ = (UniqueConstraint("discharge_id", "seq", name="uq_sms_followups_seq"),
                      Index("ix_sms_followups_status_next", "status", "next_attempt_at"))

    id = Column(Integer, primary_key=True)
    discharge_id = Column(Integer, ForeignKey("sms_discharges.id"), nullable=False, index=True)
    seq = Column(Integer, nullable=False)
    day = Column(Integer, nullable=False)
    label = Column(String(64), nullable=False)
    due_at = Column(UTCDateTime, nullable=False, index=True)
    window_end = Column(UTCDateTime, nullable=False)
    status = Column(String(16), nullable=False, default="scheduled", index=True)
    next_attempt_at = Column(UTCDateTime, nullable=False)
    attempts = Column(Integer, nullable=False, default=0)
    claim_token = Column(String(32), nullable=True)
    claimed_at = Column(UTCDateTime, nullable=True)
    reason = Column(Text, nullable=True)          # why skipped / failed, last error
    done_at = Column(UTCDateTime, nullable=True)
    created_at = Column(UTCDateTime, nullable=False, default=utcnow)


class OutboundSms(Base):
    """Every text we send, queued first, then delivered exactly once.

    pending -> sending -> sent | pending (retry, back-off) | failed | expired | suppressed.
    A `sending` row whose claim is older than the lease belonged to a worker that died:
    it is checked against Twilio's message list before it is ever sent again.
    """

    __tablename__ = "sms_outbox"
    __table_args__ = (Index("ix_sms_outbox_status_next", "status", "next_attempt_at"),
                      Index("ix_sms_outbox_to_status", "to_number", "status"))

    id = Column(Integer, primary_key=True)
    to_number = Column(String(32), nullable=False, index=True)
    body = Column(Text, nullable=False)
    kind = Column(String(24), nullable=False)   # followup, reply, opt_out, opt_in, help, unknown...
    discharge_id = Column(Integer, ForeignKey("sms_discharges.id"), nullable=True, index=True)
    followup_id = Column(Integer, ForeignKey("sms_followups.id"), nullable=True, index=True)
    inbound_id = Column(Integer, ForeignKey("sms_inbound.id"), nullable=True, index=True)
    status = Column(String(16), nullable=False, default="pending", index=True)
    attempts = Column(Integer, nullable=False, default=0)
    next_attempt_at = Column(UTCDateTime, nullable=False)
    not_after = Column(UTCDateTime, nullable=True)
    check_before_send = Column(Boolean, nullable=False, default=False)
    claim_token = Column(String(32), nullable=True)
    claimed_at = Column(UTCDateTime, nullable=True)
    twilio_sid = Column(String(64), nullable=True, index=True)
    last_error = Column(Text, nullable=True)
    created_at = Column(UTCDateTime, nullable=False, default=utcnow)
    sent_at = Column(UTCDateTime, nullable=True)
    # What Twilio's status callback last said: sent, delivered, undelivered or failed
    # (and its error code); `status` only says whether Twilio accepted the text.
    delivery_status = Column(String(16), nullable=True)
    delivery_error = Column(String(16), nullable=True)
    delivery_at = Column(UTCDateTime, nullable=True)


class InboundSms(Base):
    """Every text Twilio posted to us (signature checked), once per MessageSid."""

    __tablename__ = "sms_inbound"
    __table_args__ = (UniqueConstraint("message_sid", name="uq_sms_inbound_message_sid"),
                      Index("ix_sms_inbound_status_received", "status", "received_at"))

    id = Column(Integer, primary_key=True)
    message_sid = Column(String(64), nullable=False)
    from_number = Column(String(32), nullable=False, index=True)
    to_number = Column(String(32), nullable=True)
    body = Column(Text, nullable=False, default="")
    num_media = Column(Integer, nullable=False, default=0)
    discharge_id = Column(Integer, ForeignKey("sms_discharges.id"), nullable=True, index=True)
    # received -> processing (claimed for its turn) -> processed, keyword, unknown_sender,
    # opted_out, no_text, too_long or failed
    status = Column(String(16), nullable=False, default="received")
    received_at = Column(UTCDateTime, nullable=False, default=utcnow)
    claimed_at = Column(UTCDateTime, nullable=True)
    attempts = Column(Integer, nullable=False, default=0, server_default="0")
    processed_at = Column(UTCDateTime, nullable=True)


class OptOut(Base):
    """STOP / START per phone number (for every discharge with that number)."""

    __tablename__ = "sms_opt_outs"

    phone = Column(String(32), primary_key=True)
    opted_out = Column(Boolean, nullable=False)
    changed_at = Column(UTCDateTime, nullable=False, default=utcnow)
    keyword = Column(String(16), nullable=False)


class WorkerHeartbeat(Base):
    """One row per SMS worker (host:pid), stamped after each pass."""

    __tablename__ = "sms_worker_heartbeats"

    worker = Column(String(120), primary_key=True)
    beat_at = Column(UTCDateTime, nullable=False)
    last_pass = Column(JSON, nullable=True)    # what the pass did, counted
