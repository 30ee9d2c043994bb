"""The WSGI entry point for gunicorn (`web.wsgi:app`): the one module that builds an app when imported."""

from __future__ import annotations

from web import create_app

app = create_app()
