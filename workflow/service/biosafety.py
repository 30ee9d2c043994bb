"""Biosafety capability use cases: the enterprise keeps its labs, an officer verifies them, decisions read them.

R9(b), R14 and R62 (docs/biosafety.md). One input schema (`LaboratoryInput`) serves the API body, the HTML form and
the CLI; the permission predicates of workflow/domain/biosafety.py are asked by every door and again here, inside the
transaction, against what the database holds. Every change is one transaction: the lab row, its audit event and the
notifications it causes. `lab_findings` is what the pre-check, the screening, the correction notice and the grant
guard (`lab_matches_goods`) all read, on the date of their own decision.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt

from workflow.domain import commands as c
from workflow.domain import inputs
from workflow.domain.actors import SYSTEM_ACTOR, Role
from workflow.domain.biosafety import (
    BiosafetyRule,
    LabDetails,
    LabFinding,
    Laboratory,
    LabOwner,
    require_lab_maintainer,
    require_lab_verifier,
)
from workflow.domain.errors import ConcurrencyConflict, GuardFailed
from workflow.domain.model import Application
from workflow.domain.policy import Policy
from workflow.service.input_types import Detail, Name, checked
from workflow.service.lab_checks import NO_LABS, LabsKnown
from workflow.service.notify import notify_enterprise
from workflow.service.officer_notifications import ask_fan_out
from workflow.service.ports import Dependencies, UnitOfWork
from workflow.service.precheck import _validated

Level = Annotated[StrictInt, Field(ge=1, le=4)]
Code = Annotated[str, Field(max_length=inputs.CODE), checked(lambda v: inputs.clean_text(v, inputs.CODE))]
Address = Annotated[str, Field(max_length=inputs.ADDRESS), checked(lambda v: inputs.clean_text(v, inputs.ADDRESS))]
VERIFIERS = (Role.ACCEPTOR, Role.DECIDER)  # told when a lab waits for verification
LAPSE_READERS = (Role.DECIDER, Role.PORT_OFFICER)  # told when a certificate is held for a lapsed lab


class LaboratoryInput(BaseModel):
    """A lab as its admin states it: the API's body, the page's form and the CLI's file are this one schema."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Name
    address: Address = ""
    bsl_level: Level
    accreditation_body: Detail = ""
    accreditation_no: Code = ""
    valid_from: dt.date | None = None
    valid_until: dt.date | None = None

    def details(self) -> LabDetails:
        """The domain's value object; its cross-field checks (both accreditation fields, dates in order) run here."""
        return LabDetails(**self.model_dump())


def parse_laboratory(raw: Mapping[str, Any]) -> LabDetails:
    """Raw JSON or form data to LabDetails; InvalidInput names the first field at fault (the cause lists them all)."""
    return _validated(LaboratoryInput.model_validate, raw).details()


# -- the enterprise's admin keeps its labs --------------------------------------------------------------------------


def register_laboratory(cmd: c.RegisterLaboratory, deps: Dependencies) -> int:
    """A new lab of the enterprise, unverified; the district's officers are asked to verify it."""
    with deps.uow() as uow:
        profile = uow.enterprise_admin.lock(cmd.enterprise_id)
        _require_maintainer(uow, cmd, LabOwner(profile.id, profile.district))
        lab_id = uow.laboratories.add(profile.id, profile.district, cmd.details, cmd.evidence)
        lab = uow.laboratories.get(lab_id)
        _record(uow, cmd, lab, "register_lab", {"enterprise_id": profile.id, **_stated(lab)})
        _ask_verification(uow, lab)
        uow.commit()
        return lab_id


def change_laboratory(cmd: c.ChangeLaboratory, deps: Dependencies) -> Laboratory:
    """An edit or new evidence: the version moves and the verification starts again (what was verified changed)."""
    with deps.uow() as uow:
        lab = uow.laboratories.get(cmd.lab_id)
        uow.enterprise_admin.lock(lab.enterprise_id)  # one enterprise's changes queue up, as for its profile
        _require_maintainer(uow, cmd, LabOwner(lab.enterprise_id, lab.district))
        if cmd.version is not None and cmd.version != lab.version:
            raise ConcurrencyConflict(f"the laboratory changed since version {cmd.version}; reload it", field="version")
        if not uow.laboratories.change(lab.id, lab.version, cmd.details, cmd.evidence):
            raise ConcurrencyConflict("the laboratory was changed meanwhile; reload it", field="version")
        changed = uow.laboratories.get(lab.id)
        _record(uow, cmd, changed, "change_lab", {"before": _stated(lab), "after": _stated(changed)})
        _ask_verification(uow, changed)
        uow.commit()
        return changed


def _require_maintainer(uow: UnitOfWork, cmd: c.Command, owner: LabOwner) -> None:
    acting = uow.enterprise_admin.user(cmd.actor.user_id) if cmd.actor.user_id is not None else None
    require_lab_maintainer(cmd.actor, owner, acting is not None and acting.active and acting.is_admin)


def _ask_verification(uow: UnitOfWork, lab: Laboratory) -> None:
    params = {"lab": lab.name}
    ask_fan_out(uow, "lab_to_verify", lab.district, VERIFIERS, params, f"laboratory:{lab.id}:v{lab.version}")


# -- an officer of the district verifies ---------------------------------------------------------------------------


def verify_laboratory(cmd: c.VerifyLaboratory, deps: Dependencies) -> Laboratory:
    """R9(b): the officer confirms the stated level and accreditation against the evidence document.

    Certificates the lapse sweep held for this lab are released when the lab is valid again today and no other
    lab of theirs is still flagged (audited on each certificate).
    """
    today = deps.clock.today()
    with deps.uow() as uow:
        lab = uow.laboratories.get(cmd.lab_id, lock=True)
        require_lab_verifier(cmd.actor, lab)
        if cmd.version is not None and cmd.version != lab.version:
            raise ConcurrencyConflict(f"the laboratory changed since version {cmd.version}; reload it", field="version")
        if not lab.evidence_sha256:
            raise GuardFailed("attach the evidence document before the lab is verified (R9)", "R9", "evidence")
        if lab.verified:
            return lab  # a repeated request verifies nothing twice
        uow.laboratories.verify(lab.id, lab.version, today, cmd.actor.user_id)
        verified = uow.laboratories.get(lab.id)
        _record(uow, cmd, verified, "verify_lab", {"verified_on": today.isoformat(), **_stated(verified)})
        notify_enterprise(uow, lab.enterprise_id, "lab_verified", {"lab": lab.name})
        if verified.valid_on(today):
            _release_held(uow, verified)
        uow.commit()
        return verified


def _release_held(uow: UnitOfWork, lab: Laboratory) -> None:
    for certificate_id in uow.laboratories.flagged_certificates(lab.id):
        uow.laboratories.set_flag(certificate_id, lab.id, flagged=False)
        if uow.laboratories.still_flagged(certificate_id):
            continue
        certificate = uow.certificates.get(certificate_id)
        certificate.hold = False
        certificate.note("biosafety_restored", SYSTEM_ACTOR, f"laboratory {lab.name} verified valid", ("R62",),
                         {"lab_id": lab.id})  # fmt: skip
        uow.certificates.save(certificate)


# -- the daily sweep --------------------------------------------------------------------------------------------------


def flag_lapsed_laboratories(cmd: c.FlagLapsedLaboratories, deps: Dependencies) -> int:
    """R62 after grant: an active certificate whose lab's qualification ended is held for officer review.

    The hold sends every new declaration against it to a port officer (D2) instead of release. Each (certificate,
    lab) link is flagged once, so a second run, or a concurrent one (SKIP LOCKED), flags and notifies nothing again.
    """
    today = deps.clock.today()
    with deps.uow() as uow:
        found = uow.laboratories.lapsed_links(today)
        for certificate_id, lab_id in found:
            _flag(uow, certificate_id, uow.laboratories.get(lab_id))
        uow.commit()
    return len(found)


def _flag(uow: UnitOfWork, certificate_id: int, lab: Laboratory) -> None:
    uow.laboratories.set_flag(certificate_id, lab.id, flagged=True)
    certificate = uow.certificates.get(certificate_id)
    certificate.hold = True
    until = lab.valid_until.isoformat() if lab.valid_until else ""
    reason = f"laboratory {lab.name} was qualified until {until}, so declarations wait for officer review"
    certificate.note("biosafety_lapsed", SYSTEM_ACTOR, reason, ("R62", "R14"), {"lab_id": lab.id, "valid_until": until})
    uow.certificates.save(certificate)
    params = {"certificate_no": certificate.certificate_no, "lab": lab.name, "valid_until": until}
    notify_enterprise(uow, certificate.enterprise_id, "lab_lapsed", params)
    key = f"certificate:{certificate_id}:lab:{lab.id}"
    ask_fan_out(uow, "lab_lapsed", certificate.district, LAPSE_READERS, params, key)


# -- what decisions read ----------------------------------------------------------------------------------------------


def known_labs(uow: UnitOfWork, application: Application, on: dt.date, rule: BiosafetyRule) -> LabsKnown:
    """The filing enterprise's labs as they stand, judged on `on` (the date of the decision that reads them).

    Goods without a pathogen ask for no lab (R14), so they read none: the findings and `capability` answer them
    without looking at any.
    """
    if all(rule.minimum_level(line) is None for line in application.lines):
        return NO_LABS
    return LabsKnown(uow.laboratories.of_enterprise(application.enterprise_id), application.enterprise_id, on)


def lab_findings(uow: UnitOfWork, application: Application, policy: Policy, on: dt.date) -> tuple[LabFinding, ...]:
    """R9(b)/R14/R62 for every line of the application, against the enterprise's labs as they stand on `on`."""
    return known_labs(uow, application, on, policy.biosafety).findings(application.lines, policy.biosafety)


def with_lab_deficiencies(deficiencies: Sequence[str], findings: Sequence[LabFinding]) -> tuple[str, ...]:
    """R17 with R62: the one correction notice names every lab mismatch, whether or not the officer typed it."""
    named = [finding.sentence for finding in findings if finding.sentence not in deficiencies]
    return (*deficiencies, *named)


def _stated(lab: Laboratory) -> dict[str, Any]:
    return {name: value for name, value in lab.as_json().items() if name not in ("id", "enterprise_id", "district")}


def _record(uow: UnitOfWork, cmd: c.Command, lab: Laboratory, trigger: str, inputs: dict[str, Any]) -> None:
    uow.enterprise_admin.record("laboratory", lab.id, lab.name, lab.district, cmd.actor, trigger, inputs)


HANDLERS: dict[type[c.Command], Callable[[Any, Dependencies], Any]] = {
    c.RegisterLaboratory: register_laboratory,
    c.ChangeLaboratory: change_laboratory,
    c.VerifyLaboratory: verify_laboratory,
    c.FlagLapsedLaboratories: flag_lapsed_laboratories,
}
