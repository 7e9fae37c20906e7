"""Case work: decisions with four-eyes approval, case events, SAR reports, encrypted PII columns,
optimistic versions, retention; on PostgreSQL the database refuses UPDATE/DELETE/TRUNCATE of the
audit log and DELETE of cases inside their retention period.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_PG_AUDIT_GUARD = """
CREATE OR REPLACE FUNCTION kyc_audit_log_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER audit_log_no_update_delete BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION kyc_audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION kyc_audit_log_append_only();
CREATE OR REPLACE FUNCTION kyc_cases_retention() RETURNS trigger AS $$
BEGIN
    IF OLD.status <> 'closed' OR OLD.retain_until IS NULL
       OR OLD.retain_until > to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD') THEN
        RAISE EXCEPTION 'case % is inside its retention period: delete refused', OLD.case_id
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN OLD;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER cases_retention BEFORE DELETE ON cases
    FOR EACH ROW EXECUTE FUNCTION kyc_cases_retention();
"""


def upgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("outcome", sa.String(20)))
        batch.add_column(sa.Column("closed_at", sa.String(40)))
        batch.add_column(sa.Column("retain_until", sa.String(10)))
        batch.add_column(sa.Column("version", sa.Integer, nullable=False, server_default="1"))
        # Fernet tokens (KYC_CASE_KEYS); NULL when no key is configured: PII is then not stored at all.
        batch.add_column(sa.Column("subject_name_enc", sa.Text))
        batch.add_column(sa.Column("subject_dob_enc", sa.Text))
        batch.add_column(sa.Column("subject_document_number_enc", sa.Text))
    op.create_index("ix_cases_queue", "cases", ["status", "priority", "due_date", "case_id"])
    op.create_table(
        "case_events",
        sa.Column("event_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("case_id", sa.String(40), sa.ForeignKey("cases.case_id"), nullable=False),
        sa.Column("at", sa.String(40), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("action", sa.String(100), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
    )
    op.create_index("ix_case_events_case", "case_events", ["case_id", "event_id"])
    op.create_table(
        "decisions",
        sa.Column("decision_id", sa.String(40), primary_key=True),
        sa.Column("case_id", sa.String(40), sa.ForeignKey("cases.case_id"), nullable=False),
        sa.Column("decision", sa.String(20), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("analyst", sa.String(200), nullable=False),
        sa.Column("decided_at", sa.String(40), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),  # final | proposed | approved | rejected
        sa.Column("previous_status", sa.String(20), nullable=False),
        sa.Column("approved_by", sa.String(200)),
        sa.Column("approved_at", sa.String(40)),
        sa.Column("approval_reason", sa.Text),
    )
    op.create_index("ix_decisions_case", "decisions", ["case_id", "decided_at"])
    op.create_table(
        "reports",
        sa.Column("report_id", sa.String(40), primary_key=True),
        sa.Column("case_id", sa.String(40), sa.ForeignKey("cases.case_id"), nullable=False, unique=True),
        sa.Column("format", sa.String(40), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),  # draft | approved
        sa.Column("prepared_by", sa.String(200), nullable=False),
        sa.Column("created_at", sa.String(40), nullable=False),
        sa.Column("approved_by", sa.String(200)),
        sa.Column("approved_at", sa.String(40)),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_PG_AUDIT_GUARD)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS cases_retention ON cases")
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_truncate ON audit_log")
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_update_delete ON audit_log")
    for table in ("reports", "decisions", "case_events"):
        op.drop_table(table)
    op.drop_index("ix_cases_queue", "cases")
    with op.batch_alter_table("cases") as batch:
        for column in ("subject_document_number_enc", "subject_dob_enc", "subject_name_enc", "version",
                       "retain_until", "closed_at", "outcome"):
            batch.drop_column(column)
