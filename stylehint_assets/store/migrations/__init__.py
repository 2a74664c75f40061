"""Alembic revisions of the learning store, shipped with the package (see ``store.migrations_runner``)."""
