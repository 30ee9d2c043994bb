"""Hardening shared by every request and response: security headers, the sign-in throttle, JSON body limits.

Every response carries a strict CSP. A route that documents a JSON body reads only application/json, of bounded size
and nesting depth, before anything else runs (signing in included).

Password checks are throttled wherever they happen (the token endpoint, any HTTP Basic request, the sign-in form):
failures are counted per user name and client source, with growing waits (web/throttle.py), in Redis in production
(falling back to this process while Redis is down) and in memory when embedded.
"""

from __future__ import annotations

from apiflask import APIFlask
from flask import Response, current_app, g, request
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import RequestEntityTooLarge

from web.errors import BodyTooLarge, UnsupportedBody
from web.throttle import RedisCounters, SignInThrottle
from workflow.domain import inputs
from workflow.domain.errors import InvalidInput

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
HSTS_NAME = "Strict-Transport-Security"
DEFAULTS = tuple(HEADERS.items())
API_DEFAULTS = (*DEFAULTS, ("Cache-Control", "no-store"))  # an API answer is never cached
FORM_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})  # the bodies with form fields
# Far above the largest body the schemas allow in practice (a batch of 500 declarations), far below memory trouble.
JSON_MAX_BYTES = 4 * 1024 * 1024
JSON_MAX_DEPTH = 32  # the deepest documented body nests 4 levels; Python's parser recurses, so bound it first
BODY_METHODS = ("POST", "PUT", "PATCH")
REFUSES_AT_THE_FORM = "refuses_at_the_form"  # a page view's mark: it shows a refused field at its form
REFUSED_INPUT = "specgoods_refused_input"  # where such a view finds the refusal of its posted fields (flask.g)


def register(app: APIFlask) -> None:
    app.after_request(_headers)
    app.before_request(_json_body)  # first: it reads the raw body before anything parses it as a form
    app.before_request(_clean_fields)
    storage = str(app.config["SPECGOODS_RATELIMIT_STORAGE"])
    shared = RedisCounters(storage) if storage.startswith(("redis://", "rediss://", "unix://")) else None
    app.extensions["specgoods_throttle"] = SignInThrottle(app.config["SPECGOODS_SIGN_IN_THROTTLE"], shared)


def _clean_fields() -> None:
    """No query or form value of any page or route carries a control character (NUL...) further in.

    The last line of defence, for every door at once: each form and schema then checks its own fields more closely
    (a one-line field refuses line breaks too). Line breaks and tabs pass here, for the multi-line fields.
    A page whose form refuses at its fields gets a posted refusal handed over instead (`REFUSED_INPUT`): the
    person is returned to the form, input kept, the message at the field (web/ui/refusals.py, web/ui/forms.py).
    """
    if request.query_string:
        _refuse_control_characters(request.args)
    if request.method not in BODY_METHODS or request.mimetype not in FORM_TYPES:
        return  # any other body has no form fields to parse: a JSON one is checked by its schema
    try:
        _refuse_control_characters(request.form)
    except InvalidInput as refused:
        if not getattr(current_app.view_functions.get(request.endpoint or ""), REFUSES_AT_THE_FORM, False):
            raise
        g.setdefault(REFUSED_INPUT, refused)


def refused_input() -> InvalidInput | None:
    """The refusal of this request's posted fields, handed to the page that shows it at its form; then gone."""
    refused = g.pop(REFUSED_INPUT, None)
    return refused if isinstance(refused, InvalidInput) else None


def _refuse_control_characters(source: MultiDict[str, str]) -> None:
    for name, value in source.items(multi=True):
        # A textarea's line breaks arrive as CR LF: the CR is part of a line break, not a control character.
        if inputs.bad_character(f"{name}{value}".replace("\r", ""), multiline=True) is not None:
            raise InvalidInput("Input should not contain control characters", field=inputs.printable(name, 40))


def _json_body() -> None:
    """A route that documents a JSON body reads only JSON, of bounded size and depth, before anyone is signed in."""
    if request.method not in BODY_METHODS or not _takes_json():
        return
    request.max_content_length = JSON_MAX_BYTES
    try:
        if (request.content_length or 0) > JSON_MAX_BYTES:
            raise RequestEntityTooLarge()
        data = request.get_data(cache=True)
        if not data:
            return  # no body: the route's schema says whether one was needed
    except RequestEntityTooLarge:
        raise BodyTooLarge(f"a JSON body is at most {JSON_MAX_BYTES} bytes", field="body") from None
    if not request.is_json:
        raise UnsupportedBody("send the body as application/json", field="body")
    try:
        body = request.get_json()  # cached: the route's schema reads this same value
    except RecursionError:
        body = None
        depth = JSON_MAX_DEPTH + 1
    else:
        # Each level opens a bracket: a body with few brackets (any single declaration) cannot nest too deep.
        few = data.count(b"[") + data.count(b"{") <= JSON_MAX_DEPTH
        depth = 0 if few else json_depth(body)
    if depth > JSON_MAX_DEPTH:
        raise InvalidInput(f"the JSON body nests more than {JSON_MAX_DEPTH} levels deep", field="body")


def _takes_json() -> bool:
    view = current_app.view_functions.get(request.endpoint or "")
    return getattr(view, "_spec", {}).get("content_type") == "application/json"


def json_depth(value: object) -> int:
    """How deeply arrays and objects nest in a parsed JSON value (a scalar is 0), without recursing."""
    deepest, pending = 0, [(value, 1)]
    while pending and deepest <= JSON_MAX_DEPTH:
        item, depth = pending.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is not None:
            deepest = max(deepest, depth)
            pending.extend((child, depth + 1) for child in children)
    return deepest


def _headers(response: Response) -> Response:
    """The hardening headers a response does not set itself, looked up in one pass over the ones it has."""
    present = {name.lower() for name, _value in response.headers}
    defaults = API_DEFAULTS if request.path.startswith("/api/") else DEFAULTS
    if current_app.config["SESSION_COOKIE_SECURE"]:
        defaults += ((HSTS_NAME, HSTS),)
    for name, value in defaults:
        if name.lower() not in present:
            response.headers.add(name, value)
    return response
