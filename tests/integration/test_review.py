"""The district's own risk assessment (R61–R63), statutory-clock sweeps (R17–R22), on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import pytest
from sqlalchemy import func, select

from config.bootstrap import Container
from tests.conftest import Cast, FixedClock
from tests.integration.support import file_application, fx04_ecoli, fx10_cytokine
from workflow.domain import commands as c
from workflow.domain.actors import Actor, Role
from workflow.domain.assessment import Opinion
from workflow.domain.errors import GuardFailed, PermissionDenied
from workflow.domain.goods import GoodsLine
from workflow.service.officer_notifications import INBOX_ONLY
from workflow.store import api_reads, queries
from workflow.store.directory import create_user
from workflow.store.tables import NotificationRow, RiskAssessmentRow


def experts(container: Container, count: int, district: str = "xiamen", prefix: str = "exp") -> list[Actor]:
    with container.sessions() as session, session.begin():
        made = [
            create_user(
                session,
                username=f"{prefix}{n}",
                role=Role.EXPERT,
                password_hash="",
                now=container.deps.clock.now(),
                district=district,
            )
            for n in range(count)
        ]
        return [Actor(user.id, Role.EXPERT, user.username, district=district) for user in made]


def under_review(container: Container, cast: Cast, line: GoodsLine | None = None) -> int:
    application_id = file_application(container, cast, (line or fx04_ecoli(),))
    for command in (
        c.SubmitApplication(cast.applicant, application_id),
        c.AcceptApplication(cast.acceptor, application_id),
        c.StartReview(cast.reviewer, application_id),
    ):
        container.bus.handle(command)
    return application_id


def view(container: Container, application_id: int) -> dict:
    with container.sessions() as session:
        return queries.application_view(session, application_id, container.deps.calendar)


def inbox_kinds(container: Container, user_id: int) -> list[str]:
    """What the user was told besides the queue notices, which the steps write as they fill the queues."""
    with container.sessions() as session:
        told = NotificationRow.user_id == user_id, NotificationRow.kind.not_in(INBOX_ONLY)
        return list(session.scalars(select(NotificationRow.kind).where(*told).order_by(NotificationRow.id)))


def test_r61_referral_draws_a_panel_from_the_district_excluding_conflicts(container: Container, cast: Cast) -> None:
    pool = experts(container, 6)
    experts(container, 3, district="fuzhou", prefix="fz")
    container.bus.handle(c.DeclareConflict(pool[0], pool[0].user_id or 0, cast.enterprise_id, "consults for it"))
    application_id = under_review(container, cast)
    result = container.bus.handle(c.ReferAssessment(cast.reviewer, application_id, "grade B (R32)"))
    panel = set(result["panel"])
    eligible = {e.user_id for e in pool[1:]} | {cast.expert.user_id}
    assert len(panel) == 5 and panel <= eligible and pool[0].user_id not in panel
    assert result["due_on"] == "2016-06-08"  # 5 working days; 2016-06-09/10 are the Dragon Boat holiday
    state = view(container, application_id)
    assert state["state"] == "risk_assessment" and state["clock"]["paused"] is True
    assert all(inbox_kinds(container, expert) == ["assessment_assigned"] for expert in panel)


def test_r61_too_few_eligible_experts_refuses_the_referral_and_writes_nothing(container: Container, cast: Cast) -> None:
    application_id = under_review(container, cast)
    with pytest.raises(GuardFailed) as refused:
        container.bus.handle(c.ReferAssessment(cast.reviewer, application_id, "grade B"))
    assert refused.value.rule_id == "R61"
    assert view(container, application_id)["state"] == "under_review"
    with container.sessions() as session:
        assert session.scalar(select(func.count()).select_from(RiskAssessmentRow)) == 0


def test_a8_a_majority_of_the_quorum_concludes_and_the_clock_resumes(
    container: Container, cast: Cast, clock: FixedClock
) -> None:
    experts(container, 5)
    application_id = under_review(container, cast)
    result = container.bus.handle(c.ReferAssessment(cast.reviewer, application_id, "grade B"))
    assessment_id, panel = result["assessment_id"], result["panel"]
    clock.today_value = date(2016, 6, 6)
    first = container.bus.handle(c.SubmitOpinion(Actor(panel[0], Role.EXPERT), assessment_id, Opinion.PASS))
    assert first["concluded"] is False
    container.bus.handle(c.SubmitOpinion(Actor(panel[1], Role.EXPERT), assessment_id, Opinion.REJECT, "no BSL-2"))
    last = container.bus.handle(c.SubmitOpinion(Actor(panel[2], Role.EXPERT), assessment_id, Opinion.PASS))
    assert last == {"assessment_id": assessment_id, "concluded": True, "outcome": "pass"}
    state = view(container, application_id)
    assert state["state"] == "under_review"
    assert state["clock"]["paused"] is False and state["clock"]["pauses"] == [["2016-06-01", "2016-06-06"]]
    assert "assessment_concluded" in inbox_kinds(container, cast.reviewer.user_id or 0)
    with pytest.raises(GuardFailed):
        container.bus.handle(c.SubmitOpinion(Actor(panel[3], Role.EXPERT), assessment_id, Opinion.PASS))


def test_only_a_seated_expert_gives_an_opinion(container: Container, cast: Cast) -> None:
    experts(container, 6)
    application_id = under_review(container, cast)
    result = container.bus.handle(c.ReferAssessment(cast.reviewer, application_id, "grade B"))
    outsider = next(e for e in experts(container, 1, prefix="late") if e.user_id not in result["panel"])
    with pytest.raises(PermissionDenied):
        container.bus.handle(c.SubmitOpinion(outsider, result["assessment_id"], Opinion.PASS))


def test_r63_a_passed_entity_level_assessment_is_reused_for_the_same_product(container: Container, cast: Cast) -> None:
    experts(container, 5)
    first = under_review(container, cast)
    result = container.bus.handle(c.ReferAssessment(cast.reviewer, first, "grade B"))
    for expert in result["panel"][:3]:
        container.bus.handle(c.SubmitOpinion(Actor(expert, Role.EXPERT), result["assessment_id"], Opinion.PASS))
    second = under_review(container, cast)
    reused = container.bus.handle(c.ReferAssessment(cast.reviewer, second, "grade B"))
    assert reused["reused_from"] == result["assessment_id"] and reused["outcome"] == "pass"
    assert view(container, second)["state"] == "under_review"
    other_product = under_review(container, cast, fx10_cytokine())
    fresh = container.bus.handle(c.ReferAssessment(cast.reviewer, other_product, "needs review"))
    assert "panel" in fresh


def test_legacy_2015_refers_high_risk_goods_to_headquarters_with_its_lead_time(
    container: Container, cast: Cast, clock: FixedClock
) -> None:
    clock.today_value = date(2015, 6, 1)
    application_id = under_review(container, cast)
    result = container.bus.handle(c.ReferAssessment(cast.reviewer, application_id, "grade B"))
    assert result["assessor_level"] == "gacc_hq" and result["due_on"] == "2015-06-15"
    container.bus.handle(c.RecordHeadquartersOpinion(cast.reviewer, result["assessment_id"], Opinion.PASS, "HQ ok"))
    assert view(container, application_id)["state"] == "under_review"


def test_r19_the_clock_sweep_reminds_at_75_percent_and_alerts_a_breach_once_each(
    container: Container, cast: Cast, clock: FixedClock
) -> None:
    application_id = under_review(container, cast)
    assert view(container, application_id)["clock"]["due_date"] == "2016-06-30"
    clock.today_value = date(2016, 6, 24)  # 16 of 20 working days used
    assert container.bus.handle(c.SweepClocks(cast.applicant)) == 1
    assert container.bus.handle(c.SweepClocks(cast.applicant)) == 0
    clock.today_value = date(2016, 7, 1)
    assert container.bus.handle(c.SweepClocks(cast.applicant)) == 1
    assert container.bus.handle(c.SweepClocks(cast.applicant)) == 0
    assert inbox_kinds(container, cast.reviewer.user_id or 0) == ["clock_reminder", "clock_breach"]
    assert inbox_kinds(container, cast.head.user_id or 0) == ["clock_breach"]
    assert view(container, application_id)["state"] == "under_review"  # A13: never an automatic grant


def test_r17_the_sweep_deems_an_application_accepted_from_its_receipt(
    container: Container, cast: Cast, clock: FixedClock
) -> None:
    application_id = file_application(container, cast)
    container.bus.handle(c.SubmitApplication(cast.applicant, application_id))
    clock.today_value = date(2016, 6, 8)  # the 5th working day: still within the window
    assert container.bus.handle(c.DeemAcceptances(cast.applicant)) == 0
    clock.today_value = date(2016, 6, 13)
    assert container.bus.handle(c.DeemAcceptances(cast.applicant)) == 1
    state = view(container, application_id)
    assert state["state"] == "accepted" and state["accepted_on"] == "2016-06-01"
    with container.sessions() as session:
        trail = api_reads.audit_trail(session, "application", application_id)
    assert trail[-1]["actor"]["role"] == "system" and "R17" in trail[-1]["rule_ids"]
    assert container.bus.handle(c.DeemAcceptances(cast.applicant)) == 0


def test_the_panel_reminder_goes_out_once_the_day_before_the_deadline(
    container: Container, cast: Cast, clock: FixedClock
) -> None:
    experts(container, 5)
    application_id = under_review(container, cast)
    result = container.bus.handle(c.ReferAssessment(cast.reviewer, application_id, "grade B"))
    assert container.bus.handle(c.RemindPanels(cast.applicant)) == 0
    clock.today_value = date(2016, 6, 7)
    assert container.bus.handle(c.RemindPanels(cast.applicant)) == 5
    assert container.bus.handle(c.RemindPanels(cast.applicant)) == 0
    assert inbox_kinds(container, result["panel"][0]) == ["assessment_assigned", "assessment_reminder"]


def test_two_clock_sweeps_running_at_once_raise_each_alert_exactly_once(
    make_container: Callable[..., Container], postgres_url: str, clock: FixedClock
) -> None:
    import threading

    from tests.conftest import _empty_tables, make_cast

    _empty_tables(postgres_url)
    container = make_container(postgres_url)
    cast = make_cast(container)
    for _ in range(3):
        under_review(container, cast)
    clock.today_value = date(2016, 7, 1)  # every clock is past its due date
    barrier, raised = threading.Barrier(2), []

    def sweep() -> None:
        barrier.wait()
        raised.append(container.bus.handle(c.SweepClocks(cast.applicant)))

    threads = [threading.Thread(target=sweep) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sum(raised) == 3
    assert inbox_kinds(container, cast.reviewer.user_id or 0) == ["clock_breach"] * 3
