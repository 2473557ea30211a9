"""Alembic environment: always run with a connection handed in by worker.store.opening."""

from alembic import context

from worker.store.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only reachable by calling alembic by hand
    raise SystemExit("run migrations through paper-digest (it opens the database itself)")
context.configure(connection=connection, target_metadata=metadata,
                  render_as_batch=connection.dialect.name == "sqlite")
with context.begin_transaction():
    context.run_migrations()
