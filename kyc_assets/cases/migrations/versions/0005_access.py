"""Sign-in state: revocable dashboard sessions and per-account sign-in throttling (cases/access.py).

``analyst_sessions`` holds the sha256 of each signed-in session id (never the id), when it was
created and last seen, and when and why it ended (logout, idle, expired); ``login_failures`` counts
failed sign-ins per account and holds its lock-out.

Revision ID: 0005
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0006"  # written against 0003; relinked after 0004 (audit) and 0006 (risk) landed on main
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "analyst_sessions",
        sa.Column("session_hash", sa.String(64), primary_key=True),
        sa.Column("analyst", sa.String(200), nullable=False),
        sa.Column("created", sa.Float, nullable=False),
        sa.Column("last_seen", sa.Float, nullable=False),
        sa.Column("ended", sa.Float),
        sa.Column("ended_reason", sa.String(40)),
    )
    op.create_index("ix_analyst_sessions_ended", "analyst_sessions", ["ended"])
    op.create_table(
        "login_failures",
        sa.Column("account", sa.String(200), primary_key=True),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.Column("first_failure", sa.Float, nullable=False),
        sa.Column("locked_until", sa.Float),
    )


def downgrade() -> None:
    op.drop_table("login_failures")
    op.drop_index("ix_analyst_sessions_ended", table_name="analyst_sessions")
    op.drop_table("analyst_sessions")
