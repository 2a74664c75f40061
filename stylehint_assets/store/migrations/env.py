"""Alembic environment: runs on the connection that ``store.migrate`` hands over, never on a URL
of its own, so the CLI, the tests and ``alembic`` autogenerate share one engine setup."""
from alembic import context

from stylehint_assets.store.schema import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    # SQLite cannot ALTER most things: batch mode copies the table instead.
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
