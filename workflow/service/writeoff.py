"""One application, many write-offs: declarations drawn against certificate lines, port outcomes, reversals.

Every handler is one transaction under the certificate's row lock: the declaration's state, its audit events, the
guarded balance statements and their ledger entries commit together or not at all. Requests carrying an
idempotency key replay their first result and write nothing (workflow/service/idempotency.py).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta
from decimal import Decimal
from typing import Any

from workflow.domain import commands as c
from workflow.domain import rules
from workflow.domain.actors import SYSTEM_ACTOR, Actor, Role
from workflow.domain.credit import CreditRecord, credit_as_of
from workflow.domain.declaration import Declaration
from workflow.domain.errors import (
    ConcurrencyConflict,
    GuardFailed,
    InvalidInput,
    NotFound,
    PermissionDenied,
    RetryableConflict,
)
from workflow.domain.goods import WriteOffMode
from workflow.domain.ledger import (
    CertificateFacts,
    EntryKind,
    check_declaration,
    exhausts,
)
from workflow.domain.lifecycle import CertState
from workflow.service.idempotency import Outcome, run_idempotent
from workflow.service.inspection_draws import draw_route, leave_inspection_pending
from workflow.service.ports import Dependencies, UnitOfWork
from workflow.service.receipts import Posting, record_entries

ZERO = Decimal(0)


# -- declaring and writing off --------------------------------------------------------------------------------------


def route_declaration(
    uow: UnitOfWork,
    deps: Dependencies,
    certificate: CertificateFacts,
    declaration: Declaration,
    credit_records: Sequence[CreditRecord] | None = None,
) -> None:
    """D3 / E1–E4: rate from grade × credit as of the declaration date, and a draw under the district's period key.

    An inspection a withdrawn declaration left pending on the same lines overrides the draw (E4).

    A batch passes the enterprise's credit records it has already read; alone, they are read here.
    """
    policy = deps.policies.policy_for(certificate.district, declaration.declared_on)
    if credit_records is None:
        credit_records = uow.enterprises.credit_records(certificate.enterprise_id)
    credit = credit_as_of(credit_records, declaration.declared_on, policy)
    rate = rules.inspection_rate(certificate.grade, credit.tier, policy)
    drawn = draw_route(uow, deps, certificate, declaration, rate.result, policy)
    inherited = drawn["inherited_from"]
    route = {
        **drawn,
        "grade": certificate.grade.value,
        "credit_tier": credit.tier.value,
        "credit_regime": credit.regime.value,
        "policy_id": policy.id,
        "policy_hash": policy.content_hash,
        "rule_ids": list(rate.rule_ids) + (["E4"] if inherited else []),
        "reason": rate.reason
        + (f"; E4: inspected for withdrawn declaration(s) {', '.join(inherited)}" if inherited else ""),
    }
    declaration.route_by(route, drawn["inspected"])
    if not drawn["inspected"]:
        _mark_released(uow, deps, certificate, declaration)


def draw_all(
    uow: UnitOfWork, deps: Dependencies, drawings: Sequence[tuple[CertificateFacts, Declaration]], actor: Actor
) -> set[int]:
    """Reserve what each declaration drew, committing at once where its route released the goods.

    One guarded statement for all the lines drawn on. A line whose quota went to a concurrent write-off sends the
    whole request round again, where D2 decides on fresh balances. Returns the certificates a committed draw may have
    used up (C3).
    """
    changes: dict[int, tuple[Decimal, Decimal]] = {}
    postings = []
    for certificate, declaration in drawings:
        released = declaration.released_on is not None  # released, possibly already awaiting follow-up (D8)
        kinds = (EntryKind.RESERVE, EntryKind.COMMIT) if released else (EntryKind.RESERVE,)
        for line_no, qty in declaration.drawn.items():
            line = certificate.lines[line_no]
            reserve, commit = changes.get(line.line_id, (ZERO, ZERO))
            changes[line.line_id] = (reserve, commit + qty) if released else (reserve + qty, commit)
            postings += [
                Posting(
                    certificate,
                    ledger_row(kind, certificate, line.line_id, qty, line.unit, actor, declaration),
                    declaration.declaration_no,
                )
                for kind in kinds
            ]
    left = uow.ledger.draw_many(changes)
    if left is None:
        raise RetryableConflict("a line's remaining quantity was taken concurrently")
    record_entries(uow, deps, postings)
    return {
        certificate.id
        for certificate, declaration in drawings
        if declaration.released_on is not None and _may_use_up(certificate, declaration, left)
    }


def _may_use_up(certificate: CertificateFacts, declaration: Declaration, left: dict[int, Decimal]) -> bool:
    single = certificate.write_off_mode is WriteOffMode.SINGLE
    return single or any(left[certificate.lines[line_no].line_id] == 0 for line_no in declaration.drawn)


def exhaust_checks(deps: Dependencies, certificate_ids: set[int]) -> None:
    for certificate_id in sorted(certificate_ids):
        _exhaust_check(deps, certificate_id)


def _exhaust_check(deps: Dependencies, certificate_id: int) -> None:
    """C3 after a write-off that used a line up, in a short transaction under the exclusive lock.

    Two shipments emptying two lines at once cannot both miss it; the used-up sweep re-checks if this never ran.
    """
    with deps.uow() as uow:
        exhaust_if_used_up(uow, uow.ledger.lock_certificate_by_id(certificate_id))
        uow.commit()


def ledger_row(
    kind: EntryKind,
    certificate: CertificateFacts,
    line_id: int,
    qty: Decimal,
    unit: str,
    actor: Actor,
    declaration: Declaration | None,
    **extra: Any,
) -> dict[str, Any]:
    """W12: one ledger row (who, what, how much, in which unit, why, under which policy)."""
    return {
        "certificate_id": certificate.id,
        "certificate_line_id": line_id,
        "declaration_id": declaration.id if declaration else None,
        "kind": kind.value,
        "qty": qty,
        "unit": unit,
        "actor_id": actor.user_id,
        "actor_role": actor.role.value,
        "policy_id": certificate.policy_id,
        **extra,
    }


def _mark_released(
    uow: UnitOfWork, deps: Dependencies, certificate: CertificateFacts, declaration: Declaration
) -> None:
    """D6 / D8: released today; entry (and exit) goods of a follow-up grade await the user's report (R53–R54)."""
    today = deps.clock.today()
    declaration.mark_released(today)
    if certificate.follow_up:
        policy = deps.policies.policy_for(certificate.district, declaration.declared_on)
        declaration.await_follow_up(today + timedelta(days=policy.follow_up.report_window_days))


def exhaust_if_used_up(uow: UnitOfWork, certificate: CertificateFacts, reason: str = "") -> None:
    """C3 (caller holds the exclusive lock): grade A after its first commit (W4); B/C/D once every line is used up.

    Used up is nothing remaining and nothing reserved, read from the lines as this transaction left them.
    """
    if certificate.state is not CertState.ACTIVE:
        return
    if exhausts(certificate.write_off_mode, uow.ledger.line_balances(certificate.id)):
        aggregate = uow.certificates.get(certificate.id)
        aggregate.fire(
            "exhaust",
            SYSTEM_ACTOR,
            reason=reason,
            rule_ids=("C3", "W4") if certificate.write_off_mode is WriteOffMode.SINGLE else ("C3",),
        )
        uow.certificates.save(aggregate)


def reactivate_if_quota_back(
    uow: UnitOfWork, deps: Dependencies, certificate: CertificateFacts, actor: Actor, reason: str, rule_id: str
) -> None:
    """An EXHAUSTED B/C/D certificate with quota again (a reservation released, a write-off reversed) is ACTIVE again.

    Within validity only (W10): past `valid_until` the quantity has lapsed and the certificate stays exhausted.
    """
    if certificate.state is not CertState.EXHAUSTED or certificate.write_off_mode is WriteOffMode.SINGLE:
        return
    if deps.clock.today() > certificate.valid_until:
        return
    if exhausts(certificate.write_off_mode, uow.ledger.line_balances(certificate.id)):
        return
    aggregate = uow.certificates.get(certificate.id)
    if aggregate.state is CertState.EXHAUSTED:  # not ended earlier in this transaction (W9 voids, then releases)
        aggregate.fire("reactivate", actor, reason=reason, rule_ids=("C3", rule_id))
        uow.certificates.save(aggregate)


def declaration_view(declaration: Declaration) -> dict[str, Any]:
    return {
        "declaration_id": declaration.id,
        "declaration_no": declaration.declaration_no,
        "state": str(declaration.state),
        "hold_reason": declaration.hold_reason,
        "route": declaration.route,
        "drawn": {str(line): str(qty) for line, qty in sorted(declaration.drawn.items())},
        "disposal": declaration.disposal.value if declaration.disposal else None,
        "follow_up_due_on": declaration.follow_up_due_on.isoformat() if declaration.follow_up_due_on else None,
    }


def claim_single_use(uow: UnitOfWork, certificate: CertificateFacts) -> None:
    """W4: a single-use certificate's one use; a racer that lost it runs again and is held by D2."""
    if certificate.write_off_mode is WriteOffMode.SINGLE and not uow.ledger.claim_single_use(certificate.id):
        raise RetryableConflict("the single-use certificate was drawn on concurrently")


# -- port officer ---------------------------------------------------------------------------------------------------


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
    uow.declarations.save(declaration)
    if draw_all(uow, deps, [(certificate, declaration)], cmd.actor):
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
    _settle_reservation(uow, deps, declaration, certificate, actor, EntryKind.COMMIT)
    _mark_released(uow, deps, certificate, declaration)
    exhaust_if_used_up(uow, certificate)


def release_reservation(
    uow: UnitOfWork,
    deps: Dependencies,
    declaration: Declaration,
    certificate: CertificateFacts,
    actor: Actor,
    reason: str,
    rule_id: str,
) -> None:
    """D7/W9/W10: give back what the declaration held; nothing is written off, and the quota is usable again."""
    _settle_reservation(uow, deps, declaration, certificate, actor, EntryKind.RELEASE, reason=reason)
    if declaration.drawn and certificate.write_off_mode is WriteOffMode.SINGLE:
        uow.ledger.change_uses(certificate.id, -1)
    if declaration.drawn:
        reactivate_if_quota_back(uow, deps, certificate, SYSTEM_ACTOR, f"reservation released: {reason}", rule_id)


def _settle_reservation(
    uow: UnitOfWork,
    deps: Dependencies,
    declaration: Declaration,
    certificate: CertificateFacts,
    actor: Actor,
    kind: EntryKind,
    **extra: Any,
) -> None:
    """Commit (D6) or give back (D7) each reserved line with one guarded statement and its ledger row."""
    settle = uow.ledger.commit if kind is EntryKind.COMMIT else uow.ledger.release
    postings = []
    for line_no, qty in declaration.drawn.items():
        line = certificate.lines[line_no]
        if not settle(line.line_id, qty):
            raise ConcurrencyConflict(f"the reservation of line {line_no} is gone; reload the declaration")
        row = ledger_row(kind, certificate, line.line_id, qty, line.unit, actor, declaration, **extra)
        postings.append(Posting(certificate, row, declaration.declaration_no))
    record_entries(uow, deps, postings)


def _load(uow: UnitOfWork, cmd: c.DeclarationCommand) -> tuple[Declaration, CertificateFacts]:
    """The declaration and its certificate, the certificate's row locked first (the one lock order everywhere)."""
    declaration = uow.declarations.get(cmd.declaration_id)
    certificate = uow.ledger.lock_certificate_by_id(declaration.certificate_id)
    return uow.declarations.get(cmd.declaration_id), certificate  # re-read under the lock


def _save(uow: UnitOfWork, declaration: Declaration) -> Outcome:
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
