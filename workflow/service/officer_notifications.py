"""Officers' notifications: new work in their queue, a claim reassigned, an extension to consider, a late follow-up.

A transition asks for a fan-out with ONE outbox row (`notify_officers`), whatever the number of officers, so the
request's transaction costs the same in a district of three officers or three hundred. The task (`fan_out`) finds
the district's officers of the role when it runs and writes one notification per officer, keyed by the event, its
object and the officer, so a re-delivered task writes nothing twice. The outbox row commits with the change or not
at all: a rolled-back change tells nobody. Two named officers (a reassigned claim) are told in the change's own
transaction, as applicants are (workflow/service/notify.py).

The queue notices (work to accept, review, decide) are inbox-only, with no e-mail copy (docs/notifications.md), and
are written in the transaction of the change that fills the queue: one INSERT … SELECT of the district's officers of
the role, a part of the commit's own statement on PostgreSQL, so the notices cost that transaction no statement
however many officers there are, and no task per file is published and run only to fan out (#15). A submission
reaches the acceptors in its screening's transaction (`tell_acceptors`): the screening is a task already, runs once
per submission, and tells them of a file whose screening facts they can read. An acceptance reaches the reviewers,
and the start of a review the deciders, in its own transaction (`tell_officers`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from workflow.domain.actors import Role
from workflow.domain.lifecycle import AppState
from workflow.domain.model import Application
from workflow.service.notify import check_params, notify, notify_keyed
from workflow.service.ports import Dependencies, UnitOfWork

FAN_OUT = "notify_officers"
# The state an application enters -> whose queue it reaches and what they are told, in the change's transaction.
# SUBMITTED is told by the screening (`tell_acceptors`), not at the transition.
NEW_WORK: Mapping[str, tuple[str, Role]] = {
    AppState.ACCEPTED.value: ("work_to_review", Role.REVIEWER),
}
TO_ACCEPT = ("work_to_accept", Role.ACCEPTOR)
# Entering review from acceptance: the decider's turn comes next (A6 -> A10/A11); back from the panel is not new.
TO_DECIDE = ("start_review", "work_to_decide", Role.DECIDER)
# Notices of new work in a queue: the inbox and the queue page tell them; an e-mail per file to every officer of the
# role would bury the mails addressed to one person (a claim reassigned, a clock about to breach).
INBOX_ONLY = frozenset({TO_ACCEPT[0], NEW_WORK[AppState.ACCEPTED.value][0], TO_DECIDE[1]})
NO_EMAIL = "queue notices are inbox-only"


def ask_fan_out(
    uow: UnitOfWork, kind: str, district: str, roles: Sequence[Role], params: Mapping[str, str], key: str
) -> None:
    """One outbox row; `key` names the event and its object once (e.g. `application:7:v3`)."""
    check_params(kind, params)  # refused here, in the caller's transaction, not later in a worker
    payload = {"kind": kind, "district": district, "roles": [role.value for role in roles], "params": dict(params)}
    uow.outbox.add(FAN_OUT, {**payload, "key": f"{kind}:{key}"})


def tell_officers(uow: UnitOfWork, application: Application) -> None:
    """Read the application's unsaved transitions (call before `save` takes them) and write each notice due.

    The key carries the version being saved: the version guard lets one transaction save it, so each time a file
    enters a queue its officers are told once; a concurrent copy of the change that loses finds the keys taken,
    writes nothing and fails its guard. A submission is told by its screening (`tell_acceptors`).
    """
    params = {"reference": application.reference}
    for record in application.pending:
        key = f"application:{application.id}:v{application.version}:{record.trigger}"
        if record.from_state != record.to_state and record.to_state in NEW_WORK:
            kind, role = NEW_WORK[record.to_state]
            _queue_at_commit(uow, application.district, role, kind, params, f"{kind}:{key}")
        elif record.trigger == TO_DECIDE[0]:
            _queue_at_commit(uow, application.district, TO_DECIDE[2], TO_DECIDE[1], params, f"{TO_DECIDE[1]}:{key}")
        elif record.trigger == "reassign":
            _tell_reassigned(uow, record.actor.user_id, record.inputs, params)


def _tell_reassigned(uow: UnitOfWork, by: int | None, inputs: Mapping[str, Any], params: Mapping[str, str]) -> None:
    """The officer who got the file and the one who lost it; never the head who did it, who knows."""
    got, lost = inputs.get("to"), inputs.get("from")
    if got is not None and got != lost and got != by:
        notify(uow, [got], "claim_reassigned_to", params)
    if lost is not None and lost != got and lost != by:
        notify(uow, [lost], "claim_reassigned_away", params)


def tell_acceptors(uow: UnitOfWork, application: Application) -> None:
    """In the screening's transaction: the district's acceptors, of a file still waiting for them.

    The screening runs once per submission (its version guard and `needs_screening`), so its own notices cannot
    exist yet; the unique key still guards the rows (a concurrent copy writes none and loses its guard). The key
    carries the version screened, which each submission changes, so a file submitted again reaches them again.
    """
    if application.state != AppState.SUBMITTED.value:
        return  # accepted (or closed) before its screening ran: nothing waits in the acceptors' queue
    kind, role = TO_ACCEPT
    key = f"{kind}:application:{application.id}:v{application.version}:screen"
    _queue_at_commit(uow, application.district, role, kind, {"reference": application.reference}, key)


def _queue_at_commit(
    uow: UnitOfWork, district: str, role: Role, kind: str, params: Mapping[str, str], key: str
) -> None:
    """As `_tell_queue`, written with the commit's statement where the store can: a step needs no count back."""
    check_params(kind, params)
    uow.notifications.add_inbox_only_to_role_at_commit(district, role.value, kind, params, key, NO_EMAIL)


def _tell_queue(uow: UnitOfWork, district: str, role: Role, kind: str, params: Mapping[str, str], key: str) -> int:
    """The district's officers of the role, inbox-only, now: one statement for them all. Returns how many were new.

    `key` names the event and its object (`work_to_review:application:7:v3:accept`); each officer's id completes it.
    """
    check_params(kind, params)
    return uow.notifications.add_inbox_only_to_role(district, role.value, kind, params, key, NO_EMAIL)


def fan_out(deps: Dependencies, payload: Mapping[str, Any]) -> int:
    """The `notify_officers` task: the officers of the district now, each told once. Returns how many were new."""
    with deps.uow() as uow:
        kind, params, key, district = payload["kind"], payload["params"], payload["key"], payload["district"]
        if kind in INBOX_ONLY:  # a queue notice asked for by a row written before its step wrote them itself (#15)
            written = sum(_tell_queue(uow, district, Role(role), kind, params, key) for role in payload["roles"])
        else:
            recipients = [
                user for role in payload["roles"] for user in uow.notifications.users_with_role(district, role)
            ]
            written = notify_keyed(uow, recipients, kind, params, key)
        uow.commit()
    return written
