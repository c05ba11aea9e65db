"""care-team alerts: alerts, bundles (held alerts, digests), their outbox, scan cursors,
quiet patients

Revision ID: 0008_alerts
Revises: 0007_worker_heartbeats
Create Date: 2026-12-04

See bot/alerts/models.py.
"""
import sqlalchemy as sa
from alembic import op

revision = "0008_alerts"
down_revision = "0007_worker_heartbeats"
branch_labels = None
depends_on = None


def _ts(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "alerts_bundles",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("run_on", sa.Date(), nullable=True),
        _ts("period_start", nullable=True),
        _ts("period_end"),
        sa.Column("summary", sa.JSON(), nullable=True),
        _ts("created_at"),
        sa.UniqueConstraint("run_on", name="uq_alerts_bundles_run_on"),
    )
    op.create_table(
        "alerts_alerts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("conversation_id", sa.String(255), nullable=False),
        sa.Column("channel", sa.String(64), nullable=False),
        sa.Column("channel_group", sa.String(16), nullable=False),
        sa.Column("level", sa.String(32), nullable=False),
        sa.Column("outcome_id", sa.Integer(), nullable=False),
        sa.Column("discharge_id", sa.Integer(), nullable=True),
        _ts("raised_at"),
        _ts("created_at"),
        sa.Column("route", sa.String(16), nullable=False),
        _ts("held_until", nullable=True),
        _ts("released_at", nullable=True),
        sa.Column("bundle_id", sa.Integer(), sa.ForeignKey("alerts_bundles.id"), nullable=True),
        _ts("acknowledged_at", nullable=True),
        sa.Column("acknowledged_by", sa.String(150), nullable=True),
        sa.Column("acknowledged_via", sa.String(16), nullable=True),
        sa.UniqueConstraint("conversation_id", "level", name="uq_alerts_alerts_level"),
    )
    op.create_index("ix_alerts_alerts_conversation_id", "alerts_alerts", ["conversation_id"])
    op.create_index("ix_alerts_alerts_bundle_id", "alerts_alerts", ["bundle_id"])
    op.create_index("ix_alerts_alerts_held", "alerts_alerts", ["route", "released_at", "held_until"])
    op.create_index("ix_alerts_alerts_open", "alerts_alerts", ["acknowledged_at", "raised_at"])

    op.create_table(
        "alerts_deliveries",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("alert_id", sa.Integer(), sa.ForeignKey("alerts_alerts.id"), nullable=True),
        sa.Column("bundle_id", sa.Integer(), sa.ForeignKey("alerts_bundles.id"), nullable=True),
        sa.Column("transport", sa.String(16), nullable=False),
        sa.Column("route", sa.String(16), nullable=False),
        sa.Column("recipients", sa.Text(), nullable=True),
        sa.Column("subject", sa.String(255), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("message_id", sa.String(255), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        _ts("next_attempt_at"),
        _ts("give_up_at"),
        sa.Column("claim_token", sa.String(32), nullable=True),
        _ts("claimed_at", nullable=True),
        sa.Column("possible_repeat", sa.Boolean(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        _ts("created_at"),
        _ts("sent_at", nullable=True),
    )
    op.create_index("ix_alerts_deliveries_alert_id", "alerts_deliveries", ["alert_id"])
    op.create_index("ix_alerts_deliveries_bundle_id", "alerts_deliveries", ["bundle_id"])
    op.create_index("ix_alerts_deliveries_status", "alerts_deliveries", ["status"])
    op.create_index("ix_alerts_deliveries_status_next", "alerts_deliveries",
                    ["status", "next_attempt_at"])

    op.create_table(
        "alerts_cursors",
        sa.Column("source", sa.String(32), primary_key=True),
        sa.Column("last_id", sa.Integer(), nullable=False),
    )
    op.create_table(
        "alerts_watch",
        sa.Column("conversation_id", sa.String(255), primary_key=True),
        _ts("last_user_at"),
        sa.Column("state", sa.String(16), nullable=False),
    )
    op.create_index("ix_alerts_watch_state_last", "alerts_watch", ["state", "last_user_at"])

    op.create_table(
        "alerts_quiet",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("conversation_id", sa.String(255), nullable=False),
        sa.Column("channel_group", sa.String(16), nullable=False),
        sa.Column("discharge_id", sa.Integer(), nullable=True),
        _ts("since"),
        _ts("marked_at"),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("reminder", sa.String(16), nullable=True),
        sa.Column("reminder_outbox_id", sa.Integer(), nullable=True),
        _ts("reminder_at", nullable=True),
        _ts("resolved_at", nullable=True),
        sa.Column("resolution", sa.String(32), nullable=True),
        sa.UniqueConstraint("kind", "conversation_id", "since", name="uq_alerts_quiet_since"),
    )
    op.create_index("ix_alerts_quiet_conversation_id", "alerts_quiet", ["conversation_id"])
    op.create_index("ix_alerts_quiet_open", "alerts_quiet", ["resolved_at", "kind"])
    op.create_index("ix_alerts_quiet_reminder", "alerts_quiet", ["reminder", "resolved_at"])


def downgrade() -> None:
    op.drop_table("alerts_quiet")
    op.drop_table("alerts_watch")
    op.drop_table("alerts_cursors")
    op.drop_table("alerts_deliveries")
    op.drop_table("alerts_alerts")
    op.drop_table("alerts_bundles")
