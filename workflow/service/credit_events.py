"""Credit events (R68–R74): officers record violation cases and credit changes; the daily sweep restores (R69).

Each is one transaction: the enterprise locked, the officer's right asked again against it (the same predicate every
door asks), the dated record appended and the previous one closed, the audit event and the enterprise admins'
notifications written with it. The sweep reads the restoration rules from the district's policy profile, as data.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from workflow.domain.actors import Actor, Role
from workflow.domain.credit_events import (
    ApplyCreditRestorations,
    RecordCreditChange,
    RecordViolationCase,
    plan_change,
    restoration_due,
)
from workflow.domain.errors import InvalidInput, PermissionDenied
from workflow.domain.permissions import Action, may_record_credit
from workflow.domain.policy import Policy
from workflow.service.notify import notify
from workflow.service.ports import CreditEnterprise, Dependencies, UnitOfWork

RESTORATION_BATCH = 500  # enterprises locked per transaction of the sweep


def record_credit_change(cmd: RecordCreditChange, deps: Dependencies) -> int:
    """A downgrade, discredit, restoration or certification from its effective date; returns the change's id."""
    with deps.uow() as uow:
        enterprise = _authorized(uow, cmd.actor, Action.RECORD_CREDIT_CHANGE, cmd.enterprise_id)
        if cmd.case_id is not None:
            uow.credit.require_case(cmd.case_id, enterprise.id)
        today = deps.clock.today(enterprise.district)
        policy = deps.policies.policy_for(enterprise.district, cmd.effective_from)
        change_id = _apply(uow, policy, enterprise, cmd, today)
        uow.commit()
        return change_id


def record_violation_case(cmd: RecordViolationCase, deps: Dependencies) -> int:
    """R74: the case's reference (never a fine); it restarts the restoration period (R69). Returns its id."""
    with deps.uow() as uow:
        enterprise = _authorized(uow, cmd.actor, Action.RECORD_VIOLATION_CASE, cmd.enterprise_id)
        if cmd.decided_on > deps.clock.today(enterprise.district):
            raise InvalidInput("a case is recorded once decided: its date cannot be in the future", "R74", "decided_on")
        if not cmd.case_no.strip():
            raise InvalidInput("give the case's reference number", "R74", "case_no")
        case_id = uow.credit.add_case(cmd, enterprise)
        params = {"case_no": cmd.case_no, "decided_on": cmd.decided_on.isoformat(), "kind": cmd.kind.value}
        notify(uow, uow.credit.admins(enterprise.id), "violation_recorded", params)
        uow.commit()
        return case_id


def apply_credit_restorations(cmd: ApplyCreditRestorations, deps: Dependencies) -> int:
    """The daily sweep (R69, R71): idempotent, as a restored enterprise's discredited record is closed by it.

    Batches by enterprise id, one transaction each: enterprises not yet due never crowd out those that are.
    """
    applied = 0
    for today, scope in deps.clock.local_days():
        after_id, more = 0, True
        while more:
            with deps.uow() as uow:
                batch = uow.credit.restoration_candidates(scope, after_id, RESTORATION_BATCH)
                applied += sum(_restore(uow, deps, enterprise, today) for enterprise in batch)
                uow.commit()
            after_id, more = (batch[-1].id if batch else after_id), len(batch) == RESTORATION_BATCH
    return applied


def _restore(uow: UnitOfWork, deps: Dependencies, enterprise: CreditEnterprise, today: date) -> bool:
    policy = deps.policies.policy_for(enterprise.district, today)
    cases = uow.credit.case_dates(enterprise.id)
    due = restoration_due(enterprise.id, uow.credit.history(enterprise.id), cases, today, policy)
    if due is not None:
        _apply(uow, policy, enterprise, due, today)
    return due is not None


def _apply(uow: UnitOfWork, policy: Policy, enterprise: CreditEnterprise, cmd: RecordCreditChange, today: date) -> int:
    plan = plan_change(uow.credit.history(enterprise.id), cmd, today, policy)
    change_id = uow.credit.apply(plan, cmd, enterprise, policy)
    params = {
        "kind": cmd.kind.value,
        "from_tier": plan.before.value,
        "tier": plan.opens.tier.value,
        "effective_from": plan.opens.effective_from.isoformat(),
    }
    notify(uow, uow.credit.admins(enterprise.id), "credit_changed", params)
    return change_id


def _authorized(uow: UnitOfWork, actor: Actor, action: Action, enterprise_id: int) -> CreditEnterprise:
    """Lock the enterprise, then ask the doors' question again against what is really there."""
    enterprise = uow.credit.lock_enterprise(enterprise_id)
    if actor.role is Role.SYSTEM or not may_record_credit(actor, action, enterprise):
        raise PermissionDenied(f"{action.value} is for the officers of district {enterprise.district}", "R72")
    return enterprise


HANDLERS: dict[type[Any], Callable[[Any, Dependencies], Any]] = {
    RecordCreditChange: record_credit_change,
    RecordViolationCase: record_violation_case,
    ApplyCreditRestorations: apply_credit_restorations,
}
