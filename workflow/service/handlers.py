"""Command handlers: load the aggregate, let the domain decide, save state + audit + outbox in one transaction."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

from workflow.domain import commands as c
from workflow.domain import rules
from workflow.domain.bans import BanGround, ban_for
from workflow.domain.clock import ClockLimits
from workflow.domain.credit import credit_as_of
from workflow.domain.errors import ConcurrencyConflict, InvalidInput, NotFound
from workflow.domain.goods import Direction, GoodsLine, ProductIdentity, RiskGrade
from workflow.domain.guards import AssessmentStanding, DecisionFacts
from workflow.domain.model import Application, Certificate, CertificateLine, checked_ports
from workflow.domain.policy import Policy
from workflow.service.biosafety import known_labs, lab_findings, with_lab_deficiencies
from workflow.service.lab_checks import capability
from workflow.service.notify import deficiency_list, notify_applicant
from workflow.service.officer_notifications import tell_acceptors, tell_officers
from workflow.service.ports import Dependencies, StepFacts, UnitOfWork, Wanted
from workflow.service.precheck import explain
from workflow.service.replacements import replacement_screening, supersede_replaced

Handler = Callable[[Any, Dependencies], Any]
Notice = tuple[str, Mapping[str, str]]  # a notification kind for the applicant and its params beside the reference


def create_application(cmd: c.CreateApplication, deps: Dependencies) -> int:
    """A draft with its goods lines; only the enterprise's own users may file for it."""
    if cmd.actor.enterprise_id != cmd.enterprise_id:
        raise InvalidInput("applicants file only for their own enterprise", field="enterprise_id")
    if not cmd.lines:
        raise InvalidInput("an application has at least one goods line", field="lines")
    with deps.uow() as uow:
        policy = deps.policies.policy_for(cmd.district, deps.clock.today(cmd.district))
        application = Application(
            enterprise_id=cmd.enterprise_id,
            district=cmd.district,
            direction=cmd.direction,
            lines=list(cmd.lines),
            ports=checked_ports(cmd.ports),
            policy_id=policy.id,
            policy_hash=policy.content_hash,
        )
        application = uow.applications.add(application)
        uow.commit()
        assert application.id is not None
        return application.id


def revise_draft(cmd: c.ReviseDraft, deps: Dependencies) -> None:
    """The applicant's edit: new direction and lines in the version-guarded transaction of the application."""
    with deps.uow() as uow:
        application = uow.applications.get(cmd.application_id)
        if cmd.version is not None and cmd.version != application.version:
            raise ConcurrencyConflict(f"the application changed since version {cmd.version}; reload it")
        application.revise(cmd.actor, cmd.direction, cmd.lines, cmd.ports)
        uow.applications.save(application)  # guarded: of two concurrent edits one wins, the other conflicts
        uow.applications.replace_lines(application)
        uow.commit()


def claim_application(cmd: c.ClaimApplication, deps: Dependencies) -> None:
    with deps.uow() as uow:
        application = uow.applications.get(cmd.application_id)
        if application.claim(cmd.actor, deps.clock.now()):
            _save(uow, application)


def unclaim_application(cmd: c.UnclaimApplication, deps: Dependencies) -> None:
    with deps.uow() as uow:
        application = uow.applications.get(cmd.application_id)
        application.unclaim(cmd.actor, deps.clock.now())
        _save(uow, application)


def reassign_application(cmd: c.ReassignApplication, deps: Dependencies) -> None:
    with deps.uow() as uow:
        application = uow.applications.get(cmd.application_id)
        target = uow.enterprises.officer(cmd.user_id)
        if target is None:
            raise InvalidInput(f"no active officer {cmd.user_id}", field="user_id")
        application.reassign(cmd.actor, target, deps.clock.now())
        _save(uow, application)


def attach_document(cmd: c.AttachDocument, deps: Dependencies) -> int:
    """R16: a typed attachment, stored by content hash outside any served folder."""
    digest = deps.documents.put(cmd.content)
    with deps.uow() as uow:
        application = uow.applications.get(cmd.application_id)
        application.require_editable_by(cmd.actor)
        doc_id = uow.documents.add(
            cmd.application_id,
            cmd.doc_type,
            cmd.filename,
            cmd.content_type,
            len(cmd.content),
            digest,
            cmd.actor.user_id,
        )
        uow.commit()
        return doc_id


def remove_document(cmd: c.RemoveDocument, deps: Dependencies) -> None:
    """R16: the row is marked removed, not deleted, in the file's version-guarded transaction, with its audit event."""
    with deps.uow() as uow:
        application = uow.applications.get(cmd.application_id)
        application.require_editable_by(cmd.actor)
        removed = uow.documents.remove(cmd.application_id, cmd.document_id, cmd.actor.user_id)
        if removed is None:
            raise NotFound(f"no attached document {cmd.document_id} on application {cmd.application_id}")
        application.record_document_removed(cmd.actor, cmd.document_id, removed)
        _save(uow, application)


def submit_application(cmd: c.SubmitApplication, deps: Dependencies) -> None:
    """A1: attach-check, then SUBMITTED; screening is asked for through the outbox."""
    with deps.uow() as uow:
        application = uow.applications.get(cmd.application_id)
        today = deps.clock.today(application.district)
        _adopt_policy(application, deps, today)  # the policy in force on submission governs from now on
        attached, required = _filing(uow, application, today)
        application.submit(cmd.actor, today, attached, required)
        _save(uow, application)


def resubmit_application(cmd: c.ResubmitApplication, deps: Dependencies) -> None:
    with deps.uow() as uow:
        application = uow.applications.get(cmd.application_id)
        today = deps.clock.today(application.district)
        attached, required = _filing(uow, application, today)
        application.resubmit(cmd.actor, today, attached, required)
        _save(uow, application)


def _filing(uow: UnitOfWork, application: Application, on: date) -> tuple[set[str], list[str]]:
    """A1 / R12–R16 / R26 in one read: the documents attached and those required.

    Whether a ban in force on the day of submission keeps the applicant from filing goes on the application's facts.
    """
    wanted = Wanted(enterprise=True, banned_on=on, documents=True)
    facts = uow.step_reads.read(application.id or 0, application.enterprise_id, wanted)
    application.decision_facts = DecisionFacts(banned_until=facts.banned_until)
    return set(facts.attached), list(_documents(application, facts).result)


def withdraw_application(cmd: c.WithdrawApplication, deps: Dependencies) -> None:
    """A12; a file withdrawn while assessed closes its open assessment, so no expert is asked or reminded again."""
    with deps.uow() as uow:
        application = uow.applications.get(cmd.application_id)
        application.withdraw(cmd.actor, cmd.reason)
        uow.assessments.cancel_open(cmd.application_id, deps.clock.today(application.district))
        _save(uow, application)


def accept_application(cmd: c.AcceptApplication, deps: Dependencies) -> None:
    _act(deps, cmd, lambda app, ctx: app.accept(cmd.actor, ctx.today, ctx.limits), ("application_accepted", {}))


def request_correction(cmd: c.RequestCorrection, deps: Dependencies) -> None:
    """A2 / R17: one notice lists every deficiency, the lab mismatches of R9(b)/R14/R62 named among them."""
    with deps.uow() as uow:
        application = uow.applications.get(cmd.application_id)
        today = deps.clock.today(application.district)
        policy = deps.policies.policy_for(application.district, application.received_on or today)
        listed = with_lab_deficiencies(cmd.deficiencies, lab_findings(uow, application, policy, today))
        application.request_correction(cmd.actor, listed, today, deps.calendar, policy.limits.clock_limits())
        _save(uow, application, ("correction_requested", {"deficiencies": deficiency_list(listed)}))


def not_accept_application(cmd: c.NotAcceptApplication, deps: Dependencies) -> None:
    _act(
        deps,
        cmd,
        lambda app, ctx: app.not_accept(cmd.actor, cmd.reason, cmd.rule_ids),
        ("application_not_accepted", {"reason": cmd.reason}),
    )


def start_review(cmd: c.StartReview, deps: Dependencies) -> None:
    _act(deps, cmd, lambda app, ctx: app.start_review(cmd.actor))


def record_review_opinion(cmd: c.RecordReviewOpinion, deps: Dependencies) -> None:
    """A6: the reviewer's opinion, audited in the file's version-guarded transaction; it frees the file for decision."""
    with deps.uow() as uow:
        application = uow.applications.get(cmd.application_id)
        application.record_review_opinion(cmd.actor, cmd.recommendation, cmd.reason)
        _save(uow, application)


def extend_deadline(cmd: c.ExtendDeadline, deps: Dependencies) -> None:
    _act(deps, cmd, lambda app, ctx: app.extend(cmd.actor, cmd.reason))


def deny_application(cmd: c.DenyApplication, deps: Dependencies) -> None:
    """A11 / R25, and R26: a denial for false or concealed information bars the applicant for a year."""
    with deps.uow() as uow:
        application = uow.applications.get(cmd.application_id)
        today = deps.clock.today(application.district)
        ban = ban_for(application.enterprise_id, BanGround.FALSE_INFORMATION, today) if cmd.false_information else None
        application.deny(cmd.actor, cmd.reason, ban)
        uow.applications.count_decision(application, today)
        if ban is not None:
            uow.enterprises.add_ban(ban, f"application {application.reference}", cmd.reason, deps.clock.now())
        _save(uow, application, ("application_denied", {"reason": cmd.reason}))


def grant_application(cmd: c.GrantApplication, deps: Dependencies) -> int:
    """A10 + C1: the decision and the certificate it creates are one transaction."""
    with deps.uow() as uow:
        application = uow.applications.get(cmd.application_id)
        today = deps.clock.today(application.district)
        policy = deps.policies.policy_for(application.district, application.received_on or today)
        suggested = rules.grade_application(application.lines, application.direction, policy).result
        grade = cmd.grade or suggested
        # The latest assessment, the credit, the earlier grants of the application's products and the certificate it
        # replaces (R43), in one read; on PostgreSQL it also draws the id of the certificate this grant issues.
        products = _identities(application)
        wanted = Wanted(assessment=True, credit=True, products=products, replacement=True, certificate_id=True)
        read = uow.step_reads.read(application.id or 0, application.enterprise_id, wanted)
        facts = decision_facts(application, policy, (grade, suggested), read.assessment)
        labs = tuple(found.sentence for found in lab_findings(uow, application, policy, today))  # R62 on this day
        application.decision_facts = replace(facts, lab_findings=labs)
        application.grant(cmd.actor, grade, cmd.reason)  # its guards read the facts in this transaction
        uow.applications.count_decision(application, today)
        issued = _issue_certificate(application, policy, today, read)
        application.paperless = issued.paperless  # the decided facts, stored for queues and reports
        # The version-guarded UPDATE goes with the commit's last statement; of two grants of one file the second
        # waits on UNIQUE (application_id) and conflicts, and any other change that won fails this commit's guard.
        uow.applications.save(application, at_commit=True)
        # Its rows go with the commit too, unless the grant supersedes a certificate: that reads the new one first.
        certificate = uow.certificates.add(issued, at_commit=read.replaces is None)
        assert certificate.id is not None
        # Read above before it is written here: the application's own products were not granted before it. Only those
        # read as never granted are written; a granted product's row is never removed, so the others are still there
        # at commit, and a grant of known products (a repeat import) writes no row at all (#15).
        new = tuple(identity for identity in products if identity not in read.granted)
        if new:
            uow.enterprises.add_granted(application.enterprise_id, certificate.application_id, new)
        uow.laboratories.link(certificate.id, [line.lab_id for line in application.lines if line.lab_id is not None])
        supersede_replaced(uow, deps, application, certificate, read.replaces)  # R43: it cancels what it replaces
        granted = {"certificate_no": certificate.certificate_no, "valid_until": certificate.valid_until.isoformat()}
        notify_applicant(uow, application, "application_granted", granted)
        uow.commit()
        return certificate.id


def decision_facts(
    application: Application,
    policy: Policy,
    grades: tuple[RiskGrade, RiskGrade],
    assessment: AssessmentStanding | None,
) -> DecisionFacts:
    """R32 / A8: whether a risk assessment is required, and where the latest one stands.

    Required when the screening or either grade requires it — the one decided and the one the goods suggest, so
    setting a lower grade by hand (R34) does not skip the panel; read in the deciding transaction.
    """
    screened = ((application.screening or {}).get("risk_assessment") or {}).get("result") or {}
    requiring = [g for g in dict.fromkeys(grades) if rules.risk_assessment_route(g, policy).result.required]
    because = f"grade {requiring[0].value} under {policy.id}" if requiring else "the screening requires it"
    return DecisionFacts(
        assessment_required=bool(requiring) or bool(screened.get("required")),
        required_because=because,
        assessment=assessment,
    )


def screen_application(cmd: c.ScreenApplication, deps: Dependencies) -> bool:
    """The screening task: completeness, scope, suggested grade, credit, first-time and paperless, with rule ids.

    Idempotent: a submission already screened is left alone, so a re-delivered task writes nothing.
    """
    with deps.uow() as uow:
        application = uow.applications.get(cmd.application_id)
        if not application.needs_screening():
            return False
        received_on = application.received_on or deps.clock.today(application.district)
        policy = deps.policies.policy_for(application.district, received_on)
        facts = _screening_facts(uow, application)
        screening = _screen(uow, application, policy, facts)
        replacement = replacement_screening(uow, application, facts.replaces)  # R43: unchanged lines keep theirs
        application.record_screening({**screening, "replacement": replacement} if replacement else screening)
        _store_screened_facts(application)
        tell_acceptors(uow, application)  # in this transaction: one task per submission, not two (#15)
        _save(uow, application)
        return True


# -- helpers --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ActionContext:
    """What a customs action may need besides the aggregate: the day, and the governing policy's limits."""

    today: date
    policy: Policy

    @property
    def limits(self) -> ClockLimits:
        return self.policy.limits.clock_limits()


def _act(
    deps: Dependencies,
    cmd: c.ApplicationCommand,
    action: Callable[[Application, ActionContext], None],
    *notices: Notice,
) -> None:
    with deps.uow() as uow:
        application = uow.applications.get(cmd.application_id)
        today = deps.clock.today(application.district)
        # The policy adopted on the day of receipt governs the whole file, whatever the district adopts later.
        policy = deps.policies.policy_for(application.district, application.received_on or today)
        action(application, ActionContext(today, policy))
        _save(uow, application, *notices)


def _save(uow: UnitOfWork, application: Application, *notices: Notice) -> None:
    """The applicant's notifications commit with the change they tell of, after its version guard has held."""
    tell_officers(uow, application)  # reads the transitions `save` is about to take; one outbox row per notice
    # Nothing below reads the application's row: its guarded UPDATE goes with the commit's last statement, and a
    # lost race fails the commit with the same conflict (workflow/store/together.py).
    uow.applications.save(application, at_commit=True)
    for kind, params in notices:
        notify_applicant(uow, application, kind, params)
    uow.commit()


def _adopt_policy(application: Application, deps: Dependencies, on: date) -> Policy:
    """The policy a district has adopted on the day of submission governs the application (and is audited)."""
    policy = deps.policies.policy_for(application.district, on)
    application.policy_id, application.policy_hash = policy.id, policy.content_hash
    return policy


def _store_screened_facts(application: Application) -> None:
    """First-time (R60) and paperless (R58) as screened, in their columns, so filters and reports read a column."""
    screening = application.screening or {}
    application.is_first_time = bool(screening["first_time"]["result"])
    if "paperless" in screening:
        application.paperless = bool(screening["paperless"]["result"])


def _first_time(application: Application, granted: Collection[ProductIdentity]) -> rules.Decision[bool]:
    """R60: first time if any line's product was never granted to the enterprise."""
    decisions = [rules.is_first_time(line.identity, granted) for line in application.lines]
    return next((d for d in decisions if d.result), decisions[0])


def _identities(application: Application) -> tuple[ProductIdentity, ...]:
    return tuple(line.identity for line in application.lines)


def _documents(application: Application, facts: StepFacts) -> rules.Decision[tuple[str, ...]]:
    """R12–R16 on the enterprise as read in the step's transaction (R15: whether it was granted anything at all)."""
    return documents_needed(application.lines, application.direction, facts.has_grant, facts.natural_person)


def documents_needed(
    lines: Sequence[GoodsLine], direction: Direction, has_grant: bool, natural_person: bool
) -> rules.Decision[tuple[str, ...]]:
    """R12–R16: the documents the goods need, on facts already read (the application page reads its own).

    R15 asks about the entity's first application (no grant at all), not R60's new product: an established
    enterprise importing a new product files no licence again (the pre-check decides it the same way).
    """
    return rules.required_documents(lines, direction, not has_grant, natural_person)


def required_documents(uow: UnitOfWork, application: Application) -> list[str]:
    """R12–R16: the one list the submission check applies and the application page shows as chips."""
    facts = uow.step_reads.read(application.id or 0, application.enterprise_id, Wanted(enterprise=True))
    return list(_documents(application, facts).result)


def _screening_facts(uow: UnitOfWork, application: Application) -> StepFacts:
    """In one read: the enterprise, the documents attached, its credit and grants, and what the file replaces (R43)."""
    wanted = Wanted(enterprise=True, documents=True, credit=True, products=_identities(application), replacement=True)
    return uow.step_reads.read(application.id or 0, application.enterprise_id, wanted)


def _screen(uow: UnitOfWork, application: Application, policy: Policy, facts: StepFacts) -> dict[str, Any]:
    on = application.received_on
    assert on is not None
    credit = credit_as_of(facts.credit_records, on, policy)
    first_time = _first_time(application, facts.granted)
    scope = [rules.scope(line, application.direction, policy) for line in application.lines]
    in_scope = all(decision.result for decision in scope)
    decisions: dict[str, rules.Decision[Any]] = {"first_time": first_time}
    if in_scope:
        grade = rules.grade_application(application.lines, application.direction, policy)
        decisions |= {
            "grade": grade,
            "paperless": rules.paperless(
                grade.result, application.direction, bool(first_time.result), credit.tier, policy
            ),
            "follow_up": rules.follow_up_required(grade.result, application.direction, policy),
            "risk_assessment": rules.risk_assessment_route(grade.result, policy),
            "biosafety": capability(
                application.lines, known_labs(uow, application, on, policy.biosafety), policy.biosafety
            ),
        }
    required, attached = _documents(application, facts), facts.attached
    return {
        "received_on": on.isoformat(),
        "in_scope": in_scope,
        "scope": [explain(decision) for decision in scope],
        "credit_tier": str(credit.tier),
        "documents_complete": all(doc in attached for doc in required.result),
        "required_documents": explain(required),
        **{name: explain(decision) for name, decision in decisions.items()},
    }


def _issue_certificate(application: Application, policy: Policy, today: date, read: StepFacts) -> Certificate:
    """C1: validity from the issue date (R36–R37), write-off mode (R40–R41), paperless (R58) and follow-up (R53).

    Paperless reads the credit in force today and R60's first time, from the enterprise's grants before this one.
    """
    grade = application.grade
    assert grade is not None and application.id is not None
    credit = credit_as_of(read.credit_records, today, policy)
    first_time = bool(_first_time(application, read.granted).result)
    application.is_first_time = first_time
    certificate = Certificate(
        id=read.certificate_id,  # drawn by the read (PostgreSQL); None: the insert draws it
        application_id=application.id,
        enterprise_id=application.enterprise_id,
        district=application.district,
        direction=application.direction,
        grade=grade,
        write_off_mode=rules.write_off_mode(grade, policy).result,
        paperless=bool(rules.paperless(grade, application.direction, first_time, credit.tier, policy).result),
        follow_up=bool(rules.follow_up_required(grade, application.direction, policy).result),
        valid_from=today,
        valid_until=rules.validity_until(today, grade, policy).result,
        lines=[
            CertificateLine(line_no=n, name_zh=line.name_zh, unit=line.unit, approved_qty=line.quantity)
            for n, line in enumerate(application.lines, start=1)
        ],
        policy_id=policy.id,
        policy_hash=policy.content_hash,
    )
    certificate.record_issue()
    return certificate


HANDLERS: dict[type[c.Command], Handler] = {
    c.CreateApplication: create_application,
    c.ReviseDraft: revise_draft,
    c.ClaimApplication: claim_application,
    c.UnclaimApplication: unclaim_application,
    c.ReassignApplication: reassign_application,
    c.AttachDocument: attach_document,
    c.RemoveDocument: remove_document,
    c.SubmitApplication: submit_application,
    c.ResubmitApplication: resubmit_application,
    c.WithdrawApplication: withdraw_application,
    c.ScreenApplication: screen_application,
    c.AcceptApplication: accept_application,
    c.RequestCorrection: request_correction,
    c.NotAcceptApplication: not_accept_application,
    c.StartReview: start_review,
    c.RecordReviewOpinion: record_review_opinion,
    c.ExtendDeadline: extend_deadline,
    c.GrantApplication: grant_application,
    c.DenyApplication: deny_application,
}
