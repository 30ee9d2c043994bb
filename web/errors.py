"""Every error becomes a problem+json (RFC 9457) response in one place; routes hold no try/except."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from apiflask import APIFlask, HTTPError
from flask import Response, jsonify, request
from werkzeug.exceptions import BadRequest

from web import outages
from workflow.domain.errors import DomainError, InvalidInput

log = logging.getLogger(__name__)
PROBLEM = "application/problem+json"
CHALLENGE = 'Bearer realm="specgoods", Basic realm="specgoods"'
TYPES = "https://specgoods.invalid/problems/"  # a stable, documented namespace: docs/api/README.md#errors


class BodyTooLarge(DomainError):
    """The request body is over the size its route accepts."""

    status = 413


class UnsupportedBody(DomainError):
    """The request body is not of the content type its route documents (JSON is never guessed from text)."""

    status = 415


def problem(status: int, title: str, detail: str, **extra: object) -> Response:
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    body |= {key: value for key, value in extra.items() if value is not None}
    response = jsonify(body)
    response.status_code = status
    response.mimetype = PROBLEM
    return response


def register(app: APIFlask) -> None:
    @app.errorhandler(DomainError)
    def _domain(error: DomainError) -> Response:
        errors = [{"field": error.field, "reason": error.message}] if error.field else None
        response = problem(
            _status(error),
            type(error).__name__,
            error.message,
            type=TYPES + type(error).__name__,
            rule_id=error.rule_id,
            field=error.field,
            errors=errors,
        )
        if response.status_code == 401:
            response.headers["WWW-Authenticate"] = CHALLENGE
        retry_after = getattr(error, "retry_after", None)  # a throttled sign-in says when to try again
        if retry_after is not None:
            response.headers["Retry-After"] = str(retry_after)
        return response

    @app.error_processor
    def _http(error: HTTPError) -> Response:
        """APIFlask's errors: request validation (field-level) and every werkzeug HTTP error."""
        if error.status_code in (400, 422) and isinstance(error.detail, Mapping) and error.detail:
            return _validation_problem(error)
        response = problem(error.status_code, error.message or "Error", error.message or "Error")
        response.headers.extend(dict(error.headers or {}))
        return response

    @app.errorhandler(BadRequest)
    def _unreadable(error: BadRequest) -> Response:
        """The body could not be read at all (malformed JSON, a broken multipart): the field at fault is the body."""
        reason = error.description or "the request body could not be read"
        return problem(
            400,
            "InvalidInput",
            reason,
            type=TYPES + "InvalidInput",
            field="body",
            errors=[{"field": "body", "reason": reason}],
        )

    @app.errorhandler(Exception)
    def _unexpected(error: Exception) -> Response:
        """An error no route expects: the database or broker is down (503, one log line per outage), or a bug."""
        part = outages.failing_part(error)
        if part is not None:
            return unavailable(part, error)
        log.exception("unhandled error")
        return problem(500, "Internal Server Error", "an unexpected error occurred; it has been logged")


def unavailable(part: str, error: BaseException) -> Response:
    outages.met(part, error)
    seconds = outages.RETRY_AFTER_SECONDS
    response = problem(
        503,
        "ServiceUnavailable",
        f"the {part} cannot be reached; retry in {seconds} s",
        type=TYPES + "ServiceUnavailable",
    )
    response.headers["Retry-After"] = str(seconds)
    return response


def _status(error: DomainError) -> int:
    """Bad input to the API is 422, as its schema validation is, never 400, 404 or 500.

    That is a malformed field, or one naming something unknown (a district, a certificate number) or outside what the
    policy covers (a date before any adoption). `/verify` keeps the 400 it documents (docs/paperless.md): there 422
    means a tampered certificate.
    """
    if isinstance(error, InvalidInput) and request.path.startswith("/api/"):
        return 422
    if error.field and error.status in (404, 500):
        return 422
    return error.status


def _validation_problem(error: HTTPError) -> Response:
    """`{location: {field.path: [reasons]}}` from the schema adapter becomes one entry per field and reason."""
    errors = [
        {"field": _field(location, name), "reason": reason}
        for location, fields in error.detail.items()
        for name, reasons in (fields.items() if isinstance(fields, Mapping) else [("", fields)])
        for reason in (reasons if isinstance(reasons, list) else [reasons])
    ]
    detail = "; ".join(f"{item['field']}: {item['reason']}" for item in errors)
    return problem(
        error.status_code,
        "InvalidInput",
        detail,
        type=TYPES + "InvalidInput",
        field=errors[0]["field"] if errors else None,
        errors=errors,
    )


def _field(location: str, name: str) -> str:
    """Body and query fields are named as the client wrote them; headers and path arguments keep their location."""
    if name in ("", "_schema"):
        return "body" if location == "json" else location
    return name if location in ("json", "files", "form", "query", "querystring") else f"{location}.{name}"
