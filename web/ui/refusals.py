"""A refused action returns the person to the page it was posted from: the message at its form, the input kept.

Only refusals of what was asked (bad input, a rule, a state that changed meanwhile) come back to the form; a role
that may not act, or an object the person may not see, still gets the error page. Routes hold no try/except: a
refusal becomes a page in `back_to_the_form` (or `back_to_the_page`, for a form whose action is not named by its
path); only a route that renders its own form after a POST (the guided new application, the pre-check) catches
`RETURNED` and places `refusal_of` itself.

The engine speaks English identifiers and sentences; people read the refusal in their language, from the catalog:
the rule's own sentence where the rule is known, else what kind of refusal it is. The engine's exact words stay
beside it as data (`detail`), since they name the numbers and dates that tripped the rule.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any, TypeVar

from flask import request
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from werkzeug.datastructures import ImmutableMultiDict, MultiDict

from web.security import REFUSES_AT_THE_FORM, refused_input
from workflow.domain import inputs
from workflow.domain.errors import ConcurrencyConflict, DomainError, GuardFailed, InvalidInput, InvalidTransition

F = TypeVar("F", bound=Callable[..., Any])
RETURNED = (InvalidInput, GuardFailed, InvalidTransition, ConcurrencyConflict)
RAISES_REFUSED_INPUT = "raises_refused_input"  # its view shows a refusal handed over before it reads the body


@dataclass(frozen=True)
class Refusal:
    """Why the action `action` was refused, for its form on the page."""

    action: str
    message: str
    field: str | None = None
    rule_id: str | None = None
    detail: str | None = None  # the engine's own words, when the message is the catalog's sentence for them

    def kept(self, name: str) -> str:
        """What was posted in `name`, to fill the refused form's field again."""
        return request.form.get(name, "")


def back_to_the_form(page: Callable[..., str], action_argument: str) -> Callable[[F], F]:
    """Wraps a POST route whose path names the action: a refusal re-renders `page` with it (422; 409 for a state)."""

    def page_of_the_object(*args: Any, refusal: Refusal, **kwargs: Any) -> str:
        return page(*args, refusal=refusal, **{name: v for name, v in kwargs.items() if name != action_argument})

    return back_to_the_page(page_of_the_object, lambda **kwargs: str(kwargs[action_argument]))


def back_to_the_page(page: Callable[..., str], action: Callable[..., str]) -> Callable[[F], F]:
    """Like `back_to_the_form`, for a route whose path names an object rather than an action.

    `action(**kwargs)` names the refused form (`opinion-7`: the opinion form of assessment 7); `page` gets the route's
    arguments and the refusal.
    """

    def decorate(view: F) -> F:
        @wraps(view)
        def posted(*args: Any, **kwargs: Any) -> Any:
            fields = request.form
            refused = refused_input()  # a control character in a posted field, or a body over the limit
            if refused is not None:
                # Refused when the view first reads a field: after its own checks of who may see the object.
                request.form = RefusedFields(refused)  # type: ignore[assignment]
            try:
                return view(*args, **kwargs)
            except RETURNED as error:
                request.form = shown(fields) if refused is not None else fields  # type: ignore[assignment]
                return page(*args, refusal=_refusal(action(**kwargs), error), **kwargs), _status(error)

        setattr(posted, REFUSES_AT_THE_FORM, True)
        setattr(posted, RAISES_REFUSED_INPUT, True)
        return posted  # type: ignore[return-value]

    return decorate


class RefusedFields:
    """The posted fields of a refused request, in place of `request.form`: reading any of them raises the refusal."""

    def __init__(self, refusal: InvalidInput) -> None:
        self._refusal = refusal

    def __getattr__(self, name: str) -> Any:
        raise self._refusal

    def __getitem__(self, key: str) -> Any:
        raise self._refusal

    def __contains__(self, key: object) -> bool:
        raise self._refusal

    def __iter__(self) -> Any:
        raise self._refusal

    def __len__(self) -> int:
        raise self._refusal


def shown(fields: MultiDict[str, str]) -> ImmutableMultiDict[str, str]:
    """What was posted, to fill the refused form again: a control character shown as the replacement character."""
    return ImmutableMultiDict(
        [
            (name, "".join("\ufffd" if inputs.bad_character(c) else c for c in value))
            for name, value in fields.items(multi=True)
        ]
    )


AT_FIELDS = ("reason", "deficiencies")  # the fields the action forms show; other refusals are shown above the form


def show_at_field(form: FlaskForm, refusal: Refusal) -> None:
    """Puts the message under the form's field it names, when the form has that field."""
    field = form._fields.get(refusal.field or "")
    if field is not None:
        field.errors = [refusal.message]


def refusal_of(action: str, error: DomainError) -> Refusal:
    """The refusal as the page shows it, for a route that catches the error itself (a form of several steps)."""
    return _refusal(action, error)


def _refusal(action: str, error: DomainError) -> Refusal:
    message, detail = explain(error)
    return Refusal(action, message, error.field, error.rule_id, detail)


# The rules a page's form can trip, in words (DOMAIN.md); a rule not listed is told by the kind of refusal.
RULES: dict[str, Any] = {
    "R10": _l("This applicant may not apply for these goods (R10)."),
    "R11": _l("You already hold another post on this file: acceptance, review and decision need three officers."),
    "R12": _l("Documents the rules require are missing: attach them, then submit again."),
    "R17": _l("The correction window has closed, so the application counts as accepted."),
    "R18": _l("A refusal to accept needs a written reason."),
    "R19": _l("The statutory clock starts at acceptance."),
    "R20": _l("The decision time limit may be extended only once."),
    "R21": _l("The decision clock is not in a state that allows this."),
    "R25": _l("A denial needs written reasons."),
    "R26": _l("This applicant is barred from applying for a year after false or concealed information."),
    "R32": _l("This grade needs more before it can be granted (R32): see the risk assessment and the documents."),
    "R61": _l("Too few eligible experts in the district to seat the panel."),
    "R62": _l(
        "The user laboratory does not match the goods (R9, R14, R62): see the screening, then ask for a correction or deny."  # noqa: E501
    ),
    "A8": _l("The risk assessment is closed; no more opinions are taken."),
    "D1": _l("Only the certificate holder or a port officer may declare against it."),
    "W4": _l("A single-use (grade A) certificate has been used; a second declaration is refused."),
    "W5": _l("The quantity is more than the remaining quantity of the certificate line."),
    "W7": _l("The certificate had expired on the declaration date."),
    "W10": _l("This write-off cannot be reversed (W10)."),
    "C7": _l("A cancellation needs its ground in writing, and a cancelled certificate takes no declaration (C7)."),
    "R43": _l(
        "Not possible as a change of this certificate (R43): only the particulars the district allows are amended, "
        "one request at a time, and a refusal says why."
    ),
}
FIELDS: dict[str, Any] = {  # input refused by a check the pages share with the API, which words it in English
    "file": _l("Upload a PDF, PNG or JPEG file that is not empty and at most 10 MB."),
    "declaration_no": _l("This declaration number was already filed with different content."),
    "version": _l("Someone else changed this meanwhile. Reload the page and try again."),
}
KINDS: tuple[tuple[type[DomainError], Any], ...] = (
    (ConcurrencyConflict, _l("Someone else changed this meanwhile. Reload the page and try again.")),
    (InvalidTransition, _l("This is not possible in the current state. Reload the page to see what changed.")),
    (GuardFailed, _l("A rule does not allow this now.")),
    (InvalidInput, _l("This value is not accepted.")),
)


def explain(error: DomainError) -> tuple[str, str | None]:
    """The refusal in the reader's language, and the engine's words when the sentence is not already theirs."""
    if _raised_by_the_pages(error):
        return error.message, None  # the pages raise with a message from the catalog
    kind = next((text for cls, text in KINDS if isinstance(error, cls)), _l("This was refused."))
    if isinstance(error, InvalidTransition | ConcurrencyConflict):
        # A state, not the rule: a transition's rule id names why the transition exists, not why it is refused now.
        return str(FIELDS.get(error.field or "") or kind), error.message
    return str(RULES.get(error.rule_id or "") or FIELDS.get(error.field or "") or kind), error.message


def _raised_by_the_pages(error: DomainError) -> bool:
    """Whether the innermost frame of the raise is a page module (web.ui), whose messages are translated."""
    trace = error.__traceback__
    while trace is not None and trace.tb_next is not None:
        trace = trace.tb_next
    return trace is not None and str(trace.tb_frame.f_globals.get("__name__", "")).startswith("web.ui.")


def _status(error: DomainError) -> int:
    return 409 if isinstance(error, InvalidTransition | ConcurrencyConflict) else 422
