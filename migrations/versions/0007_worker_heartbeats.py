"""worker heartbeats: when each SMS worker last finished a pass

Revision ID: 0007_worker_heartbeats
Revises: 0006_delivery_receipts
Create Date: 2026-12-02

`python -m bot.sms.cli status` shows the newest, so an operator can tell a stopped worker
(no follow-ups going out) from a quiet day.
"""
import sqlalchemy as sa
from alembic import op

revision = "0007_worker_heartbeats"
down_revision = "0006_delivery_receipts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sms_worker_heartbeats",
        sa.Column("worker", sa.String(120), primary_key=True),
        sa.Column("beat_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_pass", sa.JSON(), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("sms_worker_heartbeats")
