"""Alembic environment: runs on a connection handed over by ``Database.migrate``."""

from __future__ import annotations

from alembic import context

from lockgate.storage.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only through Database.migrate
    raise RuntimeError("lockgate migrations run through lockgate.storage.Database.migrate")
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
