"""delivery receipts: what Twilio's status callbacks say became of each text

Revision ID: 0006_delivery_receipts
Revises: 0005_inbound_claims
Create Date: 2026-12-02

`status` stays ours (sent = Twilio accepted it); `delivery_status` is the carrier's last
word (sent, delivered, undelivered, failed) and `delivery_error` Twilio's error code.
"""
import sqlalchemy as sa
from alembic import op

revision = "0006_delivery_receipts"
down_revision = "0005_inbound_claims"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sms_outbox") as table:
        table.add_column(sa.Column("delivery_status", sa.String(16), nullable=True))
        table.add_column(sa.Column("delivery_error", sa.String(16), nullable=True))
        table.add_column(sa.Column("delivery_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_sms_outbox_twilio_sid", "sms_outbox", ["twilio_sid"])


def downgrade() -> None:
    op.drop_index("ix_sms_outbox_twilio_sid", table_name="sms_outbox")
    with op.batch_alter_table("sms_outbox") as table:
        table.drop_column("delivery_at")
        table.drop_column("delivery_error")
        table.drop_column("delivery_status")
