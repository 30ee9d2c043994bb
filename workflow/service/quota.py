"""A certificate's quota as it moves: drawn (reserved or committed), settled, given back, and the state that follows.

Ledger rows (W12), the single use (W4), exhaustion once the quota is used up (C3) and reactivation once it is back
(W10). Each step runs inside the caller's transaction under the certificate's row lock, so a guarded balance
statement, its ledger entries and their places in the receipt queue commit with the caller's writes or not at all; only
`exhaust_checks` opens its own short transactions, after the caller committed.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from decimal import Decimal
from typing import Any

from workflow.domain.actors import SYSTEM_ACTOR, Actor
from workflow.domain.declaration import Declaration
from workflow.domain.errors import ConcurrencyConflict, RetryableConflict
from workflow.domain.goods import WriteOffMode
from workflow.domain.ledger import CertificateFacts, EntryKind, exhausts
from workflow.domain.lifecycle import CertState
from workflow.service.ledger_entries import append_declared, append_entries, queue_receipts, record_entries
from workflow.service.notify import notify_enterprise
from workflow.service.ports import Dependencies, UnitOfWork

ZERO = Decimal(0)


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


def claim_single_use(uow: UnitOfWork, certificate: CertificateFacts) -> None:
    """W4: a single-use certificate's one use; a racer that lost it runs again and is held by D2."""
    if certificate.write_off_mode is WriteOffMode.SINGLE and not uow.ledger.claim_single_use(certificate.id):
        raise RetryableConflict("the single-use certificate was drawn on concurrently")


def draw_all(
    uow: UnitOfWork,
    drawings: Sequence[tuple[CertificateFacts, Declaration]],
    actor: Actor,
    entry_ids: Iterator[int] | None = None,
) -> set[int]:
    """Reserve what each declaration drew, committing at once where its route released the goods.

    One guarded statement for all the lines drawn on. A line whose quota went to a concurrent write-off sends the
    whole request round again, where D2 decides on fresh balances. A new declaration's request passes the ids drawn
    ahead (`entry_ids`): each ledger entry takes the next, and the request's declarations are written with the
    entries, so it calls this even when none drew anything. Returns the certificates a committed draw may have used
    up (C3).
    """
    changes: dict[int, tuple[Decimal, Decimal]] = {}
    rows = []
    for certificate, declaration in drawings:
        released = declaration.released_on is not None  # released, possibly already awaiting follow-up (D8)
        kinds = (EntryKind.RESERVE, EntryKind.COMMIT) if released else (EntryKind.RESERVE,)
        for line_no, qty in declaration.drawn.items():
            line = certificate.lines[line_no]
            reserve, commit = changes.get(line.line_id, (ZERO, ZERO))
            changes[line.line_id] = (reserve, commit + qty) if released else (reserve + qty, commit)
            rows += [ledger_row(kind, certificate, line.line_id, qty, line.unit, actor, declaration) for kind in kinds]
    # Everything that needs no line lock is written before the guarded UPDATE takes it, so a hot line is held only
    # for the draw and the commit; a lost race rolls the entries back with the rest.
    if entry_ids is None:
        entries, left = append_entries(uow, rows), uow.ledger.draw_many(changes) if changes else {}
        queue_receipts(uow, entries)
    else:
        left = append_declared(uow, rows, entry_ids, changes)
    if left is None:
        raise RetryableConflict("a line's remaining quantity was taken concurrently")
    if not changes:
        return set()
    return {
        certificate.id
        for certificate, declaration in drawings
        if declaration.released_on is not None and _may_use_up(certificate, declaration, left)
    }


def _may_use_up(certificate: CertificateFacts, declaration: Declaration, left: dict[int, Decimal]) -> bool:
    single = certificate.write_off_mode is WriteOffMode.SINGLE
    return single or any(left[certificate.lines[line_no].line_id] == 0 for line_no in declaration.drawn)


def settle_reservation(
    uow: UnitOfWork,
    declaration: Declaration,
    certificate: CertificateFacts,
    actor: Actor,
    kind: EntryKind,
    **extra: Any,
) -> None:
    """Commit (D6) or give back (D7) each reserved line with one guarded statement and its ledger row."""
    settle = uow.ledger.commit if kind is EntryKind.COMMIT else uow.ledger.release
    rows = []
    for line_no, qty in declaration.drawn.items():
        line = certificate.lines[line_no]
        if not settle(line.line_id, qty):
            raise ConcurrencyConflict(f"the reservation of line {line_no} is gone; reload the declaration")
        rows.append(ledger_row(kind, certificate, line.line_id, qty, line.unit, actor, declaration, **extra))
    record_entries(uow, rows)


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
    settle_reservation(uow, declaration, certificate, actor, EntryKind.RELEASE, reason=reason)
    if declaration.drawn and certificate.write_off_mode is WriteOffMode.SINGLE:
        uow.ledger.change_uses(certificate.id, -1)
    if declaration.drawn:
        reactivate_if_quota_back(uow, deps, certificate, SYSTEM_ACTOR, f"reservation released: {reason}", rule_id)


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
        # C3 happens once per exhaustion, under the lock: the holder is told with it, or not at all.
        notify_enterprise(uow, certificate.enterprise_id, "certificate_exhausted",
                          {"certificate_no": certificate.certificate_no})  # fmt: skip


def reactivate_if_quota_back(
    uow: UnitOfWork, deps: Dependencies, certificate: CertificateFacts, actor: Actor, reason: str, rule_id: str
) -> None:
    """An EXHAUSTED B/C/D certificate with quota again (a reservation released, a write-off reversed) is ACTIVE again.

    Within validity only (W10): past `valid_until` the quantity has lapsed and the certificate stays exhausted.
    """
    if certificate.state is not CertState.EXHAUSTED or certificate.write_off_mode is WriteOffMode.SINGLE:
        return
    if deps.clock.today(certificate.district) > certificate.valid_until:
        return
    if exhausts(certificate.write_off_mode, uow.ledger.line_balances(certificate.id)):
        return
    aggregate = uow.certificates.get(certificate.id)
    if aggregate.state is CertState.EXHAUSTED:  # not ended earlier in this transaction (W9 voids, then releases)
        aggregate.fire("reactivate", actor, reason=reason, rule_ids=("C3", rule_id))
        uow.certificates.save(aggregate)
