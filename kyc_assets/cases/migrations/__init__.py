"""Alembic migrations of the case store, configured in code (no alembic.ini) so that they ship in the wheel.

``upgrade(engine)`` brings a database to the newest schema; the store calls it on start-up. A
database created before migrations existed (the foundation's ``create_all``) is recognised by its
tables and stamped at revision 0001 first, then upgraded.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

HERE = Path(__file__).resolve().parent
FOUNDATION_REVISION = "0001"
# Any number identifying "the case-store migration" for pg_advisory_lock: concurrent starters wait.
_PG_LOCK_ID = 727_274_001


def alembic_config(connection: sa.Connection | None = None) -> Config:
    """An Alembic configuration pointing at this package's scripts (and, optionally, a live connection)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    cfg.set_main_option("path_separator", "os")
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(connection: sa.Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: sa.Engine) -> str:
    """Upgrade the database to head (a no-op when it is there already); returns the revision.

    Serialised across processes: an advisory lock on PostgreSQL, the write lock on SQLite.
    """
    head = head_revision()
    with engine.connect() as conn:
        if current_revision(conn) == head:
            return head
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:id)"), {"id": _PG_LOCK_ID})
        current = current_revision(conn)
        if current == head:
            return head
        cfg = alembic_config(conn)
        if current is None and sa.inspect(conn).has_table("audit_log"):
            command.stamp(cfg, FOUNDATION_REVISION)  # created by the foundation's create_all
        command.upgrade(cfg, "head")
    return head


def upgrade_as_owner(app_engine: sa.Engine, owner_url: str | None, app_url: str) -> str:
    """Upgrade the schema. Without ``owner_url`` through the application's own engine (local mode: one
    role owns and uses the tables). With it (``KYC_DATABASE_OWNER_URL``, PostgreSQL), migrations run as
    the owner role, which then grants the application's role (the user of ``app_url``) only what it
    needs: INSERT and SELECT on the audit log, no ownership (so no ALTER TABLE ... DISABLE TRIGGER)."""
    if not owner_url:
        return upgrade(app_engine)
    from kyc_assets.cases.migrations.roles import grant_app_role

    app_role = sa.engine.make_url(app_url).username
    owner = sa.create_engine(owner_url, future=True)
    try:
        with owner.connect() as conn:
            if conn.dialect.name != "postgresql":
                raise ValueError("KYC_DATABASE_OWNER_URL is for PostgreSQL (separate owner and application roles)")
        head = upgrade(owner)
        if app_role and app_role != sa.engine.make_url(owner_url).username:
            with owner.begin() as conn:
                grant_app_role(conn, app_role)
        return head
    finally:
        owner.dispose()
