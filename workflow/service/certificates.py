"""Certificate-level use cases: reversals (W10), ending a certificate (W9), follow-up (R53–R56) and the sweeps."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any

from workflow.domain import commands as c
from workflow.domain.actors import SYSTEM_ACTOR, Actor, Role
from workflow.domain.bans import ApplicantBan, BanGround, ban_for
from workflow.domain.errors import ConcurrencyConflict, GuardFailed, InvalidInput, PermissionDenied
from workflow.domain.goods import WriteOffMode
from workflow.domain.ledger import CertificateFacts, Disposal, EntryKind
from workflow.domain.lifecycle import CertState
from workflow.domain.local_days import DistrictScope
from workflow.domain.permissions import ENDING_ACTIONS, require
from workflow.service.idempotency import Outcome, run_idempotent
from workflow.service.ledger_entries import record_entries
from workflow.service.notify import disposal_notice, notify_enterprise
from workflow.service.officer_notifications import ask_fan_out
from workflow.service.port_steps import require_port_officer
from workflow.service.ports import Dependencies, UnitOfWork
from workflow.service.quota import exhaust_if_used_up, ledger_row, reactivate_if_quota_back, release_reservation

ENDED_FOR_REVERSAL = (CertState.WITHDRAWN, CertState.REVOKED)


# -- reversal (W10) -------------------------------------------------------------------------------------------------


def request_reversal(cmd: c.RequestReversal, deps: Dependencies) -> dict[str, Any]:
    """W10: a port officer asks to reverse a committed write-off; nothing moves until a decider approves."""
    if cmd.qty <= 0:
        raise InvalidInput("a reversal quantity is positive", field="qty")

    def work(uow: UnitOfWork) -> Outcome:
        entry = uow.ledger.entry(cmd.entry_id)
        certificate = uow.ledger.lock_certificate_by_id(entry.certificate_id)
        require_port_officer(cmd.actor, certificate)
        _require_reversible(certificate)
        if entry.kind is not EntryKind.COMMIT:
            raise InvalidInput("only a committed write-off can be reversed", rule_id="W10", field="entry_id")
        left = entry.qty - uow.ledger.reversed_qty(entry.id) - uow.ledger.pending_reversal_qty(entry.id)
        if cmd.qty > left:
            raise InvalidInput(f"at most {left} {entry.unit} of this write-off can still be reversed", "W10", "qty")
        assert cmd.actor.user_id is not None
        reversal_id = uow.ledger.add_reversal(entry.id, cmd.qty, cmd.reason_code.value, cmd.reason, cmd.actor.user_id)
        _note(
            uow,
            certificate,
            "request_reversal",
            cmd.actor,
            cmd.reason,
            {"reversal_id": reversal_id, "entry_id": entry.id, "qty": str(cmd.qty), "reason_code": cmd.reason_code},
        )
        return Outcome({"reversal_id": reversal_id, "state": "requested", "qty": str(cmd.qty)})

    return run_idempotent(deps, cmd, cmd.idempotency_key, work)


def decide_reversal(cmd: c.DecideReversal, deps: Dependencies) -> dict[str, Any]:
    """W10 / W13(vi): a decider other than the requester approves; an exhausted B/C/D line may reopen."""

    def work(uow: UnitOfWork) -> Outcome:
        reversal = uow.ledger.reversal(cmd.reversal_id)
        entry = uow.ledger.entry(reversal.commit_entry_id)
        certificate = uow.ledger.lock_certificate_by_id(entry.certificate_id)
        _require_second_officer(cmd.actor, reversal.requested_by, certificate)
        if not uow.ledger.decide_reversal(reversal.id, "approved" if cmd.approve else "refused", cmd.actor.user_id):
            raise ConcurrencyConflict(f"reversal {reversal.id} was already decided")
        if cmd.approve:
            _apply_reversal(uow, deps, certificate, entry, reversal.qty, reversal.requested_by, cmd.actor)
        outcome = "approved" if cmd.approve else "refused"
        _note(uow, certificate, f"reversal_{outcome}", cmd.actor, cmd.reason, {"reversal_id": reversal.id})
        return Outcome({"reversal_id": reversal.id, "state": outcome, "qty": str(reversal.qty)})

    return run_idempotent(deps, cmd, cmd.idempotency_key, work)


def _require_reversible(certificate: CertificateFacts) -> None:
    if certificate.write_off_mode is WriteOffMode.SINGLE:
        raise GuardFailed("a single-use (grade A) write-off is never reversed after release", rule_id="W10")
    if certificate.state in ENDED_FOR_REVERSAL:
        raise GuardFailed(f"no reversal on a {certificate.state} certificate", rule_id="W10")


def _require_second_officer(actor: Actor, requested_by: int, certificate: CertificateFacts) -> None:
    if actor.role is not Role.DECIDER or (actor.district not in (None, certificate.district)):
        raise PermissionDenied("a reversal is approved by a decider of the district", rule_id="W10")
    if actor.user_id == requested_by:
        raise PermissionDenied("the officer who requested a reversal cannot approve it", rule_id="W10")
    _require_reversible(certificate)


def _apply_reversal(
    uow: UnitOfWork,
    deps: Dependencies,
    certificate: CertificateFacts,
    entry: Any,
    qty: Decimal,
    requested_by: int,
    decider: Actor,
) -> None:
    if not uow.ledger.reverse(entry.line_id, qty):
        raise ConcurrencyConflict("the committed quantity is no longer there to reverse")
    requester = Actor(requested_by, Role.PORT_OFFICER)
    row = ledger_row(
        EntryKind.REVERSE,
        certificate,
        entry.line_id,
        qty,
        entry.unit,
        requester,
        None,
        reverses_entry_id=entry.id,
        approver_id=decider.user_id,
    )
    record_entries(uow, [row])
    reactivate_if_quota_back(uow, deps, certificate, decider, "write-off reversed within validity", "W10")


# -- ending a certificate (W9, C5–C7) -------------------------------------------------------------------------------


def end_certificate(cmd: c.EndCertificate, deps: Dependencies) -> dict[str, Any]:
    """Cancel, withdraw or revoke; every open reservation is released and in-flight declarations voided (W9)."""
    if cmd.trigger not in ENDING_ACTIONS:
        raise InvalidInput(f"trigger is one of {', '.join(ENDING_ACTIONS)}", field="trigger")
    require(cmd.actor, ENDING_ACTIONS[cmd.trigger])
    if cmd.fraud and cmd.trigger != "revoke":
        raise InvalidInput("fraud is a ground for revocation only (C6)", rule_id="R26", field="fraud")
    with deps.uow() as uow:
        certificate = uow.ledger.lock_certificate_by_id(cmd.certificate_id)
        # C6 / R26: revoked for fraud, the enterprise may not apply again for three years
        today = deps.clock.today(certificate.district)
        ban = ban_for(certificate.enterprise_id, BanGround.FRAUD, today) if cmd.fraud else None
        _end(uow, deps, certificate, cmd.trigger, cmd.actor, cmd.reason, ban)
        if ban is not None:
            uow.enterprises.add_ban(ban, f"certificate {certificate.certificate_no}", cmd.reason, deps.clock.now())
        uow.commit()
    return {"certificate_id": cmd.certificate_id, "state": cmd.trigger}


def _end(
    uow: UnitOfWork,
    deps: Dependencies,
    certificate: CertificateFacts,
    trigger: str,
    actor: Actor,
    reason: str,
    ban: ApplicantBan | None = None,
) -> None:
    """The written reason is a guard of each ending transition (C5–C7); a ban rides on the revocation's event."""
    if actor.district not in (None, certificate.district):
        raise PermissionDenied("officers act only on their own district's certificates", rule_id="R7")
    aggregate = uow.certificates.get(certificate.id)
    ban_facts = {"ban": {"ground": ban.ground.value, "until": ban.until_on.isoformat()}} if ban else {}
    rule_ids = ("W9", "R26") if ban else ("W9",)
    aggregate.fire(trigger, actor, reason=reason, rule_ids=rule_ids, inputs=ban_facts)
    uow.certificates.save(aggregate)
    end_what_waits(uow, deps, certificate, trigger, reason)


def end_what_waits(
    uow: UnitOfWork, deps: Dependencies, certificate: CertificateFacts, trigger: str, reason: str
) -> None:
    """What waits on a certificate ends with it: W9's declarations in flight, and an open change request (R43)."""
    end_reservations(uow, deps, certificate, trigger, reason)
    uow.certificate_changes.lapse_open(certificate.id, f"certificate {trigger}: {reason}")


def end_reservations(
    uow: UnitOfWork, deps: Dependencies, certificate: CertificateFacts, trigger: str, reason: str
) -> None:
    """W9: the declarations in flight on an ended certificate are voided and their reservations released."""
    for declaration_id in uow.ledger.open_declarations(certificate.id):
        declaration = uow.declarations.get(declaration_id)
        declaration.void(f"certificate {trigger}: {reason}")
        release_reservation(uow, deps, declaration, certificate, SYSTEM_ACTOR, f"certificate {trigger}", rule_id="W9")
        uow.declarations.save(declaration)


# -- follow-up supervision (R53–R56) --------------------------------------------------------------------------------


def report_follow_up(cmd: c.ReportFollowUp, deps: Dependencies) -> dict[str, Any]:
    """R55–R56: a failed follow-up withdraws the certificate (even when exhausted) and orders destruction."""

    def work(uow: UnitOfWork) -> Outcome:
        declaration = uow.declarations.get(cmd.declaration_id)
        certificate = uow.ledger.lock_certificate_by_id(declaration.certificate_id)
        if cmd.actor.role is not Role.DEST_OFFICER or cmd.actor.district not in (None, certificate.district):
            raise PermissionDenied("follow-up is reported by the destination customs", rule_id="R54")
        declaration = uow.declarations.get(cmd.declaration_id)
        passed = declaration.conclude_follow_up(cmd.actor, cmd.lab_matches, cmd.goods_match, cmd.reason)
        if not passed:
            declaration.disposal = Disposal.DESTROY
            kind, notice = disposal_notice(Disposal.DESTROY.value, cmd.reason or "follow-up found a mismatch (R56)")
            notify_enterprise(
                uow, declaration.enterprise_id, kind, {**notice, "declaration_no": declaration.declaration_no}
            )
        uow.declarations.save(declaration)
        if not passed and certificate.state not in (CertState.WITHDRAWN, CertState.REVOKED, CertState.CANCELLED):
            _end(uow, deps, certificate, "withdraw", cmd.actor, cmd.reason or "follow-up found a mismatch (R56)")
        result = {
            "declaration_id": declaration.id,
            "state": str(declaration.state),
            "passed": passed,
            "disposal": declaration.disposal.value if declaration.disposal else None,
        }
        return Outcome(result)

    return run_idempotent(deps, cmd, cmd.idempotency_key, work)


# -- sweeps (beat) --------------------------------------------------------------------------------------------------


def expire_certificates(cmd: c.ExpireCertificates, deps: Dependencies) -> int:
    """C4 / R38: certificates past validity expire; their remaining quantity lapses, reservations stay (W7)."""
    return _sweep(deps, lambda uow, today, scope: uow.ledger.expiring(today, scope), _expire_one)


def _expire_one(uow: UnitOfWork, certificate_id: int, today: date) -> None:
    aggregate = uow.certificates.get(certificate_id)
    aggregate.fire("expire", SYSTEM_ACTOR, reason=f"valid until {aggregate.valid_until}", rule_ids=("R38",))
    uow.certificates.save(aggregate)
    uow.certificate_changes.lapse_open(certificate_id, f"certificate expired: valid until {aggregate.valid_until}")


def exhaust_used_up(cmd: c.ExhaustUsedUp, deps: Dependencies) -> int:
    """C3 safety net: a certificate used up (nothing remaining, nothing reserved) whose post-commit check never ran."""
    return _sweep(deps, lambda uow, today, scope: uow.ledger.used_up(), _exhaust_one)


def _exhaust_one(uow: UnitOfWork, certificate_id: int, today: date) -> None:
    """Re-decided under the lock: another sweep, the post-commit check or a release may have got there first."""
    exhaust_if_used_up(uow, uow.ledger.lock_certificate_by_id(certificate_id), reason="used up (found by the sweep)")


def flag_overdue_follow_ups(cmd: c.FlagOverdueFollowUps, deps: Dependencies) -> int:
    """R54: one alert per overdue follow-up report, recorded in the declaration's audit trail."""
    return _sweep(deps, lambda uow, today, scope: uow.ledger.overdue_follow_ups(today, scope), _alert_one)


def _alert_one(uow: UnitOfWork, declaration_id: int, today: date) -> None:
    declaration = uow.declarations.get(declaration_id)
    declaration.note(
        "follow_up_overdue",
        SYSTEM_ACTOR,
        reason=f"report was due {declaration.follow_up_due_on}",
        rule_ids=("R54", "D8"),
    )
    uow.declarations.save(declaration)
    uow.ledger.mark_alerted(declaration_id)  # once: the notices below ride on the one alert
    params = {"declaration_no": declaration.declaration_no, "due_on": str(declaration.follow_up_due_on)}
    notify_enterprise(uow, declaration.enterprise_id, "follow_up_report_overdue", params)
    ask_fan_out(
        uow, "follow_up_overdue", declaration.district, (Role.DEST_OFFICER,), params, f"declaration:{declaration.id}"
    )


Finder = Callable[[UnitOfWork, date, DistrictScope], list[int]]
"""What a sweep acts on: ids due on a local date, in the districts that have that date."""


def _sweep(deps: Dependencies, find: Finder, act: Callable[[UnitOfWork, int, date], None]) -> int:
    """One transaction per district date: rows another sweep is holding are skipped, so two sweeps never double-act.

    Each district is swept on its own local date (the shipped districts share one, so that is a single run).
    """
    acted = 0
    for today, scope in deps.clock.local_days():
        with deps.uow() as uow:
            found = find(uow, today, scope)
            for object_id in found:
                act(uow, object_id, today)
            uow.commit()
        acted += len(found)
    return acted


def _note(
    uow: UnitOfWork, certificate: CertificateFacts, trigger: str, actor: Actor, reason: str, inputs: dict[str, Any]
) -> None:
    aggregate = uow.certificates.get(certificate.id)
    aggregate.note(trigger, actor, reason, ("W10",), {key: str(value) for key, value in inputs.items()})
    uow.certificates.save(aggregate)


HANDLERS: dict[type[c.Command], Callable[[Any, Dependencies], Any]] = {
    c.RequestReversal: request_reversal,
    c.DecideReversal: decide_reversal,
    c.EndCertificate: end_certificate,
    c.ReportFollowUp: report_follow_up,
    c.ExpireCertificates: expire_certificates,
    c.ExhaustUsedUp: exhaust_used_up,
    c.FlagOverdueFollowUps: flag_overdue_follow_ups,
}
