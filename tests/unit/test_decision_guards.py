"""The decision guards on the application aggregate: each refusal names its rule and leaves the file as it was."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from config.holidays import load_calendar
from tests.integration.support import fx04_ecoli
from workflow.domain.actors import Actor, Role
from workflow.domain.clock import StatutoryClock
from workflow.domain.errors import DomainError, GuardFailed, PermissionDenied
from workflow.domain.goods import RiskGrade
from workflow.domain.guards import AssessmentOutcome, AssessmentStanding, DecisionFacts
from workflow.domain.lifecycle import AppState
from workflow.domain.model import Application

ACCEPTOR = Actor(1, Role.ACCEPTOR, district="xiamen")
REVIEWER = Actor(2, Role.REVIEWER, district="xiamen")
DECIDER = Actor(3, Role.DECIDER, district="xiamen")
HEAD = Actor(4, Role.HEAD, district="xiamen")
EXPERT = Actor(5, Role.EXPERT, district="xiamen")
DAY = date(2016, 6, 1)


def under_review(facts: DecisionFacts | None = None) -> Application:
    return Application(
        id=7,
        state=AppState.UNDER_REVIEW,
        enterprise_id=9,
        district="xiamen",
        lines=[fx04_ecoli()],
        acceptor_id=ACCEPTOR.user_id,
        reviewer_id=REVIEWER.user_id,
        clock=StatutoryClock(accepted_on=DAY),
        # The lab check (R62) has its own tests (test_biosafety.py): here the labs were read and matched.
        decision_facts=facts if facts is None or facts.lab_findings is not None else replace(facts, lab_findings=()),
    )


def standing(outcome: AssessmentOutcome, overridden: bool = False) -> DecisionFacts:
    return DecisionFacts(True, "grade B", AssessmentStanding(11, outcome, overridden))


def refused(application: Application, action: str, *args: object) -> DomainError:
    with pytest.raises(DomainError) as caught:
        getattr(application, action)(*args)
    assert application.state is AppState.UNDER_REVIEW
    assert application.pending == []
    return caught.value


@pytest.mark.parametrize(
    ("facts", "rule_id", "words"),
    [
        pytest.param(None, "R32", "facts were not read", id="facts-not-read"),
        pytest.param(DecisionFacts(True, "grade B"), "R32", "refer the application", id="R32-never-assessed"),
        pytest.param(standing(AssessmentOutcome.OPEN), "R32", "not concluded", id="R32-still-open"),
        pytest.param(standing(AssessmentOutcome.CORRECT), "R32", "more documents", id="R32-asked-for-documents"),
        pytest.param(standing(AssessmentOutcome.REJECT), "A8", "panel rejected", id="A8-rejected"),
    ],
)
def test_grant_is_refused_until_the_required_assessment_allows_it(
    facts: DecisionFacts | None, rule_id: str, words: str
) -> None:
    error = refused(under_review(facts), "grant", DECIDER, RiskGrade.B, "granted")

    assert isinstance(error, GuardFailed)
    assert error.rule_id == rule_id
    assert words in error.message


@pytest.mark.parametrize(
    "facts",
    [
        pytest.param(DecisionFacts(False), id="not-required"),
        pytest.param(standing(AssessmentOutcome.PASS), id="R32-passed"),
        pytest.param(standing(AssessmentOutcome.REJECT, overridden=True), id="A8-rejection-overridden"),
        pytest.param(DecisionFacts(False, assessment=AssessmentStanding(3, AssessmentOutcome.PASS)), id="optional"),
    ],
)
def test_grant_goes_through_once_the_assessment_allows_it(facts: DecisionFacts) -> None:
    application = under_review(facts)

    application.grant(DECIDER, RiskGrade.B, "granted")

    assert application.state is AppState.GRANTED
    assert application.pending[-1].trigger == "grant"


def test_r11_the_reviewer_cannot_decide_the_file_they_reviewed() -> None:
    error = refused(under_review(DecisionFacts(False)), "grant", Actor(2, Role.DECIDER, district="xiamen"), RiskGrade.C)

    assert isinstance(error, PermissionDenied)
    assert error.rule_id == "R11"


def test_r25_a_denial_without_written_reasons_is_refused_at_the_field() -> None:
    error = refused(under_review(), "deny", DECIDER, "   ")

    assert (error.rule_id, error.field) == ("R25", "reason")


def test_a8_the_head_overrides_a_rejection_only_in_writing_and_only_once() -> None:
    assert (
        refused(under_review(standing(AssessmentOutcome.REJECT)), "override_assessment", HEAD, "", 11).rule_id == "A8"
    )
    error = refused(under_review(standing(AssessmentOutcome.PASS)), "override_assessment", HEAD, "why", 11)
    assert "only a panel's rejection" in error.message
    error = refused(under_review(standing(AssessmentOutcome.REJECT, True)), "override_assessment", HEAD, "why", 11)
    assert "already overridden" in error.message


def test_a8_the_override_is_an_audited_event_that_keeps_the_file_under_review() -> None:
    application = under_review(standing(AssessmentOutcome.REJECT))

    application.override_assessment(HEAD, "新证据表明风险可控 new evidence shows the risk is controlled", 11)

    record = application.pending[-1]
    assert (record.trigger, record.to_state, record.actor) == ("override_assessment", "under_review", HEAD)
    assert record.inputs == {"assessment_id": 11}
    assert "A8" in record.rule_ids


def test_only_the_head_overrides_a_rejection() -> None:
    error = refused(under_review(standing(AssessmentOutcome.REJECT)), "override_assessment", DECIDER, "why", 11)

    assert isinstance(error, PermissionDenied)


def test_a8_a_rejected_file_is_not_referred_to_another_panel() -> None:
    error = refused(under_review(standing(AssessmentOutcome.REJECT)), "refer_assessment", REVIEWER, DAY)

    assert error.rule_id == "A8"


def test_a8_a_panel_asking_for_documents_sends_the_file_back_to_the_applicant() -> None:
    application = under_review(DecisionFacts(True))
    application.refer_assessment(REVIEWER, DAY)

    application.conclude_assessment(EXPERT, "correct", date(2016, 6, 8), "panel concluded: correct")

    assert application.state is AppState.CORRECTION_REQUESTED
    assert application.pending[-1].trigger == "assessment_correction"
    assert application.clock is not None and application.clock.is_paused  # no time runs while the applicant holds it


def test_r20_the_second_extension_is_refused_by_its_guard() -> None:
    application = under_review()
    application.extend(HEAD, "more time for the lab")

    with pytest.raises(GuardFailed) as caught:
        application.extend(HEAD, "again")

    assert caught.value.rule_id == "R20"


def test_r19_the_stored_due_date_is_the_clocks_and_none_while_paused() -> None:
    calendar = load_calendar()
    application = under_review(DecisionFacts(True))
    assert application.decision_due_on(calendar) == application.clock.due_date(calendar)  # type: ignore[union-attr]

    application.refer_assessment(REVIEWER, DAY)

    assert application.decision_due_on(calendar) is None
