"""Notifying users: an inbox row and an e-mail task per user, in the transaction of the change that caused them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from workflow.domain.declaration import Declaration
from workflow.domain.errors import InvalidInput
from workflow.domain.lifecycle import DeclState
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
    # the applicant, about its certificates and declarations
    "certificate_expiring": frozenset({"certificate_no", "valid_until", "days"}),
    "certificate_exhausted": frozenset({"certificate_no"}),
    # R43 / C7: a change request and its decision (workflow/service/certificate_changes.py)
    "certificate_cancellation_requested": frozenset({"certificate_no"}),
    "certificate_amendment_requested": frozenset({"certificate_no"}),
    "certificate_cancellation_approved": frozenset({"certificate_no", "reason"}),
    "certificate_amendment_approved": frozenset({"certificate_no", "reason"}),
    "certificate_change_refused": frozenset({"certificate_no", "reason"}),
    "certificate_cancelled": frozenset({"certificate_no"}),
    "declaration_held": frozenset({"declaration_no"}),
    "declaration_inspected": frozenset({"declaration_no"}),
    "declaration_lab_hold": frozenset({"declaration_no"}),
    "disposal_return": frozenset({"declaration_no", "reason"}),
    "disposal_destroy": frozenset({"declaration_no", "reason"}),
    "follow_up_due": frozenset({"declaration_no", "due_on"}),
    "follow_up_report_overdue": frozenset({"declaration_no", "due_on"}),
    # officers (workflow/service/officer_notifications.py)
    "work_to_accept": frozenset({"reference"}),
    "work_to_review": frozenset({"reference"}),
    "work_to_decide": frozenset({"reference"}),
    "claim_reassigned_to": frozenset({"reference"}),
    "claim_reassigned_away": frozenset({"reference"}),
    "extension_due": frozenset({"reference", "due_on"}),
    # biosafety capability (workflow/service/biosafety.py): a lab to verify, verified, lapsed under a certificate
    "lab_to_verify": frozenset({"lab"}),
    "lab_verified": frozenset({"lab"}),
    "lab_lapsed": frozenset({"certificate_no", "lab", "valid_until"}),
    # the enterprise's admins, about its credit (workflow/service/credit_events.py)
    "credit_changed": frozenset({"kind", "from_tier", "tier", "effective_from"}),
    "violation_recorded": frozenset({"case_no", "decided_on", "kind"}),
}
SEND_EMAIL = "send_email"
# The states in which a declaration's goods wait at the port -> what the holder is told: a hold for the officer
# (D2/W6), a physical inspection (D4), the laboratory (D5).
HELD: Mapping[str, str] = {
    DeclState.PORT_REVIEW.value: "declaration_held",
    DeclState.INSPECTION.value: "declaration_inspected",
    DeclState.LAB_HOLD.value: "declaration_lab_hold",
}
DISPOSAL_KINDS: Mapping[str, str] = {"return": "disposal_return", "destroy": "disposal_destroy"}


def notify(uow: UnitOfWork, user_ids: Iterable[int], kind: str, params: Mapping[str, str]) -> list[int]:
    """Returns the new notification ids; the caller commits, so a rolled-back change notifies nobody."""
    check_params(kind, params)
    ids = []
    for user_id in dict.fromkeys(user_ids):  # a user named twice still gets one message
        notification_id = uow.notifications.add(user_id, kind, params)
        uow.outbox.add(SEND_EMAIL, {"notification_id": notification_id})
        ids.append(notification_id)
    return ids


def notify_applicant(uow: UnitOfWork, application: Application, kind: str, params: Mapping[str, str]) -> None:
    """The applicant is every active user of the filing enterprise: whoever of them signs in next must see it."""
    notify_enterprise(uow, application.enterprise_id, kind, {"reference": application.reference, **params})


def notify_enterprise(uow: UnitOfWork, enterprise_id: int, kind: str, params: Mapping[str, str]) -> None:
    """Every active user of the enterprise (about its file, certificate or declaration), each with an e-mail task.

    The users are found by the statement that writes their notifications and their e-mail tasks, however many they
    are: on PostgreSQL the commit's own, so telling them costs no round trip.
    """
    check_params(kind, params)
    uow.notifications.add_for_enterprise(enterprise_id, kind, params, SEND_EMAIL)


def notify_keyed(uow: UnitOfWork, user_ids: Iterable[int], kind: str, params: Mapping[str, str], key: str) -> int:
    """Once per (key, user) however often it is asked: for tasks and sweeps that may run again. Returns how many new.

    The key names the event and its object (`work_to_accept:application:7:v3`); the user's id completes it. A
    concurrent run writing the same row loses on the unique index and its transaction is retried by the task.
    """
    check_params(kind, params)
    wanted = {user_id: f"{key}:{user_id}" for user_id in dict.fromkeys(user_ids)}
    taken = uow.notifications.keys_taken(list(wanted.values()))
    fresh = [user_id for user_id, user_key in wanted.items() if user_key not in taken]
    for user_id in fresh:
        notification_id = uow.notifications.add(user_id, kind, params, wanted[user_id])
        uow.outbox.add(SEND_EMAIL, {"notification_id": notification_id})
    return len(fresh)


def tell_holders(uow: UnitOfWork, declarations: Iterable[Declaration]) -> None:
    """The holder of each declaration that its unsaved transitions hold at the port or order disposed of.

    Call before the declarations are saved (saving takes the transitions). Most declarations are released on the
    documents and cost nothing here; a held one's notices ride in the commit's statement, which finds the
    enterprise's users as it writes them (`notify_enterprise`): no statement of their own.
    """
    for declaration in declarations:
        for kind, params in _holder_notices(declaration):
            notify_enterprise(
                uow, declaration.enterprise_id, kind, {"declaration_no": declaration.declaration_no, **params}
            )


def _holder_notices(declaration: Declaration) -> Iterable[tuple[str, Mapping[str, str]]]:
    for record in declaration.pending:
        if record.from_state == record.to_state:
            continue
        if record.to_state in HELD:
            yield HELD[record.to_state], {}
        elif record.to_state == DeclState.DISPOSAL_ORDERED.value and declaration.disposal is not None:
            yield disposal_notice(declaration.disposal.value, record.reason)


def disposal_notice(disposal: str, reason: str) -> tuple[str, Mapping[str, str]]:
    """R49 / W6 / R56: return or destruction, each its own text, so no code reaches the reader."""
    return DISPOSAL_KINDS[disposal], {"reason": reason}


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
