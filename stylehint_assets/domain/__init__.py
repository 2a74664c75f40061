"""Pure domain rules of SPEC sections 1-6. Imports neither Dagster nor SQLAlchemy."""
