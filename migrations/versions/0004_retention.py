"""retention: the daily purge's runs, and reviews deletable by the purge only

Revision ID: 0004_retention
Revises: 0003_console
Create Date: 2026-11-23

`retention_runs` records the day each daily purge was claimed (at most one per local day).
`console_reviews` stays append-only, except that its DELETE trigger now lets a delete through
while `retention_permits` holds a row, which only the retention purge's own transaction
inserts (and deletes again before it commits): a review holds a note about a patient and
goes with its conversation. UPDATE is refused as before, and `console_audit` is untouched.
`sms_outbox.inbound_id` gets an index: PostgreSQL checks the foreign key of every deleted
`sms_inbound` row against it (without one, a scan of the outbox per deleted text).
"""
import sqlalchemy as sa
from alembic import op

revision = "0004_retention"
down_revision = "0003_console"
branch_labels = None
depends_on = None

REFUSED = "console_reviews is append-only"


def upgrade() -> None:
    op.create_table(
        "retention_runs",
        sa.Column("run_on", sa.Date(), primary_key=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("rows", sa.JSON(), nullable=True),
        sa.Column("error", sa.String(200), nullable=True),
    )
    op.create_table("retention_permits", sa.Column("id", sa.Integer(), primary_key=True))
    op.create_index("ix_sms_outbox_inbound_id", "sms_outbox", ["inbound_id"])

    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        op.execute("DROP TRIGGER console_reviews_no_delete")
        op.execute("CREATE TRIGGER console_reviews_no_delete BEFORE DELETE ON console_reviews "
                   "WHEN NOT EXISTS (SELECT 1 FROM retention_permits) "
                   f"BEGIN SELECT RAISE(ABORT, '{REFUSED}'); END")
    elif dialect == "postgresql":
        op.execute("CREATE FUNCTION console_reviews_purge_only() RETURNS trigger AS $$ BEGIN "
                   "IF TG_OP = 'DELETE' AND EXISTS (SELECT 1 FROM retention_permits) THEN "
                   "RETURN OLD; END IF; "
                   f"RAISE EXCEPTION '{REFUSED}'; END $$ LANGUAGE plpgsql")
        op.execute("DROP TRIGGER console_reviews_append_only ON console_reviews")
        op.execute("CREATE TRIGGER console_reviews_append_only BEFORE UPDATE OR DELETE ON "
                   "console_reviews FOR EACH ROW EXECUTE FUNCTION console_reviews_purge_only()")


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        op.execute("DROP TRIGGER console_reviews_no_delete")
        op.execute("CREATE TRIGGER console_reviews_no_delete BEFORE DELETE ON console_reviews "
                   f"BEGIN SELECT RAISE(ABORT, '{REFUSED}'); END")
    elif dialect == "postgresql":
        op.execute("DROP TRIGGER console_reviews_append_only ON console_reviews")
        op.execute("CREATE TRIGGER console_reviews_append_only BEFORE UPDATE OR DELETE ON "
                   "console_reviews FOR EACH ROW EXECUTE FUNCTION console_append_only()")
        op.execute("DROP FUNCTION console_reviews_purge_only()")
    op.drop_index("ix_sms_outbox_inbound_id", table_name="sms_outbox")
    op.drop_table("retention_permits")
    op.drop_table("retention_runs")
