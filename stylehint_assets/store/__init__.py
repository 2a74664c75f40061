"""The learning store: SQLAlchemy Core tables and the queries that fill them."""
