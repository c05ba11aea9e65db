"""The care-team alert tables (migration 0008_alerts), on the shared metadata. Every time
is stored in UTC. Like the SMS tables, status columns only move forward, by conditional
UPDATEs, so any number of workers can run at once.

- `alerts_alerts`: one row per conversation and level that reached the channel's threshold
  (the unique constraint is the "exactly once"), with where it was routed and who
  acknowledged it.
- `alerts_bundles`: one message about several things: the alerts held out of hours, released
  at the next opening, and the daily digest (one per local day: `run_on` is the claim).
- `alerts_deliveries`: the outbox. One row per message and destination (an email to a list
  of addresses, a webhook post), rendered when queued, delivered exactly once.
- `alerts_cursors`: how far the scans have read `triage_outcomes` and Rasa's `events`.
- `alerts_watch`: per conversation, when the patient (or a follow-up) last wrote, so the
  "incomplete" check reads only conversations that went quiet.
- `alerts_quiet`: patients who went quiet: "no reply: call the patient" (an SMS discharge
  whose follow-ups got no answer) and "incomplete" (questions left unanswered), with the
  one reminder text sent for it over SMS.
"""
from __future__ import annotations

from sqlalchemy import JSON, Boolean, Column, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint

from bot.sms.models import UTCDateTime, utcnow
from bot.storage.models import Base


class Alert(Base):
    __tablename__ = "alerts_alerts"
    __table_args__ = (UniqueConstraint("conversation_id", "level", name="uq_alerts_alerts_level"),
                      Index("ix_alerts_alerts_held", "route", "released_at", "held_until"),
                      Index("ix_alerts_alerts_open", "acknowledged_at", "raised_at"))

    id = Column(Integer, primary_key=True)
    conversation_id = Column(String(255), nullable=False, index=True)
    channel = Column(String(64), nullable=False)
    channel_group = Column(String(16), nullable=False)   # web / sms / other
    level = Column(String(32), nullable=False)
    outcome_id = Column(Integer, nullable=False)          # the triage outcome that raised it
    discharge_id = Column(Integer, nullable=True)         # SMS: the discharge it belongs to
    raised_at = Column(UTCDateTime, nullable=False)       # the outcome's time
    created_at = Column(UTCDateTime, nullable=False, default=utcnow)
    route = Column(String(16), nullable=False)            # department / on_call / held
    held_until = Column(UTCDateTime, nullable=True)       # held: the next opening
    released_at = Column(UTCDateTime, nullable=True)      # held: when it went out in a bundle
    bundle_id = Column(Integer, ForeignKey("alerts_bundles.id"), nullable=True, index=True)
    acknowledged_at = Column(UTCDateTime, nullable=True)
    acknowledged_by = Column(String(150), nullable=True)
    acknowledged_via = Column(String(16), nullable=True)  # console / cli


class Bundle(Base):
    """kind: held (alerts held out of hours, released at the opening), daily (the digest of
    the local day `run_on`) or manual (`python -m bot.alerts send-digest-now`)."""

    __tablename__ = "alerts_bundles"
    __table_args__ = (UniqueConstraint("run_on", name="uq_alerts_bundles_run_on"),)

    id = Column(Integer, primary_key=True)
    kind = Column(String(16), nullable=False)
    run_on = Column(Date, nullable=True)
    period_start = Column(UTCDateTime, nullable=True)     # a digest covers start..end
    period_end = Column(UTCDateTime, nullable=False)
    summary = Column(JSON, nullable=True)                 # counts only
    created_at = Column(UTCDateTime, nullable=False, default=utcnow)


class Delivery(Base):
    """pending -> sending -> sent | pending (retry, back-off) | failed | cancelled.

    A `sending` row whose claim is older than the lease belonged to a worker that died
    mid-send: it goes back to pending marked `possible_repeat` (the server may have taken it
    before the worker died) and is sent again with the same Message-ID / delivery id."""

    __tablename__ = "alerts_deliveries"
    __table_args__ = (Index("ix_alerts_deliveries_status_next", "status", "next_attempt_at"),)

    id = Column(Integer, primary_key=True)
    alert_id = Column(Integer, ForeignKey("alerts_alerts.id"), nullable=True, index=True)
    bundle_id = Column(Integer, ForeignKey("alerts_bundles.id"), nullable=True, index=True)
    transport = Column(String(16), nullable=False)        # email / webhook
    route = Column(String(16), nullable=False)            # department / on_call / digest
    recipients = Column(Text, nullable=True)              # email: comma-separated
    subject = Column(String(255), nullable=False)
    payload = Column(Text, nullable=False)                # the email (RFC 5322) or the JSON
    message_id = Column(String(255), nullable=False)
    status = Column(String(16), nullable=False, default="pending", index=True)
    attempts = Column(Integer, nullable=False, default=0)
    next_attempt_at = Column(UTCDateTime, nullable=False)
    give_up_at = Column(UTCDateTime, nullable=False)
    claim_token = Column(String(32), nullable=True)
    claimed_at = Column(UTCDateTime, nullable=True)
    possible_repeat = Column(Boolean, nullable=False, default=False)
    last_error = Column(Text, nullable=True)              # the error's kind and code, no content
    created_at = Column(UTCDateTime, nullable=False, default=utcnow)
    sent_at = Column(UTCDateTime, nullable=True)


class Cursor(Base):
    __tablename__ = "alerts_cursors"

    source = Column(String(32), primary_key=True)
    last_id = Column(Integer, nullable=False)


class Watch(Base):
    """`pending` when the conversation has a newer message than the last check read."""

    __tablename__ = "alerts_watch"
    __table_args__ = (Index("ix_alerts_watch_state_last", "state", "last_user_at"),)

    conversation_id = Column(String(255), primary_key=True)
    last_user_at = Column(UTCDateTime, nullable=False)
    state = Column(String(16), nullable=False)            # pending / checked


# Kinds of quiet patient.
NO_REPLY, INCOMPLETE = "no_reply", "incomplete"


class QuietPatient(Base):
    """Open while `resolved_at` is empty. reminder: waiting (for the end of the quiet hours),
    queued (in sms_outbox: `reminder_outbox_id`), or why none was sent (not_sms, off,
    sms_off, cancelled, opted_out, one_sent)."""

    __tablename__ = "alerts_quiet"
    __table_args__ = (UniqueConstraint("kind", "conversation_id", "since",
                                       name="uq_alerts_quiet_since"),
                      Index("ix_alerts_quiet_open", "resolved_at", "kind"),
                      Index("ix_alerts_quiet_reminder", "reminder", "resolved_at"))

    id = Column(Integer, primary_key=True)
    kind = Column(String(16), nullable=False)             # no_reply / incomplete
    conversation_id = Column(String(255), nullable=False, index=True)
    channel_group = Column(String(16), nullable=False)
    discharge_id = Column(Integer, nullable=True)
    since = Column(UTCDateTime, nullable=False)           # the unanswered text / last message
    marked_at = Column(UTCDateTime, nullable=False)
    # no_reply: {"unanswered": n}; incomplete: {"answered": [...], "unanswered": [...]}
    # (question slots only: never what the patient wrote)
    details = Column(JSON, nullable=False, default=dict)
    reminder = Column(String(16), nullable=True)
    reminder_outbox_id = Column(Integer, nullable=True)
    reminder_at = Column(UTCDateTime, nullable=True)
    resolved_at = Column(UTCDateTime, nullable=True)
    resolution = Column(String(32), nullable=True)        # replied / new_message / cancelled
