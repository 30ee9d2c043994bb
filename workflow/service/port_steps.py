"""The port officer's steps after a declaration: holds (W6), inspection and laboratory (D4–D7), disposal, withdrawal.

Every handler is one transaction under the certificate's row lock: the declaration's state, its audit events, the
guarded balance statements and their ledger entries commit together or not at all. Requests carrying an
idempotency key replay their first result and write nothing (workflow/service/idempotency.py).
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from workflow.domain import commands as c
from workflow.domain.actors import Actor, Role
from workflow.domain.declaration import Declaration
from workflow.domain.errors import GuardFailed, InvalidInput, NotFound, PermissionDenied
from workflow.domain.ledger import CertificateFacts, EntryKind, check_declaration
from workflow.service.idempotency import Outcome, run_idempotent
from workflow.service.inspection_draws import leave_inspection_pending
from workflow.service.notify import disposal_notice, notify_enterprise, tell_holders
from workflow.service.ports import Dependencies, UnitOfWork
from workflow.service.quota import (
    claim_single_use,
    draw_all,
    exhaust_if_used_up,
    release_reservation,
    settle_reservation,
)
from workflow.service.routing import declaration_view, mark_released, route_declaration


def resolve_hold(cmd: c.ResolveHold, deps: Dependencies) -> dict[str, Any]:
    """W6: split releases the in-quota part (the excess gets a disposal notice); reject refuses it all."""

    def work(uow: UnitOfWork) -> Outcome:
        declaration, certificate = _load(uow, cmd)
        require_port_officer(cmd.actor, certificate)
        if not cmd.split:
            declaration.reject(cmd.actor, cmd.reason)
            return _save(uow, declaration)
        _split(uow, deps, cmd, declaration, certificate)
        return Outcome(declaration_view(declaration))

    return run_idempotent(deps, cmd, cmd.idempotency_key, work)


def _split(
    uow: UnitOfWork, deps: Dependencies, cmd: c.ResolveHold, declaration: Declaration, certificate: CertificateFacts
) -> None:
    failures = check_declaration(certificate, declaration.declared_on, certificate.direction, [])
    if failures:
        raise GuardFailed(f"cannot release against this certificate: {failures[0].reason}", rule_id=failures[0].rule_id)
    drawn = {
        item.line_no: min(item.qty, certificate.lines[item.line_no].remaining)
        for item in declaration.lines
        if item.line_no in certificate.lines
    }
    drawn = {line: qty for line, qty in drawn.items() if qty > 0}
    if not drawn:
        raise GuardFailed("nothing of the declared goods is within the remaining quota; reject it", rule_id="W5")
    excess = any(drawn.get(item.line_no, Decimal(0)) < item.qty for item in declaration.lines)
    declaration.clear_hold(cmd.actor, cmd.reason)
    declaration.drawn = drawn
    declaration.disposal = cmd.disposal if excess else None
    route_declaration(uow, deps, certificate, declaration)
    claim_single_use(uow, certificate)
    tell_holders(uow, [declaration])  # drawn for inspection after the hold
    if declaration.disposal is not None:  # W6: the excess over the quota is returned or destroyed
        kind, params = disposal_notice(declaration.disposal.value, cmd.reason)
        notify_enterprise(
            uow, declaration.enterprise_id, kind, {**params, "declaration_no": declaration.declaration_no}
        )
    uow.declarations.save(declaration)
    if draw_all(uow, [(certificate, declaration)], cmd.actor):
        exhaust_if_used_up(uow, certificate)  # _load holds the exclusive lock


def record_inspection(cmd: c.RecordInspection, deps: Dependencies) -> dict[str, Any]:
    """D4/D5/D7: pass releases and commits; sample holds for the laboratory; fail orders disposal."""

    def work(uow: UnitOfWork) -> Outcome:
        declaration, certificate = _load(uow, cmd)
        require_port_officer(cmd.actor, certificate)
        if cmd.outcome == "pass":
            declaration.pass_inspection(cmd.actor)
            _commit_release(uow, deps, declaration, certificate, cmd.actor)
        elif cmd.outcome == "sample":
            declaration.sample(cmd.actor, cmd.reason)
        elif cmd.outcome == "fail":
            _fail(uow, deps, declaration, certificate, cmd)
        else:
            raise InvalidInput("outcome is one of pass, sample, fail", field="outcome")
        return _save(uow, declaration)

    return run_idempotent(deps, cmd, cmd.idempotency_key, work)


def record_lab_result(cmd: c.RecordLabResult, deps: Dependencies) -> dict[str, Any]:
    """R47–R49: goods held for the laboratory are released only when they pass."""

    def work(uow: UnitOfWork) -> Outcome:
        declaration, certificate = _load(uow, cmd)
        require_port_officer(cmd.actor, certificate)
        if cmd.passed:
            declaration.lab_pass(cmd.actor)
            _commit_release(uow, deps, declaration, certificate, cmd.actor)
        else:
            _fail(uow, deps, declaration, certificate, cmd)
        return _save(uow, declaration)

    return run_idempotent(deps, cmd, cmd.idempotency_key, work)


def _fail(
    uow: UnitOfWork, deps: Dependencies, declaration: Declaration, certificate: CertificateFacts, cmd: Any
) -> None:
    if cmd.disposal is None:
        raise InvalidInput("a failed inspection orders return or destruction", field="disposal")
    declaration.fail(cmd.actor, cmd.disposal, cmd.reason)
    release_reservation(uow, deps, declaration, certificate, cmd.actor, cmd.reason, rule_id="D7")


def complete_disposal(cmd: c.CompleteDisposal, deps: Dependencies) -> dict[str, Any]:
    def work(uow: UnitOfWork) -> Outcome:
        declaration, certificate = _load(uow, cmd)
        require_port_officer(cmd.actor, certificate)
        declaration.dispose(cmd.actor)
        return _save(uow, declaration)

    return run_idempotent(deps, cmd, cmd.idempotency_key, work)


def withdraw_declaration(cmd: c.WithdrawDeclaration, deps: Dependencies) -> dict[str, Any]:
    """W10 before release: the declaration is deleted (删单) and its reservation released automatically."""

    def work(uow: UnitOfWork) -> Outcome:
        declaration, certificate = _load(uow, cmd)
        if cmd.actor.role is Role.APPLICANT and cmd.actor.enterprise_id != certificate.enterprise_id:
            raise PermissionDenied("only the holder or a port officer withdraws a declaration", rule_id="W10")
        if cmd.actor.role is not Role.APPLICANT:
            require_port_officer(cmd.actor, certificate)
        declaration.withdraw(cmd.actor, cmd.reason)
        reason = cmd.reason or "declaration withdrawn"
        release_reservation(uow, deps, declaration, certificate, cmd.actor, reason, rule_id="W10")
        leave_inspection_pending(uow, deps, declaration, certificate, cmd.actor)  # E4
        return _save(uow, declaration)

    return run_idempotent(deps, cmd, cmd.idempotency_key, work)


def _commit_release(
    uow: UnitOfWork, deps: Dependencies, declaration: Declaration, certificate: CertificateFacts, actor: Actor
) -> None:
    """D6: the reservation becomes a committed write-off (W7: even if the certificate expired meanwhile)."""
    settle_reservation(uow, declaration, certificate, actor, EntryKind.COMMIT)
    mark_released(uow, deps, certificate, declaration)
    exhaust_if_used_up(uow, certificate)


def _load(uow: UnitOfWork, cmd: c.DeclarationCommand) -> tuple[Declaration, CertificateFacts]:
    """The declaration and its certificate, the certificate's row locked first (the one lock order everywhere)."""
    declaration = uow.declarations.get(cmd.declaration_id)
    certificate = uow.ledger.lock_certificate_by_id(declaration.certificate_id)
    return uow.declarations.get(cmd.declaration_id), certificate  # re-read under the lock


def _save(uow: UnitOfWork, declaration: Declaration) -> Outcome:
    tell_holders(uow, [declaration])  # held for the laboratory, or disposal ordered: the holder is told
    uow.declarations.save(declaration)
    return Outcome(declaration_view(declaration))


def require_port_officer(actor: Actor, certificate: CertificateFacts) -> None:
    if actor.role is not Role.PORT_OFFICER:
        raise PermissionDenied("port decisions are a port officer's", rule_id="D4")
    if actor.district is not None and actor.district != certificate.district:
        raise NotFound("no such declaration in your district")


HANDLERS: dict[type[c.Command], Callable[[Any, Dependencies], Any]] = {
    c.ResolveHold: resolve_hold,
    c.RecordInspection: record_inspection,
    c.RecordLabResult: record_lab_result,
    c.CompleteDisposal: complete_disposal,
    c.WithdrawDeclaration: withdraw_declaration,
}
