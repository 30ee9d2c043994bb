"""A refused action returns the person to the page it was posted from: the message at its form, the input kept.

Only refusals of what was asked (bad input, a rule, a state that changed meanwhile) come back to the form; a role
that may not act, or an object the person may not see, still gets the error page. Routes hold no try/except: the
one place that turns a refusal into a page is `back_to_the_form`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any, TypeVar

from flask_wtf import FlaskForm

from workflow.domain.errors import ConcurrencyConflict, DomainError, GuardFailed, InvalidInput, InvalidTransition

F = TypeVar("F", bound=Callable[..., Any])
RETURNED = (InvalidInput, GuardFailed, InvalidTransition, ConcurrencyConflict)


@dataclass(frozen=True)
class Refusal:
    """Why the action `action` was refused, for its form on the page."""

    action: str
    message: str
    field: str | None = None
    rule_id: str | None = None


def back_to_the_form(page: Callable[..., str], action_argument: str) -> Callable[[F], F]:
    """Wraps a POST route whose path names the action: a refusal re-renders `page` with it (422; 409 for a state)."""

    def decorate(view: F) -> F:
        @wraps(view)
        def posted(*args: Any, **kwargs: Any) -> Any:
            try:
                return view(*args, **kwargs)
            except RETURNED as error:
                refusal = _refusal(kwargs[action_argument], error)
                others = {name: value for name, value in kwargs.items() if name != action_argument}
                return page(*args, refusal=refusal, **others), _status(error)

        return posted  # type: ignore[return-value]

    return decorate


AT_FIELDS = ("reason", "deficiencies")  # the fields the action forms show; other refusals are shown above the form


def show_at_field(form: FlaskForm, refusal: Refusal) -> None:
    """Puts the message under the form's field it names, when the form has that field."""
    field = form._fields.get(refusal.field or "")
    if field is not None:
        field.errors = [refusal.message]


def _refusal(action: str, error: DomainError) -> Refusal:
    return Refusal(action, error.message, error.field, error.rule_id)


def _status(error: DomainError) -> int:
    return 409 if isinstance(error, InvalidTransition | ConcurrencyConflict) else 422
