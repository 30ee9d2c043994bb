"""Flask front end: the app factory, one blueprint per audience, error mapping in one place."""

from __future__ import annotations

from flask import Flask

from config.bootstrap import Container, bootstrap


def create_app(container: Container | None = None) -> Flask:
    """Build the app around a container; tests pass their own, production builds one from the environment."""
    container = container or bootstrap()
    app = Flask(__name__, instance_path=str(container.settings.instance_path.resolve()))
    app.config.update(
        SECRET_KEY=container.settings.effective_secret_key, JSON_SORT_KEYS=False, MAX_CONTENT_LENGTH=20 * 1024 * 1024
    )
    app.extensions["specgoods"] = container
    _register(app)
    return app


def _register(app: Flask) -> None:
    from web import api, errors, health, inbox, pages, verify

    errors.register(app)
    app.register_blueprint(health.blueprint)
    app.register_blueprint(api.blueprint)
    app.register_blueprint(inbox.blueprint)
    app.register_blueprint(pages.blueprint)
    app.register_blueprint(verify.blueprint)
