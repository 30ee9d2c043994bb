"""Celery, worker side: the app factory, thin task wrappers (ids in, command to the bus) and beat schedules."""
