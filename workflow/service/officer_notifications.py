"""Officers' notifications: new work in their queue, a claim reassigned, an extension to consider, a late follow-up.

A transition asks for a fan-out with ONE outbox row (`notify_officers`), whatever the number of officers, so the
request's transaction costs the same in a district of three officers or three hundred. The task (`fan_out`) finds
the district's officers of the role when it runs and writes one notification per officer, keyed by the event, its
object and the officer, so a re-delivered task writes nothing twice. The outbox row commits with the change or not
at all: a rolled-back change tells nobody. Two named officers (a reassigned claim) are told in the change's own
transaction, as applicants are (workflow/service/notify.py).
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
# The state an application enters -> whose queue it reaches and what they are told.
NEW_WORK: Mapping[str, tuple[str, Role]] = {
    AppState.SUBMITTED.value: ("work_to_accept", Role.ACCEPTOR),
    AppState.ACCEPTED.value: ("work_to_review", Role.REVIEWER),
}
# Entering review from acceptance: the decider's turn comes next (A6 -> A10/A11); back from the panel is not new.
TO_DECIDE = ("start_review", "work_to_decide", Role.DECIDER)


def ask_fan_out(
    uow: UnitOfWork, kind: str, district: str, roles: Sequence[Role], params: Mapping[str, str], key: str
) -> None:
    """One outbox row; `key` names the event and its object once (e.g. `application:7:v3`)."""
    check_params(kind, params)  # refused here, in the caller's transaction, not later in a worker
    payload = {"kind": kind, "district": district, "roles": [role.value for role in roles], "params": dict(params)}
    uow.outbox.add(FAN_OUT, {**payload, "key": f"{kind}:{key}"})


def tell_officers(uow: UnitOfWork, application: Application) -> None:
    """Read the application's unsaved transitions (call before `save` takes them) and ask for each notice due.

    The key carries the version being saved: the version guard lets one transaction save it, so a file submitted,
    corrected and submitted again reaches the acceptors twice, and each time once.
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


def fan_out(deps: Dependencies, payload: Mapping[str, Any]) -> int:
    """The `notify_officers` task: the officers of the district now, each told once. Returns how many were new."""
    with deps.uow() as uow:
        recipients = [
            user_id
            for role in payload["roles"]
            for user_id in uow.notifications.users_with_role(payload["district"], role)
        ]
        written = notify_keyed(uow, recipients, payload["kind"], payload["params"], payload["key"])
        uow.commit()
    return written
