"""Indexes for the review queue and the audit trail of a case.

The default queue asks for every active status at once, sorted by priority and due date; an index
that starts with ``status`` cannot serve that order, so PostgreSQL scanned and sorted every active
case (about 120 ms with 100,000 cases). A partial index over the active statuses in queue order,
and a full one for "all statuses" and deep pages, let it read the first page straight off the
index (about 5 ms). The case page and the notification sensor read a case's audit entries by
subject, which scanned the whole log.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_ACTIVE = sa.text("status IN ('open', 'escalated', 'pending_approval')")


def upgrade() -> None:
    op.create_index("ix_cases_queue_order", "cases", ["priority", "due_date", "case_id"])
    op.create_index("ix_cases_active_queue", "cases", ["priority", "due_date", "case_id"],
                    postgresql_where=_ACTIVE, sqlite_where=_ACTIVE)
    op.create_index("ix_audit_log_subject", "audit_log", ["subject", "seq"])


def downgrade() -> None:
    op.drop_index("ix_audit_log_subject", table_name="audit_log")
    op.drop_index("ix_cases_active_queue", table_name="cases")
    op.drop_index("ix_cases_queue_order", table_name="cases")
