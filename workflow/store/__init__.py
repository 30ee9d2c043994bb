"""Persistence: typed tables, the unit of work and repositories, the outbox relay and the Alembic migrations."""
