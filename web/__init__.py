"""Flask front end: the app factory, one blueprint per audience, error mapping and hardening in one place each."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from apiflask import APIFlask
from werkzeug.middleware.proxy_fix import ProxyFix

from config.bootstrap import Container, bootstrap
from config.settings import Environment
from web import request_log
from web.throttle import ThrottlePolicy

SPEC_PATH = "/api/v1/openapi.json"
API_INFO = {
    "title": "specgoods API",
    "version": "1.0.0",
    "description": "Entry/exit special-goods health-quarantine approval (出入境特殊物品卫生检疫审批): applications, "
    "customs decisions, certificates, declarations and write-offs, audit. Errors are problem+json (RFC 9457).",
}


def create_app(container: Container | None = None, config: Mapping[str, Any] | None = None) -> APIFlask:
    """Build the app around a container; tests pass their own, production builds one from the environment."""
    container = container or bootstrap()
    # No docs UI: APIFlask's loads its scripts from a CDN and inlines its start-up script, which the CSP forbids.
    app = APIFlask(
        __name__,
        title=API_INFO["title"],
        version=API_INFO["version"],
        spec_path=SPEC_PATH,
        docs_path=None,
        instance_path=str(container.settings.instance_path.resolve()),
    )
    app.config.update(_defaults(container))
    app.config.update(config or {})
    app.extensions["specgoods"] = container
    _trust_proxies(app, container.settings.trusted_proxies)
    request_log.register(app, container.settings)
    _register(app)
    return app


def _trust_proxies(app: APIFlask, hops: int) -> None:
    """Behind `hops` reverse proxies, the client is the address the nearest trusted one appended to X-Forwarded-For.

    Without this every request seems to come from the proxy, and the sign-in throttle would count all clients as one.
    Entries a client writes itself sit further left and are ignored (docs/api/README.md#hardening).
    """
    if hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]


def _defaults(container: Container) -> dict[str, Any]:
    production = container.settings.env is Environment.PRODUCTION
    return {
        "SECRET_KEY": container.settings.effective_secret_key,
        "JSON_SORT_KEYS": False,
        "MAX_CONTENT_LENGTH": 20 * 1024 * 1024,
        # Lax, not Strict: a link in a notification e-mail must open the page signed in; POSTs stay same-site only.
        "SESSION_COOKIE_SECURE": production,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_SECURE": production,
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "DESCRIPTION": API_INFO["description"],
        "VALIDATION_ERROR_STATUS_CODE": 422,  # bad input is 422 at every door; 400 is a body that is not JSON at all
        "VALIDATION_ERROR_DESCRIPTION": "The request's data is malformed",
        "AUTO_404_RESPONSE": False,
        "SPECGOODS_SIGN_IN_THROTTLE": ThrottlePolicy(),
        # Production shares sign-in counters across gunicorn workers through Redis; embedded mode counts in memory.
        "SPECGOODS_RATELIMIT_STORAGE": container.settings.redis_url or "memory://",
        "SPECGOODS_MAX_UPLOAD_BYTES": 10 * 1024 * 1024,
    }


def _register(app: APIFlask) -> None:
    from web import (
        api,
        api_docs,
        audit,
        auth,
        certificate_changes,
        certificates,
        credit,
        enterprises,
        errors,
        health,
        inbox,
        laboratories,
        metrics,
        outages,
        pages,
        precheck,
        security,
        spec,
        ui,
        verify,
    )

    errors.register(app)
    security.register(app)
    spec.register(app)
    api_modules = (auth, api, certificates, certificate_changes, enterprises, laboratories, audit, precheck, inbox)
    api_modules += (credit,)  # R68–R74: an enterprise's credit and its credit events (web/credit.py)
    for module in (health, *api_modules, pages, verify, api_docs):
        app.register_blueprint(module.blueprint)
    outages.register(app, app.extensions["specgoods"])
    ui.register(app)
    metrics.register(app)  # request metrics and GET /metrics (docs/monitoring.md)
