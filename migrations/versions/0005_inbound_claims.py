"""inbound claims: a text is answered to Twilio at once and processed from the table

Revision ID: 0005_inbound_claims
Revises: 0004_retention
Create Date: 2026-12-02

`claimed_at` is when a Rasa process took the text for its turn (a claim older than the
lease is a dead process's, and is taken over); `attempts` counts the takes, so a text that
keeps failing ends with the fail-safe line instead of looping.
"""
import sqlalchemy as sa
from alembic import op

revision = "0005_inbound_claims"
down_revision = "0004_retention"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sms_inbound") as table:
        table.add_column(sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True))
        table.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))
    op.create_index("ix_sms_inbound_status_received", "sms_inbound", ["status", "received_at"])


def downgrade() -> None:
    op.drop_index("ix_sms_inbound_status_received", table_name="sms_inbound")
    with op.batch_alter_table("sms_inbound") as table:
        table.drop_column("attempts")
        table.drop_column("claimed_at")
