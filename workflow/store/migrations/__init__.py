"""Alembic migrations: the only way the schema is made, on SQLite and PostgreSQL alike."""
