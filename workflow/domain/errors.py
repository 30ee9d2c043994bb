"""One error hierarchy for the whole engine; the web and CLI map it to responses in one place each."""

from __future__ import annotations


class DomainError(Exception):
    """A rule of the domain refused the request; `rule_id` names the rule (R*, W*, E*, A*...)."""

    status = 422

    def __init__(self, message: str, rule_id: str | None = None, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.rule_id = rule_id
        self.field = field

    def as_dict(self) -> dict[str, str | None]:
        return {"error": type(self).__name__, "message": self.message, "rule_id": self.rule_id, "field": self.field}


class InvalidInput(DomainError):
    """The request's data is malformed: a field is missing, of the wrong type or out of range."""

    status = 400


class GuardFailed(DomainError):
    """A transition's guard refused: the state allows the trigger but a rule forbids it now."""

    status = 422


class InvalidTransition(DomainError):
    """The trigger is not allowed from the object's current state (a forbidden (state, trigger) pair)."""

    status = 409


class ConcurrencyConflict(DomainError):
    """Another transaction changed the object first; re-read and try again."""

    status = 409


class RetryableConflict(ConcurrencyConflict):
    """A concurrent transaction won a race the request can simply be run again after (a lock cycle, a key)."""


class DuplicateRequest(RetryableConflict):
    """Another transaction stored the same idempotency key or declaration number first: replay its result."""


class PermissionDenied(DomainError):
    """The actor may not do this (wrong role, separation of duties R11, another enterprise's object)."""

    status = 403


class NotFound(DomainError):
    """No such object, or not one the actor may see."""

    status = 404


class PolicyError(DomainError):
    """A policy profile or calendar is malformed or does not cover the date asked about."""

    status = 500


class CalendarRangeError(PolicyError):
    """A date falls outside the working-day calendar's table: never guess a weekday count."""
