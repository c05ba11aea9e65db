"""staff console: accounts, sessions, login attempts, audit trail, reviews, queue

Revision ID: 0003_console
Revises: 0002_sms
Create Date: 2026-11-22

A branch beside 0002_sms (both revise 0001); the project runs `alembic upgrade heads`.
The audit trail and the reviews are append-only: besides the code having no update or
delete path, triggers refuse UPDATE and DELETE on them (SQLite and PostgreSQL).
"""
import sqlalchemy as sa
from alembic import op

revision = "0003_console"
down_revision = "0002_sms"
branch_labels = None
depends_on = None

APPEND_ONLY = ("console_audit", "console_reviews")


def _ts(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "console_staff",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("username", sa.String(150), nullable=False, unique=True),
        sa.Column("display_name", sa.String(200), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        _ts("created_at"),
        _ts("password_changed_at"),
    )
    op.create_table(
        "console_sessions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("staff_id", sa.Integer(), sa.ForeignKey("console_staff.id"), nullable=False),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        _ts("created_at"),
        _ts("last_seen_at"),
        _ts("expires_at"),
    )
    op.create_index("ix_console_sessions_staff_id", "console_sessions", ["staff_id"])
    op.create_table(
        "console_login_attempts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("username", sa.String(150), nullable=False),
        sa.Column("ip", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        _ts("at"),
    )
    op.create_index("ix_console_login_attempts_username_at", "console_login_attempts",
                    ["username", "at"])
    op.create_index("ix_console_login_attempts_ip_at", "console_login_attempts", ["ip", "at"])
    op.create_table(
        "console_audit",
        sa.Column("id", sa.Integer(), primary_key=True),
        _ts("at"),
        sa.Column("staff_id", sa.Integer(), sa.ForeignKey("console_staff.id"), nullable=True),
        sa.Column("username", sa.String(150), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("target", sa.String(255), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("ip", sa.String(64), nullable=False),
    )
    op.create_index("ix_console_audit_at", "console_audit", ["at"])
    op.create_index("ix_console_audit_staff_id", "console_audit", ["staff_id"])
    op.create_index("ix_console_audit_action", "console_audit", ["action"])
    op.create_table(
        "console_reviews",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("conversation_id", sa.String(255), nullable=False),
        sa.Column("staff_id", sa.Integer(), sa.ForeignKey("console_staff.id"), nullable=False),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("last_outcome_id", sa.Integer(), nullable=True),
        _ts("created_at"),
    )
    op.create_index("ix_console_reviews_conversation_id", "console_reviews", ["conversation_id"])
    op.create_table(
        "console_conversations",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("conversation_id", sa.String(255), nullable=False, unique=True),
        sa.Column("channel", sa.String(64), nullable=False),
        sa.Column("channel_group", sa.String(16), nullable=False),
        sa.Column("level", sa.String(32), nullable=False),
        sa.Column("level_rank", sa.Integer(), nullable=False),
        _ts("first_at"),
        _ts("last_at"),
        sa.Column("outcome_count", sa.Integer(), nullable=False),
        sa.Column("last_outcome_id", sa.Integer(), nullable=True),
        sa.Column("reviewed", sa.Boolean(), nullable=False),
        sa.Column("last_review_id", sa.Integer(), nullable=True),
    )
    # Queue order (unreviewed, level, newest): every page is one index range scan.
    op.create_index("ix_console_conversations_order", "console_conversations",
                    ["reviewed", "level_rank", "last_at", "id"])
    op.create_index("ix_console_conversations_channel_order", "console_conversations",
                    ["channel_group", "reviewed", "level_rank", "last_at", "id"])
    op.create_index("ix_console_conversations_first_at", "console_conversations",
                    ["first_at", "level_rank"])  # the overview chart, index only
    op.create_table(
        "console_sync",
        sa.Column("source", sa.String(64), primary_key=True),
        sa.Column("last_id", sa.Integer(), nullable=False),
    )

    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for table in APPEND_ONLY:
            for verb in ("UPDATE", "DELETE"):
                op.execute(f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
                           f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END")
    elif dialect == "postgresql":
        op.execute("CREATE FUNCTION console_append_only() RETURNS trigger AS $$ BEGIN "
                   "RAISE EXCEPTION '% is append-only', TG_TABLE_NAME; END $$ LANGUAGE plpgsql")
        for table in APPEND_ONLY:
            op.execute(f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                       f"FOR EACH ROW EXECUTE FUNCTION console_append_only()")


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for table in APPEND_ONLY:
            for verb in ("update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_no_{verb}")
    for table in ("console_sync", "console_conversations", "console_reviews", "console_audit",
                  "console_login_attempts", "console_sessions", "console_staff"):
        op.drop_table(table)  # PostgreSQL drops a table's triggers with it
    if dialect == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS console_append_only()")
