"""Replacement applications (R43): a draft pre-filled from a certificate, and what its grant does to that certificate.

The draft goes the whole way of any application (submit, accept, review, decide). Its screening reuses, with their
rule ids, the results of the lines that did not change; its grant supersedes the old certificate in the granting
transaction — the old one is cancelled, its open reservations released through the ledger (W9) and the two are
linked both ways — while a denial or a withdrawal leaves the old certificate as it was.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from workflow.domain import commands as c
from workflow.domain.actors import SYSTEM_ACTOR
from workflow.domain.errors import GuardFailed, PermissionDenied
from workflow.domain.lifecycle import CertState
from workflow.domain.model import Application, Certificate
from workflow.domain.permissions import Action, may
from workflow.domain.replacements import assessment_carries_over, diff_lines, reused_screening
from workflow.service.certificates import end_what_waits
from workflow.service.ports import Dependencies, UnitOfWork

RULES = ("R43",)


def start_replacement(cmd: c.StartReplacement, deps: Dependencies) -> int:
    """A draft with the certificate's goods lines, ports and documents, linked to it; returns the draft's id."""
    with deps.uow() as uow:
        facts = uow.ledger.lock_certificate_by_id(cmd.certificate_id)
        if not may(cmd.actor, Action.START_REPLACEMENT, facts):
            raise PermissionDenied("only the holder applies to replace its certificate", rule_id="R43")
        if facts.state is not CertState.ACTIVE:
            raise GuardFailed(f"certificate {facts.certificate_no} is {facts.state}: nothing to replace", "R43")
        if uow.replacements.open_for(facts.id) is not None:
            raise GuardFailed("a replacement application of this certificate is already open", "R43")
        certificate = uow.certificates.get(facts.id)
        draft = uow.applications.add(_prefilled(uow.applications.get(certificate.application_id), deps))
        assert draft.id is not None
        uow.replacements.add(draft.id, facts.id)
        uow.replacements.copy_documents(certificate.application_id, draft.id)
        inputs = {"application_id": draft.id, "application": draft.reference}
        certificate.note("start_replacement", cmd.actor, "", RULES, inputs)
        uow.certificates.save(certificate)
        uow.commit()
        return draft.id


def _prefilled(old: Application, deps: Dependencies) -> Application:
    policy = deps.policies.policy_for(old.district, deps.clock.today(old.district))
    return Application(
        enterprise_id=old.enterprise_id,
        district=old.district,
        direction=old.direction,
        lines=list(old.lines),
        ports=old.ports,
        policy_id=policy.id,
        policy_hash=policy.content_hash,
    )


def replacement_screening(
    uow: UnitOfWork, application: Application, old_certificate_id: int | None
) -> dict[str, Any] | None:
    """Beside the screening: each line against the certificate, an unchanged line with the old scope decision.

    `old_certificate_id` is what the screening's read found replaced (`Wanted.replacement`); None: not a replacement.
    """
    if old_certificate_id is None:
        return None
    old = uow.applications.get(uow.certificates.get(old_certificate_id).application_id)
    diffs = diff_lines(old.lines, application.lines)
    return {
        "replaces_certificate_id": old_certificate_id,
        "lines": reused_screening(diffs, old.screening or {}, old.reference),
        "assessment_carries_over": assessment_carries_over(diffs),
    }


def supersede_replaced(
    uow: UnitOfWork, deps: Dependencies, application: Application, new: Certificate, old_id: int | None
) -> None:
    """In the granting transaction: the replaced certificate is cancelled (W9 releases) and the two are linked.

    `old_id` is the certificate the grant's read found replaced (`Wanted.replacement`); None: nothing to supersede.
    """
    if old_id is None:
        return
    facts = uow.ledger.lock_certificate_by_id(old_id)  # waits for the write-offs in flight on the old certificate
    uow.replacements.link(application.id or 0, new.id or 0)
    reason = f"superseded by certificate {new.certificate_no} (application {application.reference})"
    old = uow.certificates.get(old_id)
    inputs = {"superseded_by": new.certificate_no, "certificate_id": new.id}
    if old.state is CertState.ACTIVE:
        old.fire("supersede", SYSTEM_ACTOR, reason=reason, rule_ids=("C7", "R43", "W9"), inputs=inputs)
        uow.certificates.save(old)
        end_what_waits(uow, deps, facts, "supersede", reason)
    else:  # it ended on its own meanwhile (used up, expired): only the link is recorded
        old.note("superseded", SYSTEM_ACTOR, reason, RULES, inputs)
        uow.certificates.save(old)
    _note_predecessor(uow, new, old.certificate_no, old_id)


def _note_predecessor(uow: UnitOfWork, new: Certificate, old_no: str, old_id: int) -> None:
    successor = uow.certificates.get(new.id or 0)
    successor.note("replaces", SYSTEM_ACTOR, f"replaces certificate {old_no}", RULES, {"certificate_id": old_id})
    uow.certificates.save(successor)


def carried_assessment(uow: UnitOfWork, application: Application) -> tuple[int, str] | None:
    """R43 with R32: the passed assessment of the replaced certificate's file, when no line moved in a risk fact.

    Returns it with the reason the file records; None sends the referral its usual way (R63 reuse or a panel).
    """
    screened = (application.screening or {}).get("replacement") or {}
    if not screened.get("assessment_carries_over"):
        return None
    old = uow.certificates.get(int(screened["replaces_certificate_id"]))
    passed = uow.replacements.passed_assessment(old.application_id)
    if passed is None:
        return None
    return passed, f"assessment #{passed} of the replaced certificate's file carried over: no risk fact changed (R43)"


HANDLERS: dict[type[c.Command], Callable[[Any, Dependencies], Any]] = {c.StartReplacement: start_replacement}
