"""Hardening shared by every response: security headers with a strict CSP, and the sign-in rate limit.

Password checks are rate limited wherever they happen (the token endpoint and any HTTP Basic request): only failed
attempts are counted, per client address and per user name, in Redis in production and in memory when embedded.
"""

from __future__ import annotations

from collections.abc import Iterable

from apiflask import APIFlask
from flask import Blueprint, Response, current_app, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

# No inline script or style anywhere, nothing from another origin: templates link /static files only.
CSP = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
}
HSTS = "max-age=31536000; includeSubDomains"


def register(app: APIFlask) -> None:
    app.after_request(_headers)
    limiter = Limiter(
        get_remote_address,
        app=app,
        storage_uri=app.config["SPECGOODS_RATELIMIT_STORAGE"],
        key_prefix="specgoods-login",
        headers_enabled=True,
        strategy="moving-window",
    )
    app.extensions["specgoods_limiter"] = limiter


def limit_sign_in(app: APIFlask, blueprints: Iterable[Blueprint]) -> None:
    """Count failed password checks (401) on every route of `blueprints`; token-bearing requests are not counted.

    Two shared counters: one per client address (password spraying) and one per user name (a distributed attack on
    one account). Once either is spent, even the right password gets 429 until the window moves on.
    """
    limiter: Limiter = app.extensions["specgoods_limiter"]
    limits = [
        limiter.shared_limit(
            lambda: str(current_app.config["SPECGOODS_LOGIN_LIMIT"]),
            scope,
            key_func=key,
            exempt_when=_not_password,
            deduct_when=lambda response: response.status_code == 401,
        )
        for key, scope in ((get_remote_address, "sign-in-address"), (_user_name, "sign-in-user"))
    ]
    for blueprint in blueprints:
        for limit in limits:
            limit(blueprint)


def _not_password() -> bool:
    auth = request.authorization
    return auth is None or auth.type != "basic"


def _user_name() -> str:
    auth = request.authorization
    return (auth.username or "") if auth is not None else ""


def _headers(response: Response) -> Response:
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    if request.path.startswith("/api/"):
        response.headers.setdefault("Cache-Control", "no-store")
    if current_app.config["SESSION_COOKIE_SECURE"]:
        response.headers.setdefault("Strict-Transport-Security", HSTS)
    return response
