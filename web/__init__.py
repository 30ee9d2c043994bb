"""Flask front end: the app factory, one blueprint per audience, error mapping and hardening in one place each."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from apiflask import APIFlask
from flask import Flask, Request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from werkzeug.middleware.proxy_fix import ProxyFix

from config.bootstrap import Container, bootstrap
from config.settings import Environment
from web import request_log
from web.throttle import ThrottlePolicy

API_PREFIX = "/api/v1/"  # the JSON API; its HTML reference page (/api/docs) keeps the session, as pages do
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
    app = App(
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
    app.session_interface = PageSessions()
    _trust_proxies(app, container.settings.trusted_proxies)
    request_log.register(app, container.settings)
    _register(app)
    return app


class App(APIFlask):
    """APIFlask that asks once per hook or view, not on every request, whether it is a coroutine function.

    Flask asks `inspect.iscoroutinefunction` of every before/after/teardown hook and the view on each request; the
    answer never changes for a function, so it is remembered (hooks and views are few, and live as long as the app).
    """

    def ensure_sync(self, func: Callable[..., Any]) -> Callable[..., Any]:
        synced: dict[Callable[..., Any], Callable[..., Any]] = self.__dict__.setdefault("_synced", {})
        found = synced.get(func)
        if found is None:
            found = synced[func] = super().ensure_sync(func)
        return found


class PageSessions(SecureCookieSessionInterface):
    """The signed session cookie for the pages; the token-authenticated API neither reads nor sets one.

    An API request gets Flask's null session (readable, empty, never saved): no cookie is verified, none is written,
    and the answer does not vary by cookie. Its credentials are its Authorization header alone (web/context.py).
    """

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if request.path.startswith(API_PREFIX):
            return self.make_null_session(app)
        return super().open_session(app, request)


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
        request_reads,
        security,
        spec,
        ui,
        verify,
    )

    errors.register(app)
    request_reads.register(app)  # every GET reads in one session, closed at the request's end
    security.register(app)
    spec.register(app)
    api_modules = (auth, api, certificates, certificate_changes, enterprises, laboratories, audit, precheck, inbox)
    api_modules += (credit,)  # R68–R74: an enterprise's credit and its credit events (web/credit.py)
    for module in (health, *api_modules, pages, verify, api_docs):
        app.register_blueprint(module.blueprint)
    outages.register(app, app.extensions["specgoods"])
    ui.register(app)
    metrics.register(app)  # request metrics and GET /metrics (docs/monitoring.md)
