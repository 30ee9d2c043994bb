"""Officers are told of new work in their queue (submitted -> acceptors, accepted -> reviewers, under review ->
deciders), of a claim reassigned (the one who got it and the one who lost it), of an extension to consider (heads,
A9/R20) and of an overdue follow-up report (the destination officers, R54).

A transition writes ONE `notify_officers` outbox row however many officers its district has; the task fans it out,
keyed, so a re-delivered task writes nothing twice, and a refused or rolled-back change asks for nothing. The queue
notices (work to accept, review, decide) are inbox-only: no e-mail copy, and none reported pending; they are written
in the transaction that fills the queue, one statement for every officer of the role, with no task per file (#15): a
submission's by its screening, an acceptance's and a review's by the step itself.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select

from config.bootstrap import Container
from tests.conftest import Cast, FixedClock, _empty_tables, make_cast, wait_for, wait_for_worker
from tests.integration.support import declare, file_application, fx04_ecoli
from tests.integration.support import under_review as screened_and_under_review
from tests.integration.test_applicant_notifications import told
from tests.integration.test_review import under_review
from workflow.domain import commands as c
from workflow.domain.actors import SYSTEM_ACTOR, Actor, Role
from workflow.domain.errors import DomainError
from workflow.service.officer_notifications import FAN_OUT, fan_out
from workflow.store.directory import create_user
from workflow.store.tables import NotificationRow, OutboxRow


def officer(container: Container, role: Role, username: str, district: str = "xiamen", active: bool = True) -> int:
    with container.sessions() as session, session.begin():
        user = create_user(
            session, username=username, role=role, password_hash="", now=container.deps.clock.now(), district=district
        )
        user.active = active
        return user.id


def fan_outs(container: Container) -> list[dict[str, Any]]:
    with container.sessions() as session:
        query = select(OutboxRow.payload).where(OutboxRow.task == FAN_OUT).order_by(OutboxRow.id)
        return [dict(payload) for payload in session.scalars(query)]


def deliver(container: Container) -> int:
    """What the worker does with every fan-out row (the relay sends each at least once)."""
    return sum(fan_out(container.deps, payload) for payload in fan_outs(container))


def inbox(container: Container, user_id: int | None) -> list[str]:
    with container.sessions() as session:
        query = select(NotificationRow.kind).where(NotificationRow.user_id == user_id).order_by(NotificationRow.id)
        return list(session.scalars(query))


def count(container: Container, table: Any, *where: Any) -> int:
    with container.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(table).where(*where)) or 0)


def test_a_submission_asks_once_and_the_task_tells_each_active_acceptor_of_the_district_once(
    container: Container, cast: Cast
) -> None:
    more = [officer(container, Role.ACCEPTOR, f"xiamen.acceptor{n}") for n in range(2, 6)]
    retired = officer(container, Role.ACCEPTOR, "xiamen.retired", active=False)
    elsewhere = officer(container, Role.ACCEPTOR, "shanghai.acceptor", district="shanghai")
    application_id = file_application(container, cast)
    container.bus.handle(c.SubmitApplication(cast.applicant, application_id))
    assert fan_outs(container) == []  # the submit asks for the screening alone; the screening tells the acceptors
    assert inbox(container, cast.acceptor.user_id) == []

    assert container.bus.handle(c.ScreenApplication(SYSTEM_ACTOR, application_id)) is True
    assert container.bus.handle(c.ScreenApplication(SYSTEM_ACTOR, application_id)) is False  # re-delivered
    for acceptor in [cast.acceptor.user_id, *more]:
        assert inbox(container, acceptor) == ["work_to_accept"]  # each once
    for nobody in (retired, elsewhere, cast.reviewer.user_id, cast.decider.user_id):
        assert inbox(container, nobody) == []
    with container.sessions() as session:
        statuses = session.scalars(select(NotificationRow.email_status).where(NotificationRow.kind == "work_to_accept"))
        assert set(statuses) == {"skipped"}  # inbox-only: no mail, and none left pending for `tasks overdue`
        assert session.scalar(select(func.count()).where(OutboxRow.task == "send_email")) == 0
    with container.deps.uow() as uow:
        reference = uow.applications.get(application_id).reference
    assert told(container, more[0], "work_to_accept") == [{"reference": reference}]


def test_a_file_accepted_before_its_screening_ran_reaches_no_acceptor(container: Container, cast: Cast) -> None:
    application_id = file_application(container, cast)
    container.bus.handle(c.SubmitApplication(cast.applicant, application_id))
    container.bus.handle(c.AcceptApplication(cast.acceptor, application_id))
    assert container.bus.handle(c.ScreenApplication(SYSTEM_ACTOR, application_id)) is True  # screened all the same
    assert inbox(container, cast.acceptor.user_id) == []  # nothing waits in their queue any more


def test_the_file_reaches_the_reviewers_when_accepted_and_the_deciders_when_review_starts(
    container: Container, cast: Cast
) -> None:
    more = officer(container, Role.REVIEWER, "xiamen.reviewer2")
    retired = officer(container, Role.DECIDER, "xiamen.retired", active=False)
    screened_and_under_review(container, cast, file_application(container, cast))  # screened, then accepted
    assert fan_outs(container) == []  # told in the acceptance's and the review's own transactions: no task per file
    assert inbox(container, cast.acceptor.user_id) == ["work_to_accept"]
    assert inbox(container, cast.reviewer.user_id) == inbox(container, more) == ["work_to_review"]
    assert inbox(container, cast.decider.user_id) == ["work_to_decide"]
    assert inbox(container, cast.head.user_id) == inbox(container, retired) == []
    with container.sessions() as session:
        queue_notices = NotificationRow.kind.in_(["work_to_review", "work_to_decide"])
        assert set(session.scalars(select(NotificationRow.email_status).where(queue_notices))) == {"skipped"}
        keys = set(session.scalars(select(NotificationRow.dedup_key).where(NotificationRow.user_id == more)))
    assert len(keys) == 1 and next(iter(keys)).endswith(f":accept:{more}")  # keyed by the version saved


def test_a_corrected_file_reaches_the_acceptors_again_and_a_deemed_acceptance_reaches_the_reviewers(
    container: Container, cast: Cast, clock: FixedClock
) -> None:
    application_id = file_application(container, cast)
    container.bus.handle(c.SubmitApplication(cast.applicant, application_id))
    container.bus.handle(c.ScreenApplication(SYSTEM_ACTOR, application_id))
    container.bus.handle(c.RequestCorrection(cast.acceptor, application_id, deficiencies=("缺少说明书",)))
    container.bus.handle(c.ResubmitApplication(cast.applicant, application_id))
    container.bus.handle(c.ScreenApplication(SYSTEM_ACTOR, application_id))  # on the same day: told again
    clock.today_value = date(2016, 6, 30)  # R17: long past the 5 working days with no second notice
    assert container.bus.handle(c.DeemAcceptances(cast.applicant)) == 1
    deliver(container)
    deliver(container)
    assert inbox(container, cast.acceptor.user_id) == ["work_to_accept", "work_to_accept"]  # once per submission
    assert inbox(container, cast.reviewer.user_id) == ["work_to_review"]


def test_a_refused_transition_asks_for_no_notification(container: Container, cast: Cast) -> None:
    application_id = file_application(container, cast)
    container.bus.handle(c.SubmitApplication(cast.applicant, application_id))
    container.bus.handle(c.AcceptApplication(cast.acceptor, application_id))
    before = len(fan_outs(container))
    with pytest.raises(DomainError):  # R11: the acceptor may not review the file it accepted
        container.bus.handle(
            c.StartReview(Actor(cast.acceptor.user_id, Role.REVIEWER, district="xiamen"), application_id)
        )
    assert len(fan_outs(container)) == before


def test_a_reassigned_claim_tells_the_officer_who_got_it_and_the_one_who_lost_it(
    container: Container, cast: Cast
) -> None:
    application_id = file_application(container, cast)
    container.bus.handle(c.SubmitApplication(cast.applicant, application_id))
    other_id = officer(container, Role.ACCEPTOR, "xiamen.acceptor2")
    container.bus.handle(c.ClaimApplication(cast.acceptor, application_id))
    container.bus.handle(c.ReassignApplication(cast.head, application_id, user_id=other_id))
    assert inbox(container, other_id) == ["claim_reassigned_to"]
    assert inbox(container, cast.acceptor.user_id) == ["claim_reassigned_away"]
    assert inbox(container, cast.head.user_id) == []  # the head did it and knows


def test_the_heads_are_asked_to_consider_an_extension_once_at_the_clock_reminder(
    container: Container, cast: Cast, clock: FixedClock
) -> None:
    second_head = officer(container, Role.HEAD, "xiamen.head2")
    under_review(container, cast)
    clock.today_value = date(2016, 6, 24)  # 16 of 20 working days used: the 75 % reminder
    assert container.bus.handle(c.SweepClocks(cast.applicant)) == 1
    assert container.bus.handle(c.SweepClocks(cast.applicant)) == 0
    assert [p["kind"] for p in fan_outs(container)][-1] == "extension_due"
    deliver(container)
    deliver(container)
    for head in (cast.head.user_id, second_head):
        assert inbox(container, head) == ["extension_due"]
    assert "extension_due" not in inbox(container, cast.reviewer.user_id)


def test_an_overdue_follow_up_tells_the_destination_officers_and_the_holder(
    container: Container, cast: Cast, clock: FixedClock
) -> None:
    from tests.integration.support import grant

    dest = officer(container, Role.DEST_OFFICER, "xiamen.dest")
    number = grant(container, cast, fx04_ecoli(10))
    shipment = declare(container, cast, number, 3, inspected=False, rate=Decimal("0.5"))
    clock.today_value = date(2016, 7, 2)
    assert container.bus.handle(c.FlagOverdueFollowUps(cast.applicant)) == 1
    assert container.bus.handle(c.FlagOverdueFollowUps(cast.applicant)) == 0
    deliver(container)
    deliver(container)
    assert told(container, dest, "follow_up_overdue") == [
        {"declaration_no": shipment["declaration_no"], "due_on": shipment["follow_up_due_on"]}
    ]
    assert [k for k in inbox(container, cast.applicant.user_id) if "follow_up" in k] == ["follow_up_report_overdue"]
    assert inbox(container, cast.port_officer.user_id) == []


@pytest.fixture
def production(make_container: Callable[..., Container], postgres_url: str, redis_url: str) -> Container:
    """PostgreSQL + Redis, each commit's outbox rows relayed straight away, as in production."""
    _empty_tables(postgres_url)
    return make_container(postgres_url, redis_url=redis_url, relay_after_commit=True)


def test_a_worker_process_fans_a_submission_out_to_the_acceptors(
    production: Container, start_worker: Callable[..., Any], postgres_url: str, redis_url: str
) -> None:
    cast = make_cast(production)
    second = officer(production, Role.ACCEPTOR, "xiamen.acceptor2")
    worker = start_worker(postgres_url, redis_url, concurrency=1)
    wait_for_worker(production, worker)
    application_id = file_application(production, cast)
    production.bus.handle(c.SubmitApplication(cast.applicant, application_id))

    def both_told() -> bool:
        return all(inbox(production, user) == ["work_to_accept"] for user in (cast.acceptor.user_id, second))

    wait_for(both_told, timeout=60, what="the worker's screening to tell both acceptors")
    # in the screening's own transaction: no fan-out task, and no e-mail copy of a queue notice
    assert count(production, OutboxRow, OutboxRow.task.in_((FAN_OUT, "send_email"))) == 0


def test_an_overridden_rejection_reaches_every_decider_through_one_row(container: Container, cast: Cast) -> None:
    """A8: the reviewer in the override's transaction, the district's deciders through the fan-out."""
    from tests.integration.test_review import experts
    from workflow.domain.assessment import Opinion

    second = officer(container, Role.DECIDER, "xiamen.decider2")
    application_id = under_review(container, cast)
    panel = experts(container, 5)
    started = container.bus.handle(c.ReferAssessment(cast.reviewer, application_id, "R32"))
    for expert in (expert for expert in panel if expert.user_id in started["panel"]):
        if container.bus.handle(c.SubmitOpinion(expert, started["assessment_id"], Opinion.REJECT, "不安全"))[
            "concluded"
        ]:
            break
    rows = len(fan_outs(container))
    container.bus.handle(c.OverrideAssessment(cast.head, application_id, "复核后可控"))
    assert len(fan_outs(container)) == rows + 1
    assert "assessment_overridden" in inbox(container, cast.reviewer.user_id)
    deliver(container)
    deliver(container)
    for decider in (cast.decider.user_id, second):
        assert inbox(container, decider).count("assessment_overridden") == 1
