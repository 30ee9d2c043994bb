"""Notifying users: an inbox row and an e-mail task per user, in the transaction of the change that caused them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from workflow.domain.errors import InvalidInput
from workflow.domain.model import Application
from workflow.service.ports import UnitOfWork

# Each kind the engine sends, with the params its zh and en templates (tasks/templates/mail) need.
KINDS: Mapping[str, frozenset[str]] = {
    "assessment_assigned": frozenset({"reference", "due_on"}),
    "assessment_reminder": frozenset({"reference", "due_on"}),
    "assessment_concluded": frozenset({"reference", "outcome"}),
    "assessment_overridden": frozenset({"reference", "reason"}),
    "clock_reminder": frozenset({"reference", "due_on", "percent"}),
    "clock_breach": frozenset({"reference", "due_on"}),
    "follow_up_overdue": frozenset({"declaration_no", "due_on"}),
    "inspection_withdrawn": frozenset({"declaration_no", "certificate_no"}),
    "correction_requested": frozenset({"reference", "deficiencies"}),
    "decision_made": frozenset({"reference", "decision"}),
    "application_accepted": frozenset({"reference"}),
    "application_not_accepted": frozenset({"reference", "reason"}),
    "application_granted": frozenset({"reference", "certificate_no", "valid_until"}),
    "application_denied": frozenset({"reference", "reason"}),
    "assessment_referred": frozenset({"reference", "expected_by"}),
}
SEND_EMAIL = "send_email"


def notify(uow: UnitOfWork, user_ids: Iterable[int], kind: str, params: Mapping[str, str]) -> list[int]:
    """Returns the new notification ids; the caller commits, so a rolled-back change notifies nobody."""
    check_params(kind, params)
    ids = []
    for user_id in dict.fromkeys(user_ids):  # a user named twice still gets one message
        notification_id = uow.notifications.add(user_id, kind, params)
        uow.outbox.add(SEND_EMAIL, {"notification_id": notification_id})
        ids.append(notification_id)
    return ids


def notify_applicant(uow: UnitOfWork, application: Application, kind: str, params: Mapping[str, str]) -> list[int]:
    """The applicant is every active user of the filing enterprise: whoever of them signs in next must see it."""
    recipients = uow.notifications.enterprise_users(application.enterprise_id)
    return notify(uow, recipients, kind, {"reference": application.reference, **params})


def deficiency_list(deficiencies: Iterable[str]) -> str:
    """One numbered line per deficiency: the notice lists them all at once (A2), so the mail does too."""
    return "\n".join(f"{number}. {item}" for number, item in enumerate(deficiencies, start=1))


def check_params(kind: str, params: Mapping[str, str]) -> None:
    """Refuse here what a template would fail on later in a worker, where nobody sees the error."""
    if kind not in KINDS:
        raise InvalidInput(f"unknown notification kind {kind!r}; known: {', '.join(sorted(KINDS))}", field="kind")
    missing = sorted(KINDS[kind] - params.keys())
    if missing:
        raise InvalidInput(f"{kind} needs the params {', '.join(missing)}", field="params")
    not_text = sorted(name for name, value in params.items() if not isinstance(value, str))
    if not_text:
        raise InvalidInput(f"{kind} params must be strings: {', '.join(not_text)}", field="params")
