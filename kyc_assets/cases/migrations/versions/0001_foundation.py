"""The foundation's schema: cases, case evidence, suppressions and the hash-chained audit log.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("at", sa.String(40), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("action", sa.String(100), nullable=False),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("entry_hash", sa.String(64), nullable=False, unique=True),
    )
    op.create_table(
        "cases",
        sa.Column("case_id", sa.String(40), primary_key=True),
        sa.Column("subject_type", sa.String(20), nullable=False),
        sa.Column("subject_id", sa.String(200), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("priority", sa.Integer, nullable=False),
        sa.Column("risk", sa.Float, nullable=False),
        sa.Column("reasons", sa.Text, nullable=False),
        sa.Column("opened_at", sa.String(40), nullable=False),
        sa.Column("updated_at", sa.String(40), nullable=False),
        sa.Column("due_date", sa.String(10), nullable=False),
        sa.Column("assigned_to", sa.String(200)),
    )
    op.create_index("ix_cases_subject_status", "cases", ["subject_type", "subject_id", "status"])
    op.create_table(
        "case_evidence",
        sa.Column("case_id", sa.String(40), sa.ForeignKey("cases.case_id"), primary_key=True),
        sa.Column("evidence_id", sa.String(64), primary_key=True),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("risk", sa.Float, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("reference", sa.Text, nullable=False),
        sa.Column("added_at", sa.String(40), nullable=False),
    )
    op.create_table(
        "suppressions",
        sa.Column("suppression_id", sa.String(40), primary_key=True),
        sa.Column("customer_id", sa.String(200), nullable=False),
        sa.Column("list_entity_id", sa.String(200), nullable=False),
        sa.Column("entry_hash", sa.String(64), nullable=False),
        sa.Column("list_source", sa.String(100)),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", sa.String(40), nullable=False),
        sa.Column("lifted_at", sa.String(40)),
        sa.Column("lifted_reason", sa.Text),
        sa.UniqueConstraint("customer_id", "list_entity_id", "entry_hash", name="uq_suppressions_key"),
    )
    op.create_index("ix_suppressions_status", "suppressions", ["status"])


def downgrade() -> None:
    for table in ("suppressions", "case_evidence", "cases", "audit_log"):
        op.drop_table(table)
