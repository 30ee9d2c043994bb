"""Asynchronous review: the district's own risk assessment (R61–R63), statutory clocks (R17–R22) and their sweeps.

Referring an application pauses its clock and either reuses an entity-level assessment (R63), draws a panel from
the district's experts (R61), or, under a profile that refers high-risk goods to headquarters, records the
referral with the headquarters lead time. Sweeps raise each reminder or alert once and never grant anything.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from workflow.domain import commands as c
from workflow.domain import rules
from workflow.domain.actors import SYSTEM_ACTOR, Role
from workflow.domain.assessment import Assessment, Opinion, conclude, draw_panel, product_key
from workflow.domain.calendar import WorkingCalendar
from workflow.domain.clock import StatutoryClock, is_deemed_accepted
from workflow.domain.credit import credit_as_of
from workflow.domain.errors import ConcurrencyConflict, GuardFailed, PermissionDenied
from workflow.domain.guards import DecisionFacts
from workflow.domain.lifecycle import AppState
from workflow.domain.model import Application
from workflow.domain.policy import AssessorLevel, Policy
from workflow.service.notify import notify, notify_applicant
from workflow.service.officer_notifications import ask_fan_out, tell_officers
from workflow.service.ports import Dependencies, UnitOfWork
from workflow.service.replacements import carried_assessment

CLOCK_REMINDER_SHARE = 0.75


# -- referral (A7) --------------------------------------------------------------------------------------------------


def refer_assessment(cmd: c.ReferAssessment, deps: Dependencies) -> dict[str, Any]:
    """A7 + R61/R63: pause the clock and start (or reuse) the assessment, in one transaction."""
    with deps.uow() as uow:
        application = uow.applications.get(cmd.application_id)
        today = deps.clock.today(application.district)
        policy = deps.policies.policy_for(application.district, application.received_on or today)
        application.decision_facts = DecisionFacts(False, assessment=uow.assessments.standing(cmd.application_id))
        application.refer_assessment(cmd.actor, today, cmd.reason)  # its guards: a running clock, no rejection
        result = _start(uow, deps, application, policy, today)
        uow.applications.save(application)
        if "due_on" in result:  # R21: told the expected time in writing; a reused assessment concluded already
            notify_applicant(uow, application, "assessment_referred", {"expected_by": result["due_on"]})
        uow.commit()
    return result


def _start(
    uow: UnitOfWork, deps: Dependencies, application: Application, policy: Policy, today: date
) -> dict[str, Any]:
    key = product_key(application.lines[0].identity)
    carried = carried_assessment(uow, application)  # R43: a replacement whose risk facts did not move
    if carried is not None:
        return _reuse(uow, application, policy, key, carried[0], today, carried[1])
    reused = _reusable(uow, application, policy, key, today)
    if reused is not None:
        return _reuse(uow, application, policy, key, reused, today)
    route = policy.risk_assessment
    if route.assessor_level is AssessorLevel.GACC_HQ:
        return _refer_to_headquarters(uow, deps.calendar, application, policy, key, today)
    return _draw(uow, deps.calendar, application, policy, key, today)


def _reusable(uow: UnitOfWork, application: Application, policy: Policy, key: str, today: date) -> int | None:
    """R63, with §(e): a discredited enterprise gets no reuse of entity-level assessments."""
    if policy.risk_assessment.entity_reuse_months == 0:
        return None
    credit = credit_as_of(uow.enterprises.credit_records(application.enterprise_id), today, policy)
    if not policy.credit.terms_for(credit.tier).assessment_reuse_allowed:
        return None
    return uow.assessments.reusable(application.enterprise_id, key, today)


def _reuse(
    uow: UnitOfWork,
    application: Application,
    policy: Policy,
    key: str,
    reused: int,
    today: date,
    because: str = "",
) -> dict[str, Any]:
    assessment_id = _create(uow, application, policy, key, today, today, reused_from_id=reused)
    uow.assessments.conclude(assessment_id, Opinion.PASS, today, None)
    reason = because or f"entity-level assessment #{reused} reused (R63)"
    application.conclude_assessment(SYSTEM_ACTOR, Opinion.PASS.value, today, reason)
    return {"assessment_id": assessment_id, "reused_from": reused, "outcome": Opinion.PASS.value}


def _draw(
    uow: UnitOfWork, calendar: WorkingCalendar, application: Application, policy: Policy, key: str, today: date
) -> dict[str, Any]:
    route = policy.risk_assessment
    eligible = uow.assessments.eligible_experts(application.district, application.enterprise_id)
    if len(eligible) < route.quorum:
        raise GuardFailed(
            f"only {len(eligible)} eligible experts in {application.district}; the panel needs {route.quorum}",
            rule_id="R61",
        )
    panel = draw_panel(eligible, route.panel_size, seed=application.reference)
    due_on = calendar.add_working_days(today, route.opinion_working_days)
    assessment_id = _create(uow, application, policy, key, today, due_on)
    uow.assessments.add_seats(assessment_id, panel, due_on)
    application.note(
        "panel_drawn",
        SYSTEM_ACTOR,
        rule_ids=("R61",),
        inputs={"assessment_id": assessment_id, "eligible": eligible, "panel": panel, "seed": application.reference},
    )
    notify(uow, panel, "assessment_assigned", {"reference": application.reference, "due_on": due_on.isoformat()})
    return {"assessment_id": assessment_id, "panel": panel, "due_on": due_on.isoformat()}


def _refer_to_headquarters(
    uow: UnitOfWork, calendar: WorkingCalendar, application: Application, policy: Policy, key: str, today: date
) -> dict[str, Any]:
    """legacy-2015: high-risk goods go to GACC headquarters' experts and take the profile's lead time."""
    due_on = calendar.add_working_days(today, policy.risk_assessment.hq_lead_time_working_days)
    assessment_id = _create(uow, application, policy, key, today, due_on)
    application.note(
        "referred_to_headquarters",
        SYSTEM_ACTOR,
        rule_ids=("R61",),
        inputs={"assessment_id": assessment_id, "expected_by": due_on.isoformat()},
    )
    return {"assessment_id": assessment_id, "assessor_level": AssessorLevel.GACC_HQ.value, "due_on": due_on.isoformat()}


def _create(
    uow: UnitOfWork,
    application: Application,
    policy: Policy,
    key: str,
    today: date,
    due_on: date,
    reused_from_id: int | None = None,
) -> int:
    route = policy.risk_assessment
    assert application.id is not None
    return uow.assessments.create(
        application_id=application.id,
        enterprise_id=application.enterprise_id,
        product_key=key,
        assessor_level=route.assessor_level.value,
        state="open",
        panel_size=route.panel_size,
        quorum=route.quorum,
        conclusion_rule=route.conclusion.value,
        started_on=today,
        due_on=due_on,
        reused_from_id=reused_from_id,
    )


def override_assessment(cmd: c.OverrideAssessment, deps: Dependencies) -> None:
    """A8: the head's written override of the panel's rejection; audited on the application, kept on the assessment."""
    with deps.uow() as uow:
        application = uow.applications.get(cmd.application_id)
        standing = uow.assessments.standing(cmd.application_id)
        application.decision_facts = DecisionFacts(True, assessment=standing)
        application.override_assessment(cmd.actor, cmd.reason, standing.assessment_id if standing else 0)
        assert standing is not None  # the guard refused a file with no rejection to override
        today = deps.clock.today(application.district)
        if not uow.assessments.override(standing.assessment_id, cmd.actor.user_id, cmd.reason, today):
            raise ConcurrencyConflict(f"risk assessment {standing.assessment_id} was overridden concurrently")
        told = {"reference": application.reference, "reason": cmd.reason}
        notify(uow, [user for user in (application.reviewer_id,) if user is not None], "assessment_overridden", told)
        # the deciders, however many, through one outbox row (workflow/service/officer_notifications.py)
        ask_fan_out(uow, "assessment_overridden", application.district, (Role.DECIDER,), told,
                    f"assessment:{standing.assessment_id}")  # fmt: skip
        uow.applications.save(application)
        uow.commit()


# -- opinions and conclusion (A8) -----------------------------------------------------------------------------------


def submit_opinion(cmd: c.SubmitOpinion, deps: Dependencies) -> dict[str, Any]:
    """A8: an expert's opinion; once the profile's rule can conclude, the file returns to review."""
    with deps.uow() as uow:
        assessment = _open_assessment(uow, cmd.assessment_id)
        seat = next((s for s in assessment.seats if s.expert_id == cmd.actor.user_id), None)
        if cmd.actor.role is not Role.EXPERT or seat is None:
            raise PermissionDenied("only an expert on this panel gives an opinion", rule_id="R61")
        if not uow.assessments.record_opinion(seat.id, cmd.opinion, cmd.reason):
            raise ConcurrencyConflict("this expert's opinion was already recorded")
        outcome = conclude(
            [cmd.opinion if s.id == seat.id else s.opinion for s in assessment.seats],
            assessment.quorum,
            assessment.conclusion_rule,
        )
        if outcome is not None:
            _conclude(uow, deps, assessment, outcome, f"panel concluded: {outcome.value}")
        uow.commit()
    return {
        "assessment_id": assessment.id,
        "concluded": outcome is not None,
        "outcome": outcome.value if outcome else None,
    }


def record_headquarters_opinion(cmd: c.RecordHeadquartersOpinion, deps: Dependencies) -> dict[str, Any]:
    """legacy-2015: the reviewer records the headquarters experts' conclusion when it arrives."""
    with deps.uow() as uow:
        assessment = _open_assessment(uow, cmd.assessment_id)
        if assessment.assessor_level != AssessorLevel.GACC_HQ.value or cmd.actor.role is not Role.REVIEWER:
            raise PermissionDenied("a reviewer records headquarters' conclusion on a referred file", rule_id="R61")
        _conclude(uow, deps, assessment, cmd.opinion, cmd.reason or "headquarters concluded")
        uow.commit()
    return {"assessment_id": assessment.id, "concluded": True, "outcome": cmd.opinion.value}


def _open_assessment(uow: UnitOfWork, assessment_id: int) -> Assessment:
    assessment = uow.assessments.get(assessment_id)
    if assessment.state != "open":
        raise GuardFailed(f"risk assessment {assessment_id} is already {assessment.state}", rule_id="A8")
    return assessment


def _conclude(uow: UnitOfWork, deps: Dependencies, assessment: Assessment, outcome: Opinion, reason: str) -> None:
    """A8: the outcome returns the file to review and resumes the clock; a pass may be reused later (R63)."""
    application = uow.applications.get(assessment.application_id)
    today = deps.clock.today(application.district)
    policy = deps.policies.policy_for(application.district, application.received_on or today)
    months = policy.risk_assessment.entity_reuse_months
    reuse_until = rules.add_months(today, months) if outcome is Opinion.PASS and months else None
    if not uow.assessments.conclude(assessment.id, outcome, today, reuse_until):
        raise ConcurrencyConflict(f"risk assessment {assessment.id} was concluded concurrently")
    application.conclude_assessment(SYSTEM_ACTOR, outcome.value, today, reason)
    uow.applications.save(application)
    recipients = [user for user in (application.reviewer_id,) if user is not None]
    notify(uow, recipients, "assessment_concluded", {"reference": application.reference, "outcome": outcome.value})


# -- sweeps ---------------------------------------------------------------------------------------------------------


def remind_panels(cmd: c.RemindPanels, deps: Dependencies) -> int:
    """One reminder per awaited opinion, from the working day before it is due."""
    reminded = 0
    for today, scope in deps.clock.local_days():  # each district from its own local date
        with deps.uow() as uow:
            due = uow.assessments.seats_to_remind(deps.calendar.next_working_day(today), scope)
            for seat_id, expert_id, application_id, due_on in due:
                reference = uow.applications.get(application_id).reference
                notify(uow, [expert_id], "assessment_reminder", {"reference": reference, "due_on": due_on.isoformat()})
                uow.assessments.mark_reminded(seat_id)
            uow.commit()
        reminded += len(due)
    return reminded


def sweep_clocks(cmd: c.SweepClocks, deps: Dependencies) -> int:
    """R19–R22: a reminder at 75 % of the statutory time and an alert on breach, each once; never a grant (A13)."""
    raised = 0
    with deps.uow() as uow:
        for row in uow.assessments.running_clocks():
            raised += _clock_alerts(uow, deps.calendar, row, deps.clock.today(row.district))
        uow.commit()
    return raised


def _clock_alerts(uow: UnitOfWork, calendar: WorkingCalendar, row: Any, today: date) -> int:
    clock = StatutoryClock.from_dict(row.clock)
    due_on = clock.due_date(calendar)
    if due_on != row.decision_due_on:
        uow.assessments.store_due_on(row.id, due_on)
    if due_on is None:
        return 0
    officers = [user for user in (row.reviewer_id or row.acceptor_id,) if user is not None]
    params = {"reference": row.reference, "due_on": due_on.isoformat()}
    if clock.is_breached(calendar, today):
        if not uow.assessments.raise_clock_alert(row.id, "breach"):
            return 0  # raised before, or by a sweep running beside this one
        notify(uow, officers + uow.assessments.users_with_role(row.district, Role.HEAD), "clock_breach", params)
        return 1
    share = clock.fraction_used(calendar, today)
    if share >= CLOCK_REMINDER_SHARE and uow.assessments.raise_clock_alert(row.id, "reminder_75"):
        notify(uow, officers, "clock_reminder", {**params, "percent": str(int(share * 100))})
        if not clock.extended:  # A9 / R20: only the head extends, and only once, so the heads are asked now
            ask_fan_out(uow, "extension_due", row.district, (Role.HEAD,), params, f"application:{row.id}")
        return 1
    return 0


def deem_acceptances(cmd: c.DeemAcceptances, deps: Dependencies) -> int:
    """R17: an application with no correction notice within the window counts as accepted from its receipt."""
    with deps.uow() as uow:
        candidates = [row.id for row in uow.assessments.awaiting_acceptance()]
    return sum(_deem_one(deps, application_id) for application_id in candidates)


def _deem_one(deps: Dependencies, application_id: int) -> int:
    """One transaction per application: an acceptor acting meanwhile wins, and the sweep moves on."""
    try:
        with deps.uow() as uow:
            application = uow.applications.get(application_id)
            today = deps.clock.today(application.district)
            policy = deps.policies.policy_for(application.district, application.received_on or today)
            limits = policy.limits.clock_limits()
            if (
                application.state is not AppState.SUBMITTED
                or application.correction_notices
                or not (
                    application.received_on
                    and is_deemed_accepted(deps.calendar, application.received_on, today, limits)
                )
            ):
                return 0
            application.accept(SYSTEM_ACTOR, today, limits, deemed=True)
            tell_officers(uow, application)  # the reviewers' queue has new work, deemed accepted or not
            uow.applications.save(application)
            notify_applicant(uow, application, "application_accepted", {})
            uow.commit()
    except ConcurrencyConflict:
        return 0
    return 1


def declare_conflict(cmd: c.DeclareConflict, deps: Dependencies) -> None:
    """An expert's tie to an enterprise, recorded by an administrator or the expert: never drawn for it."""
    if cmd.actor.role not in (Role.ADMIN, Role.EXPERT) or (
        cmd.actor.role is Role.EXPERT and cmd.actor.user_id != cmd.expert_id
    ):
        raise PermissionDenied("conflicts are declared by the expert or an administrator", rule_id="R61")
    with deps.uow() as uow:
        uow.assessments.add_conflict(cmd.expert_id, cmd.enterprise_id, cmd.reason)
        uow.commit()


HANDLERS: dict[type[c.Command], Callable[[Any, Dependencies], Any]] = {
    c.ReferAssessment: refer_assessment,
    c.OverrideAssessment: override_assessment,
    c.SubmitOpinion: submit_opinion,
    c.RecordHeadquartersOpinion: record_headquarters_opinion,
    c.RemindPanels: remind_panels,
    c.SweepClocks: sweep_clocks,
    c.DeemAcceptances: deem_acceptances,
    c.DeclareConflict: declare_conflict,
}
