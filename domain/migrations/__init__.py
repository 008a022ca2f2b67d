"""The database schema's history (Alembic) and running it from code."""
