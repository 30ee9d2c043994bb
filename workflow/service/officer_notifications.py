"""Officers' notifications: new work in their queue, a claim reassigned, an extension to consider, a late follow-up.

A transition asks for a fan-out with ONE outbox row (`notify_officers`), whatever the number of officers, so the
request's transaction costs the same in a district of three officers or three hundred. The task (`fan_out`) finds
the district's officers of the role when it runs and writes one notification per officer, keyed by the event, its
object and the officer, so a re-delivered task writes nothing twice. The outbox row commits with the change or not
at all: a rolled-back change tells nobody. Two named officers (a reassigned claim) are told in the change's own
transaction, as applicants are (workflow/service/notify.py).

A submission reaches the acceptors in its screening's transaction instead (`tell_acceptors`): the screening is a
task already, runs once per submission, and tells them of a file whose screening facts they can read; a second
task per submission only to fan out would cost the workers as much as the screening itself (#15).
The queue notices (work to accept, review, decide) are inbox-only: no e-mail copy (docs/notifications.md).
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
# The state an application enters -> whose queue it reaches and what they are told. SUBMITTED is told by the
# screening (`tell_acceptors`), not at the transition.
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
    """Read the application's unsaved transitions (call before `save` takes them) and ask for each notice due.

    The key carries the version being saved: the version guard lets one transaction save it, so each time a file
    enters a queue its officers are told once. A submission is told by its screening (`tell_acceptors`).
    """
    params = {"reference": application.reference}
    for record in application.pending:
        key = f"application:{application.id}:v{application.version}:{record.trigger}"
        if record.from_state != record.to_state and record.to_state in NEW_WORK:
            kind, role = NEW_WORK[record.to_state]
            ask_fan_out(uow, kind, application.district, (role,), params, key)
        elif record.trigger == TO_DECIDE[0]:
            ask_fan_out(uow, TO_DECIDE[1], application.district, (TO_DECIDE[2],), params, key)
        elif record.trigger == "reassign":
            _tell_reassigned(uow, record.actor.user_id, record.inputs, params)


def _tell_reassigned(uow: UnitOfWork, by: int | None, inputs: Mapping[str, Any], params: Mapping[str, str]) -> None:
    """The officer who got the file and the one who lost it; never the head who did it, who knows."""
    got, lost = inputs.get("to"), inputs.get("from")
    if got is not None and got != lost and got != by:
        notify(uow, [got], "claim_reassigned_to", params)
    if lost is not None and lost != got and lost != by:
        notify(uow, [lost], "claim_reassigned_away", params)


def tell_acceptors(uow: UnitOfWork, application: Application) -> int:
    """In the screening's transaction: the district's acceptors, of a file still waiting for them. Returns how many.

    No lookup of keys already taken: the screening runs once per submission (its version guard and
    `needs_screening`), so its own notices cannot exist yet; the unique key still guards the rows. The key carries
    the version screened, which each submission changes, so a file submitted again reaches them again.
    """
    if application.state != AppState.SUBMITTED.value:
        return 0  # accepted (or closed) before its screening ran: nothing waits in the acceptors' queue
    kind, role = TO_ACCEPT
    recipients = uow.notifications.users_with_role(application.district, role)
    key = f"{kind}:application:{application.id}:v{application.version}:screen"
    return _inbox_only(uow, recipients, kind, {"reference": application.reference}, key, set())


def fan_out(deps: Dependencies, payload: Mapping[str, Any]) -> int:
    """The `notify_officers` task: the officers of the district now, each told once. Returns how many were new."""
    with deps.uow() as uow:
        recipients = [
            user_id
            for role in payload["roles"]
            for user_id in uow.notifications.users_with_role(payload["district"], role)
        ]
        kind, params, key = payload["kind"], payload["params"], payload["key"]
        if kind in INBOX_ONLY:
            keys = [f"{key}:{user_id}" for user_id in dict.fromkeys(recipients)]
            written = _inbox_only(uow, recipients, kind, params, key, uow.notifications.keys_taken(keys))
        else:
            written = notify_keyed(uow, recipients, kind, params, key)
        uow.commit()
    return written


def _inbox_only(
    uow: UnitOfWork, user_ids: Sequence[int], kind: str, params: Mapping[str, str], key: str, taken: set[str]
) -> int:
    """Keyed inbox rows, each marked as having no e-mail copy (so no mail is reported pending); the caller commits."""
    check_params(kind, params)
    fresh = {user_id: f"{key}:{user_id}" for user_id in dict.fromkeys(user_ids) if f"{key}:{user_id}" not in taken}
    uow.notifications.add_inbox_only(fresh, kind, params, NO_EMAIL)  # one INSERT for every officer told
    return len(fresh)
