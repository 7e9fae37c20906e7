"""The two PostgreSQL roles of the case store: the schema owner (migrations) and the application.

The owner (``KYC_DATABASE_OWNER_URL``) creates and alters the tables, so it owns them and their
triggers. The application (``KYC_DATABASE_URL``) gets, after every migration run:

- ``audit_log``: SELECT and INSERT only (no UPDATE, DELETE, TRUNCATE, no TRIGGER privilege);
- every other table of the schema: SELECT, INSERT, UPDATE, DELETE (the retention trigger still
  refuses deleting a case inside its retention period);
- the schema's sequences: USAGE and SELECT.

It owns nothing, so ``ALTER TABLE audit_log DISABLE TRIGGER ...`` fails with "must be owner", and
it cannot change the audit rows at all. Creating the roles is the database administrator's job
(see the README, "Running on PostgreSQL"); this module only grants.
"""

from __future__ import annotations

import sqlalchemy as sa

AUDIT_TABLE = "audit_log"


def _quote(conn: sa.Connection, name: str) -> str:
    return conn.dialect.identifier_preparer.quote(name)


def grant_app_role(conn: sa.Connection, role: str, schema: str = "public") -> None:
    """Grant ``role`` the application's privileges on every table of ``schema`` (idempotent)."""
    r, s = _quote(conn, role), _quote(conn, schema)
    conn.execute(sa.text(f"GRANT USAGE ON SCHEMA {s} TO {r}"))
    conn.execute(sa.text(f"REVOKE ALL ON ALL TABLES IN SCHEMA {s} FROM {r}"))
    conn.execute(sa.text(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {s} TO {r}"))
    conn.execute(sa.text(f"REVOKE UPDATE, DELETE, TRUNCATE, TRIGGER, REFERENCES ON {s}.{AUDIT_TABLE} FROM {r}"))
    conn.execute(sa.text(f"REVOKE ALL ON {s}.alembic_version FROM {r}"))
    conn.execute(sa.text(f"GRANT SELECT ON {s}.alembic_version TO {r}"))
    conn.execute(sa.text(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {s} TO {r}"))
