"""Keyed audit chain: ``audit_log.key_id`` (the KYC_AUDIT_KEYS key whose HMAC is ``entry_hash``; NULL
for unkeyed entries, every entry before this revision) and a baseline ``case_state`` entry recording
the rows of every existing case, so that ``kyc audit verify`` can compare the ``cases``, ``decisions``
and ``reports`` tables with the log from here on (kyc_assets/audit/state.py).

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("audit_log") as batch:
        batch.add_column(sa.Column("key_id", sa.String(40)))
    from kyc_assets.audit import state

    conn = op.get_bind()
    existing = list(conn.execute(sa.text("SELECT case_id FROM cases")).scalars())
    if existing:
        state.record(conn, existing, actor="system:migration-0004")


def downgrade() -> None:
    with op.batch_alter_table("audit_log") as batch:
        batch.drop_column("key_id")
