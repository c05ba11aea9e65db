"""triage outcomes table

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""
import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "triage_outcomes",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("conversation_id", sa.String(255), nullable=False),
        sa.Column("channel", sa.String(64), nullable=False),
        sa.Column("level", sa.String(32), nullable=False),
        sa.Column("findings", sa.JSON(), nullable=False),
        sa.Column("advice_ids", sa.JSON(), nullable=False),
        sa.Column("sources", sa.JSON(), nullable=False),
        sa.Column("unsure_slots", sa.JSON(), nullable=False),
        sa.Column("red_flag_interrupt", sa.Boolean(), nullable=False),
        sa.Column("patient_is_child", sa.Boolean(), nullable=False),
        sa.Column("advice_text", sa.Text(), nullable=False),
        sa.Column("policy_version", sa.String(32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_triage_outcomes_conversation_id", "triage_outcomes", ["conversation_id"])
    op.create_index("ix_triage_outcomes_channel", "triage_outcomes", ["channel"])
    op.create_index("ix_triage_outcomes_level", "triage_outcomes", ["level"])
    op.create_index("ix_triage_outcomes_created_at", "triage_outcomes", ["created_at"])


def downgrade() -> None:
    op.drop_table("triage_outcomes")
