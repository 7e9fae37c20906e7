"""Alembic environment: runs on the connection handed over in ``config.attributes`` (see __init__.py)."""

from alembic import context

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - the package always passes a connection
    raise RuntimeError("run the case-store migrations through kyc_assets.cases.migrations.upgrade(engine)")
context.configure(connection=connection, target_metadata=None, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
