"""SMS follow-up: discharges, scheduled follow-ups, outbox, inbound texts, opt-outs

Revision ID: 0002_sms
Revises: 0001
Create Date: 2026-11-22

A branch beside 0003_console (both revise 0001); the project runs `alembic upgrade heads`.
"""
import sqlalchemy as sa
from alembic import op

revision = "0002_sms"
down_revision = "0001"
branch_labels = None
depends_on = None


def _ts(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "sms_discharges",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("phone", sa.String(32), nullable=False),
        sa.Column("procedure", sa.String(32), nullable=False),
        _ts("procedure_at"),
        sa.Column("is_child", sa.Boolean(), nullable=False),
        sa.Column("name", sa.String(200), nullable=True),
        sa.Column("conversation_id", sa.String(64), nullable=False),
        sa.Column("source", sa.String(32), nullable=False),
        _ts("created_at"),
        _ts("cancelled_at", nullable=True),
        sa.UniqueConstraint("conversation_id", name="uq_sms_discharges_conversation_id"),
        sa.UniqueConstraint("phone", "procedure", "procedure_at",
                            name="uq_sms_discharges_phone_procedure_at"),
    )
    op.create_index("ix_sms_discharges_phone", "sms_discharges", ["phone"])

    op.create_table(
        "sms_followups",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("discharge_id", sa.Integer(), sa.ForeignKey("sms_discharges.id"), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("day", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(64), nullable=False),
        _ts("due_at"),
        _ts("window_end"),
        sa.Column("status", sa.String(16), nullable=False),
        _ts("next_attempt_at"),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("claim_token", sa.String(32), nullable=True),
        _ts("claimed_at", nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        _ts("done_at", nullable=True),
        _ts("created_at"),
        sa.UniqueConstraint("discharge_id", "seq", name="uq_sms_followups_seq"),
    )
    op.create_index("ix_sms_followups_discharge_id", "sms_followups", ["discharge_id"])
    op.create_index("ix_sms_followups_due_at", "sms_followups", ["due_at"])
    op.create_index("ix_sms_followups_status", "sms_followups", ["status"])
    op.create_index("ix_sms_followups_status_next", "sms_followups", ["status", "next_attempt_at"])

    op.create_table(
        "sms_inbound",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("message_sid", sa.String(64), nullable=False),
        sa.Column("from_number", sa.String(32), nullable=False),
        sa.Column("to_number", sa.String(32), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("num_media", sa.Integer(), nullable=False),
        sa.Column("discharge_id", sa.Integer(), sa.ForeignKey("sms_discharges.id"), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        _ts("received_at"),
        _ts("processed_at", nullable=True),
        sa.UniqueConstraint("message_sid", name="uq_sms_inbound_message_sid"),
    )
    op.create_index("ix_sms_inbound_from_number", "sms_inbound", ["from_number"])
    op.create_index("ix_sms_inbound_discharge_id", "sms_inbound", ["discharge_id"])

    op.create_table(
        "sms_outbox",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("to_number", sa.String(32), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("discharge_id", sa.Integer(), sa.ForeignKey("sms_discharges.id"), nullable=True),
        sa.Column("followup_id", sa.Integer(), sa.ForeignKey("sms_followups.id"), nullable=True),
        sa.Column("inbound_id", sa.Integer(), sa.ForeignKey("sms_inbound.id"), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        _ts("next_attempt_at"),
        _ts("not_after", nullable=True),
        sa.Column("check_before_send", sa.Boolean(), nullable=False),
        sa.Column("claim_token", sa.String(32), nullable=True),
        _ts("claimed_at", nullable=True),
        sa.Column("twilio_sid", sa.String(64), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        _ts("created_at"),
        _ts("sent_at", nullable=True),
    )
    op.create_index("ix_sms_outbox_to_number", "sms_outbox", ["to_number"])
    op.create_index("ix_sms_outbox_status", "sms_outbox", ["status"])
    op.create_index("ix_sms_outbox_discharge_id", "sms_outbox", ["discharge_id"])
    op.create_index("ix_sms_outbox_followup_id", "sms_outbox", ["followup_id"])
    op.create_index("ix_sms_outbox_status_next", "sms_outbox", ["status", "next_attempt_at"])
    op.create_index("ix_sms_outbox_to_status", "sms_outbox", ["to_number", "status"])

    op.create_table(
        "sms_opt_outs",
        sa.Column("phone", sa.String(32), primary_key=True),
        sa.Column("opted_out", sa.Boolean(), nullable=False),
        _ts("changed_at"),
        sa.Column("keyword", sa.String(16), nullable=False),
    )


def downgrade() -> None:
    for table in ("sms_opt_outs", "sms_outbox", "sms_inbound", "sms_followups", "sms_discharges"):
        op.drop_table(table)
