"""One application, many write-offs: declarations drawn against certificate lines, port outcomes, reversals.

Every handler is one transaction under the certificate's row lock: the declaration's state, its audit events, the
guarded balance statements and their ledger entries commit together or not at all. Requests carrying an
idempotency key (and every declaration, by its number) replay their first result and write nothing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

from workflow.domain import commands as c
from workflow.domain import rules
from workflow.domain.actors import SYSTEM_ACTOR, Actor, Role
from workflow.domain.credit import credit_as_of
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
    inspection_draw,
    is_inspected,
    parse_requested,
)
from workflow.domain.lifecycle import CertState
from workflow.service.ports import Dependencies, UnitOfWork
from workflow.service.receipts import record_entries

REPLAY_ATTEMPTS = 5


@dataclass(frozen=True)
class Outcome:
    """What a unit of work produced: the result, whether it wrote anything, and work to do after commit."""

    result: dict[str, Any]
    wrote: bool = True
    after_commit: Callable[[], None] | None = None


Work = Callable[[UnitOfWork], Outcome]


# -- idempotency ----------------------------------------------------------------------------------------------------


def request_hash(command: c.Command) -> str:
    """A fingerprint of what was asked, so a replay with different content is told apart from a retry."""
    fields = {k: v for k, v in asdict(command).items() if k not in ("actor", "idempotency_key")}
    return hashlib.sha256(json.dumps(fields, sort_keys=True, default=str).encode()).hexdigest()


def run_idempotent(
    deps: Dependencies, command: c.Command, key: str, work: Work, fingerprint: str | None = None
) -> dict[str, Any]:
    """Run `work` once per key.

    A request that lost a race (a concurrent duplicate, a lock cycle, a quota taken under it) runs again from the
    start, and then replays or decides on fresh data.
    """
    fingerprint = fingerprint or request_hash(command)
    for _ in range(REPLAY_ATTEMPTS):
        try:
            return _attempt(deps, command, key, fingerprint, work)
        except RetryableConflict:
            continue
    raise ConcurrencyConflict("the request kept colliding with concurrent ones; try again")


def _attempt(deps: Dependencies, command: c.Command, key: str, fingerprint: str, work: Work) -> dict[str, Any]:
    with deps.uow() as uow:
        if key:
            stored = uow.idempotency.replay(key)
            if stored is not None:
                return _replayed(stored, fingerprint, key)
            uow.idempotency.claim(key, command.actor.user_id, fingerprint)
        outcome = work(uow)
        if outcome.wrote:
            if key:
                uow.idempotency.record(key, outcome.result)
            uow.commit()
    if outcome.wrote and outcome.after_commit is not None:
        outcome.after_commit()
    return outcome.result


def _replayed(stored: tuple[str, dict[str, Any]], fingerprint: str, key: str) -> dict[str, Any]:
    stored_hash, result = stored
    if stored_hash != fingerprint:
        raise InvalidInput(f"idempotency key {key!r} was used for a different request", field="Idempotency-Key")
    return {**result, "replayed": True}


# -- declaring and writing off --------------------------------------------------------------------------------------


def declare_shipment(cmd: c.DeclareShipment, deps: Dependencies) -> dict[str, Any]:
    """D1–D3 (and D6 when no inspection is drawn): check, route, reserve and, if released, commit."""
    requested = parse_requested(cmd.lines)
    if not cmd.declaration_no.strip():
        raise InvalidInput("a declaration number is required", field="declaration_no")
    fingerprint = request_hash(cmd)
    return run_idempotent(
        deps, cmd, cmd.idempotency_key, lambda uow: _declare(uow, deps, cmd, requested, fingerprint), fingerprint
    )


def _declare(uow: UnitOfWork, deps: Dependencies, cmd: c.DeclareShipment, requested: Any, fingerprint: str) -> Outcome:
    """One declaration, start to finish, in one transaction.

    Everything but the balance statements happens before the hot line is touched, so its row lock is held only
    from the guarded UPDATE to the commit; the shared certificate lock keeps an ending certificate out.
    """
    existing = uow.declarations.find(cmd.declaration_no)
    if existing is not None:
        return _replay_declaration(uow, existing, fingerprint)
    certificate = uow.ledger.lock_certificate(cmd.certificate_no, shared=True)
    _require_may_declare(cmd.actor, certificate)
    declaration = Declaration(
        declaration_no=cmd.declaration_no,
        certificate_id=certificate.id,
        enterprise_id=certificate.enterprise_id,
        district=certificate.district,
        port=cmd.port,
        declared_on=cmd.declared_on,
        lines=list(requested),
        policy_id=certificate.policy_id,
    )
    declaration.record_declared(cmd.actor)
    failures = check_declaration(certificate, cmd.declared_on, cmd.direction, requested)
    declaration.check(failures)
    if not failures:
        declaration.drawn = {item.line_no: item.qty for item in requested}
        _route(uow, deps, certificate, declaration)
        _claim_single_use(uow, certificate)
    uow.declarations.add(declaration, _line_ids(certificate), fingerprint, cmd.actor.user_id)
    used_up = not failures and _draw(uow, deps, certificate, declaration, cmd.actor)
    after = (lambda: _exhaust_check(deps, certificate.id)) if used_up else None
    return Outcome(_view(declaration), True, after)


def _claim_single_use(uow: UnitOfWork, certificate: CertificateFacts) -> None:
    """W4: a single-use certificate's one use; a racer that lost it runs again and is held by D2."""
    if certificate.write_off_mode is WriteOffMode.SINGLE and not uow.ledger.claim_single_use(certificate.id):
        raise RetryableConflict("the single-use certificate was drawn on concurrently")


def _line_ids(certificate: CertificateFacts) -> dict[int, int]:
    return {line_no: line.line_id for line_no, line in certificate.lines.items()}


def _replay_declaration(uow: UnitOfWork, existing: tuple[int, str], fingerprint: str) -> Outcome:
    declaration_id, stored_hash = existing
    if stored_hash != fingerprint:
        raise ConcurrencyConflict(
            "this declaration number was already filed with different content", field="declaration_no"
        )
    return Outcome({**_view(uow.declarations.get(declaration_id)), "replayed": True}, wrote=False)


def _require_may_declare(actor: Actor, certificate: CertificateFacts) -> None:
    """D1: the holder (or its agent) declares, or a port officer of the district on its behalf."""
    if actor.role is Role.APPLICANT and actor.enterprise_id == certificate.enterprise_id:
        return
    if actor.role is Role.PORT_OFFICER and actor.district in (None, certificate.district):
        return
    raise PermissionDenied("only the certificate holder or a port officer may declare against it", rule_id="D1")


def _route(uow: UnitOfWork, deps: Dependencies, certificate: CertificateFacts, declaration: Declaration) -> None:
    """D3 / E1–E3: rate from grade × credit as of the declaration date, and a draw anyone can recompute."""
    policy = deps.policies.policy_for(certificate.district, declaration.declared_on)
    credit = credit_as_of(uow.enterprises.credit_records(certificate.enterprise_id), declaration.declared_on, policy)
    rate = rules.inspection_rate(certificate.grade, credit.tier, policy)
    key_id, key = deps.draw_key(certificate.district)
    draw = inspection_draw(key, declaration.declaration_no)
    inspected = is_inspected(rate.result, draw)
    route = {
        "rate": str(rate.result),
        "draw": str(draw),
        "inspected": inspected,
        "key_id": key_id,
        "grade": certificate.grade.value,
        "credit_tier": credit.tier.value,
        "credit_regime": credit.regime.value,
        "policy_id": policy.id,
        "policy_hash": policy.content_hash,
        "rule_ids": list(rate.rule_ids),
        "reason": rate.reason,
    }
    declaration.route_by(route, inspected)
    if not inspected:
        _mark_released(uow, deps, certificate, declaration)


def _draw(
    uow: UnitOfWork, deps: Dependencies, certificate: CertificateFacts, declaration: Declaration, actor: Actor
) -> bool:
    """Reserve what was declared, committing at once when the route released the goods.

    One guarded statement per line. A line whose quota went to a concurrent write-off sends the whole request
    round again, where D2 decides on fresh balances. Returns whether a committed line is now used up (C3).
    """
    released = declaration.released_on is not None  # released, possibly already awaiting follow-up (D8)
    entries, used_up = [], False
    for line_no, qty in declaration.drawn.items():
        line = certificate.lines[line_no]
        left = uow.ledger.draw(line.line_id, qty, commit=released)
        if left is None:
            raise RetryableConflict(f"line {line_no}'s remaining quantity was taken concurrently")
        used_up = used_up or left == 0
        entries.append(ledger_row(EntryKind.RESERVE, certificate, line.line_id, qty, line.unit, actor, declaration))
        if released:
            entries.append(ledger_row(EntryKind.COMMIT, certificate, line.line_id, qty, line.unit, actor, declaration))
    record_entries(uow, deps, certificate, entries, declaration.declaration_no)
    return released and (used_up or certificate.write_off_mode is WriteOffMode.SINGLE)


def _exhaust_check(deps: Dependencies, certificate_id: int) -> None:
    """C3 after a write-off that used a line up, in a short transaction under the exclusive lock.

    Two shipments emptying two lines at once cannot both miss it; the expiry sweep re-checks if this never ran.
    """
    with deps.uow() as uow:
        certificate = uow.ledger.lock_certificate_by_id(certificate_id)
        if certificate.state is CertState.ACTIVE:
            _exhaust_if_used_up(uow, certificate)
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


def _exhaust_if_used_up(uow: UnitOfWork, certificate: CertificateFacts) -> None:
    """C3 (caller holds the exclusive lock): grade A after its first commit (W4); B/C/D once every line is at 0."""
    if exhausts(certificate.write_off_mode, uow.ledger.remaining(certificate.id)):
        aggregate = uow.certificates.get(certificate.id)
        aggregate.fire(
            "exhaust",
            SYSTEM_ACTOR,
            rule_ids=("C3", "W4") if certificate.write_off_mode is WriteOffMode.SINGLE else ("C3",),
        )
        uow.certificates.save(aggregate)


def _view(declaration: Declaration) -> dict[str, Any]:
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
        return Outcome(_view(declaration))

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
    _route(uow, deps, certificate, declaration)
    _claim_single_use(uow, certificate)
    uow.declarations.save(declaration)
    if _draw(uow, deps, certificate, declaration, cmd.actor):
        _exhaust_if_used_up(uow, certificate)  # _load holds the exclusive lock


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
    release_reservation(uow, deps, declaration, certificate, cmd.actor, cmd.reason)


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
        release_reservation(uow, deps, declaration, certificate, cmd.actor, cmd.reason or "declaration withdrawn")
        return _save(uow, declaration)

    return run_idempotent(deps, cmd, cmd.idempotency_key, work)


def _commit_release(
    uow: UnitOfWork, deps: Dependencies, declaration: Declaration, certificate: CertificateFacts, actor: Actor
) -> None:
    """D6: the reservation becomes a committed write-off (W7: even if the certificate expired meanwhile)."""
    _settle_reservation(uow, deps, declaration, certificate, actor, EntryKind.COMMIT)
    _mark_released(uow, deps, certificate, declaration)
    if certificate.state is CertState.ACTIVE:
        _exhaust_if_used_up(uow, certificate)


def release_reservation(
    uow: UnitOfWork,
    deps: Dependencies,
    declaration: Declaration,
    certificate: CertificateFacts,
    actor: Actor,
    reason: str,
) -> None:
    """D7/W9/W10: give back what the declaration held; nothing is written off."""
    _settle_reservation(uow, deps, declaration, certificate, actor, EntryKind.RELEASE, reason=reason)
    if declaration.drawn and certificate.write_off_mode is WriteOffMode.SINGLE:
        uow.ledger.change_uses(certificate.id, -1)


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
    entries = []
    for line_no, qty in declaration.drawn.items():
        line = certificate.lines[line_no]
        if not settle(line.line_id, qty):
            raise ConcurrencyConflict(f"the reservation of line {line_no} is gone; reload the declaration")
        entries.append(ledger_row(kind, certificate, line.line_id, qty, line.unit, actor, declaration, **extra))
    record_entries(uow, deps, certificate, entries, declaration.declaration_no)


def _load(uow: UnitOfWork, cmd: c.DeclarationCommand) -> tuple[Declaration, CertificateFacts]:
    """The declaration and its certificate, the certificate's row locked first (the one lock order everywhere)."""
    declaration = uow.declarations.get(cmd.declaration_id)
    certificate = uow.ledger.lock_certificate_by_id(declaration.certificate_id)
    return uow.declarations.get(cmd.declaration_id), certificate  # re-read under the lock


def _save(uow: UnitOfWork, declaration: Declaration) -> Outcome:
    uow.declarations.save(declaration)
    return Outcome(_view(declaration))


def require_port_officer(actor: Actor, certificate: CertificateFacts) -> None:
    if actor.role is not Role.PORT_OFFICER:
        raise PermissionDenied("port decisions are a port officer's", rule_id="D4")
    if actor.district is not None and actor.district != certificate.district:
        raise NotFound("no such declaration in your district")


HANDLERS: dict[type[c.Command], Callable[[Any, Dependencies], Any]] = {
    c.DeclareShipment: declare_shipment,
    c.ResolveHold: resolve_hold,
    c.RecordInspection: record_inspection,
    c.RecordLabResult: record_lab_result,
    c.CompleteDisposal: complete_disposal,
    c.WithdrawDeclaration: withdraw_declaration,
}
