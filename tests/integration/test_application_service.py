"""The application lifecycle through the bus on SQLite and PostgreSQL: state, audit and outbox in one transaction."""

from __future__ import annotations

import threading
from datetime import date

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from config.bootstrap import Container
from tests.conftest import Cast, make_cast
from tests.integration.support import PDF, file_application, fx09_hek293, fx10_cytokine, grant
from workflow.domain import commands as c
from workflow.domain.actors import Actor, Role
from workflow.domain.assessment import Opinion
from workflow.domain.errors import ConcurrencyConflict, DomainError, GuardFailed, InvalidTransition, PermissionDenied
from workflow.domain.goods import Direction
from workflow.domain.lifecycle import AppState
from workflow.store import api_reads, queries
from workflow.store.repositories import AuditTrail
from workflow.store.tables import ApplicationRow, AuditEventRow, CertificateRow, NotificationRow, OutboxRow


def _view(container: Container, application_id: int) -> dict:
    with container.sessions() as session:
        return queries.application_view(session, application_id)


def _audit(container: Container, application_id: int) -> list[dict]:
    with container.sessions() as session:
        return api_reads.audit_trail(session, "application", application_id)


def to_under_review(container: Container, cast: Cast) -> int:
    application_id = file_application(container, cast)
    container.bus.handle(c.SubmitApplication(cast.applicant, application_id))
    container.bus.handle(c.AcceptApplication(cast.acceptor, application_id))
    container.bus.handle(c.StartReview(cast.reviewer, application_id))
    return application_id


def test_submit_writes_state_audit_event_and_outbox_row_together(container: Container, cast: Cast) -> None:
    application_id = file_application(container, cast)
    container.bus.handle(c.SubmitApplication(cast.applicant, application_id))
    view = _view(container, application_id)
    assert view["state"] == "submitted"
    assert view["received_on"] == "2016-06-01"
    assert view["policy"]["id"] == "xiamen-2016" and len(view["policy"]["hash"]) == 64
    (event,) = _audit(container, application_id)
    assert (event["trigger"], event["from"], event["to"]) == ("submit", "draft", "submitted")
    assert event["actor"]["role"] == "applicant" and "A1" in event["rule_ids"]
    assert event["policy"]["id"] == "xiamen-2016"
    with container.sessions() as session:
        outbox = session.scalars(select(OutboxRow)).all()
    tasks = {row.task: row.payload for row in outbox}  # the screening alone: it tells the acceptors itself
    assert len(outbox) == 1 and tasks["screen_application"] == {"application_id": application_id}


def test_a1_submit_without_required_documents_is_refused_and_writes_nothing(container: Container, cast: Cast) -> None:
    application_id: int = container.bus.handle(
        c.CreateApplication(cast.applicant, cast.enterprise_id, "xiamen", Direction.ENTRY, (fx10_cytokine(),))
    )
    with pytest.raises(GuardFailed) as refused:
        container.bus.handle(c.SubmitApplication(cast.applicant, application_id))
    assert refused.value.rule_id == "R12" and "application_form" in refused.value.message
    assert _view(container, application_id)["state"] == "draft"
    assert _audit(container, application_id) == []


def _submit_with(container: Container, cast: Cast, documents: tuple[str, ...]) -> int:
    application_id: int = container.bus.handle(
        c.CreateApplication(cast.applicant, cast.enterprise_id, "xiamen", Direction.ENTRY, (fx09_hek293(),))
    )
    for doc_type in documents:
        container.bus.handle(
            c.AttachDocument(cast.applicant, application_id, doc_type, f"{doc_type}.pdf", "application/pdf", PDF)
        )
    container.bus.handle(c.SubmitApplication(cast.applicant, application_id))
    return application_id


def test_r15_only_the_entity_s_first_application_needs_its_licence_not_every_new_product(
    container: Container, cast: Cast
) -> None:
    basic = ("application_form", "goods_description")
    with pytest.raises(GuardFailed) as first:
        _submit_with(container, cast, basic)
    assert "business_licence" in first.value.message
    grant(container, cast, fx10_cytokine())  # the enterprise now has a granted application, of another product
    application_id = _submit_with(container, cast, basic)  # a new product: R60 first time, but not R15's
    assert _view(container, application_id)["state"] == "submitted"


def test_the_full_path_to_grant_issues_a_certificate_with_validity_and_mode(container: Container, cast: Cast) -> None:
    application_id = to_under_review(container, cast)
    certificate_id = container.bus.handle(c.GrantApplication(cast.decider, application_id, "complete"))
    view = _view(container, application_id)
    assert view["state"] == "granted" and view["grade"] == "C"
    certificate = view["certificate"]
    assert certificate["id"] == certificate_id and certificate["state"] == "active"
    assert (certificate["valid_from"], certificate["valid_until"]) == ("2016-06-01", "2017-06-01")  # R36-R37: C 12
    assert certificate["write_off_mode"] == "multiple" and certificate["follow_up"] is False
    assert certificate["paperless"] is False  # R58: first-time
    triggers = [event["trigger"] for event in _audit(container, application_id)]
    assert triggers == ["submit", "accept", "start_review", "grant"]
    with container.sessions() as session:
        (issue,) = api_reads.audit_trail(session, "certificate", certificate_id)
    assert issue["trigger"] == "issue" and issue["to"] == "active"


def test_s_p1_a_repeat_application_for_the_same_product_is_paperless(container: Container, cast: Cast) -> None:
    first = to_under_review(container, cast)
    container.bus.handle(c.GrantApplication(cast.decider, first, "complete"))
    second = to_under_review(container, cast)
    container.bus.handle(c.GrantApplication(cast.decider, second, "complete"))
    assert _view(container, second)["certificate"]["paperless"] is True


@pytest.mark.parametrize(
    "earlier_post", [Role.ACCEPTOR, Role.REVIEWER], ids=["r11-acceptor-cannot-decide", "r11-reviewer-cannot-decide"]
)
def test_r11_acceptance_review_and_decision_need_three_different_officers(
    container: Container, cast: Cast, earlier_post: Role
) -> None:
    application_id = to_under_review(container, cast)
    earlier = cast.officers[earlier_post]
    same_person_deciding = Actor(earlier.user_id, Role.DECIDER, earlier.name, district="xiamen")
    with pytest.raises(PermissionDenied) as refused:
        container.bus.handle(c.GrantApplication(same_person_deciding, application_id, "ok"))
    assert refused.value.rule_id == "R11"
    assert _view(container, application_id)["state"] == "under_review"


def test_r11_a_user_of_the_applicants_enterprise_never_acts_as_customs(container: Container, cast: Cast) -> None:
    application_id = file_application(container, cast)
    container.bus.handle(c.SubmitApplication(cast.applicant, application_id))
    insider = Actor(cast.applicant.user_id, Role.ACCEPTOR, "insider", enterprise_id=cast.enterprise_id)
    with pytest.raises(PermissionDenied):
        container.bus.handle(c.AcceptApplication(insider, application_id))


def test_another_enterprise_cannot_submit_the_application(container: Container, cast: Cast) -> None:
    other = make_cast(container, suffix="2")
    application_id = file_application(container, cast)
    with pytest.raises(PermissionDenied):
        container.bus.handle(c.SubmitApplication(other.applicant, application_id))


def test_r17_only_one_correction_notice_per_submission(container: Container, cast: Cast) -> None:
    application_id = file_application(container, cast)
    container.bus.handle(c.SubmitApplication(cast.applicant, application_id))
    container.bus.handle(c.RequestCorrection(cast.acceptor, application_id, deficiencies=("seal missing", "lab")))
    assert _view(container, application_id)["state"] == "correction_requested"
    container.bus.handle(c.ResubmitApplication(cast.applicant, application_id))
    container.bus.handle(c.RequestCorrection(cast.acceptor, application_id, deficiencies=("again",)))
    notices = [e for e in _audit(container, application_id) if e["trigger"] == "request_correction"]
    assert notices[0]["reason"] == "seal missing; lab"
    assert len(notices) == 2  # one per submission: the resubmission opened a new one


def test_a_forbidden_trigger_is_refused_with_its_rule_and_changes_nothing(container: Container, cast: Cast) -> None:
    application_id = file_application(container, cast)
    with pytest.raises(InvalidTransition) as refused:
        container.bus.handle(c.GrantApplication(cast.decider, application_id, "too early"))
    assert refused.value.rule_id == "A10"
    assert _view(container, application_id)["version"] == 0
    assert _audit(container, application_id) == []


def test_a_failure_after_the_state_update_rolls_back_state_audit_and_outbox(
    container: Container, cast: Cast, monkeypatch: pytest.MonkeyPatch
) -> None:
    application_id = file_application(container, cast)

    def broken_write(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("disk full while writing the audit event")

    monkeypatch.setattr(AuditTrail, "write", broken_write)
    with pytest.raises(RuntimeError):
        container.bus.handle(c.SubmitApplication(cast.applicant, application_id))
    monkeypatch.undo()
    view = _view(container, application_id)
    assert (view["state"], view["version"]) == ("draft", 0)
    with container.sessions() as session:
        assert session.scalar(select(func.count()).select_from(OutboxRow)) == 0


def _race(container: Container, odd: c.Command, even: c.Command, threads: int = 20) -> list[str]:
    """`threads` threads released at once, alternately sending the two commands: each one's "won" or "conflict"."""
    barrier = threading.Barrier(threads)
    outcomes: list[str] = []

    def send(index: int) -> None:
        barrier.wait()
        try:
            container.bus.handle(odd if index % 2 else even)
            outcomes.append("won")
        except (ConcurrencyConflict, InvalidTransition):
            outcomes.append("conflict")

    racing = [threading.Thread(target=send, args=(i,)) for i in range(threads)]
    for thread in racing:
        thread.start()
    for thread in racing:
        thread.join(timeout=60)
    return outcomes


def _triggers(session: Session, application_id: int, among: list[str]) -> list[str]:
    """The application's audited transitions among these triggers."""
    query = select(AuditEventRow.trigger).where(
        AuditEventRow.object_id == application_id, AuditEventRow.trigger.in_(among)
    )
    return list(session.scalars(query))


def test_twenty_threads_granting_and_denying_one_application_make_exactly_one_transition(
    container: Container, cast: Cast
) -> None:
    application_id = to_under_review(container, cast)
    grant = c.GrantApplication(cast.decider, application_id, "grant")
    outcomes = _race(container, grant, c.DenyApplication(cast.decider, application_id, "deny"))
    assert outcomes.count("won") == 1 and outcomes.count("conflict") == 19
    with container.sessions() as session:
        decisions = _triggers(session, application_id, ["grant", "deny"])
        certificates = session.scalar(select(func.count()).select_from(CertificateRow))
        state = session.scalar(select(ApplicationRow.state).where(ApplicationRow.id == application_id))
    assert len(decisions) == 1
    assert certificates == (1 if decisions == ["grant"] else 0)
    assert state == {"grant": AppState.GRANTED, "deny": AppState.DENIED}[decisions[0]].value


def test_twenty_threads_accepting_or_refusing_one_file_make_one_transition_and_tell_the_applicant_once(
    container: Container, cast: Cast
) -> None:
    """Acceptance saves its version-guarded UPDATE with the commit's last statement (`save(at_commit=True)`):
    the losers still conflict, and nothing they wrote before the commit (notifications, events) survives."""
    application_id = file_application(container, cast)
    container.bus.handle(c.SubmitApplication(cast.applicant, application_id))
    with container.sessions() as session:
        before = session.scalar(select(ApplicationRow.version).where(ApplicationRow.id == application_id))
    refuse = c.NotAcceptApplication(cast.acceptor, application_id, "不予受理", ("R12",))
    outcomes = _race(container, c.AcceptApplication(cast.acceptor, application_id), refuse)
    assert outcomes.count("won") == 1 and outcomes.count("conflict") == 19
    with container.sessions() as session:
        triggers = _triggers(session, application_id, ["accept", "not_accept"])
        told = session.scalars(
            select(NotificationRow.kind).where(
                NotificationRow.kind.in_(["application_accepted", "application_not_accepted"])
            )
        ).all()
        version = session.scalar(select(ApplicationRow.version).where(ApplicationRow.id == application_id))
    assert len(triggers) == 1
    assert told and set(told) == {
        {"accept": "application_accepted", "not_accept": "application_not_accepted"}[triggers[0]]
    }
    assert version == before + 1


def test_screening_is_idempotent_and_audited_with_rule_ids(container: Container, cast: Cast) -> None:
    application_id = file_application(container, cast)
    container.bus.handle(c.SubmitApplication(cast.applicant, application_id))
    assert container.bus.handle(c.ScreenApplication(cast.applicant, application_id)) is True
    assert container.bus.handle(c.ScreenApplication(cast.applicant, application_id)) is False
    screening = _view(container, application_id)["screening"]
    assert screening["in_scope"] is True and screening["grade"]["result"] == "C"
    assert screening["documents_complete"] is True and screening["first_time"]["result"] is True
    screens = [e for e in _audit(container, application_id) if e["trigger"] == "screen"]
    assert len(screens) == 1 and "R30" in screens[0]["rule_ids"]


def test_bad_input_is_a_domain_error_and_creates_nothing(container: Container, cast: Cast) -> None:
    with pytest.raises(DomainError):
        container.bus.handle(c.CreateApplication(cast.applicant, cast.enterprise_id, "xiamen", Direction.ENTRY, ()))
    with container.sessions() as session:
        assert session.scalar(select(func.count()).select_from(ApplicationRow)) == 0


def test_r19_acceptance_starts_the_clock_and_r21_assessment_pauses_it(container: Container, cast: Cast, clock) -> None:
    from tests.integration.test_review import experts

    experts(container, 5)  # R61: the district's panel must be drawable
    application_id = to_under_review(container, cast)
    view = _view_with_calendar(container, application_id)
    assert view["clock"]["accepted_on"] == "2016-06-01" and view["clock"]["paused"] is False
    assert view["clock"]["due_date"] == "2016-06-30"  # 20 working days, Dragon Boat 2016-06-09/10 skipped
    container.bus.handle(c.ReferAssessment(cast.reviewer, application_id, "grade B"))
    paused = _view_with_calendar(container, application_id)["clock"]
    assert paused["paused"] is True and paused["pauses"] == [["2016-06-01", None]]
    clock.today_value = date(2016, 6, 15)
    with container.deps.uow() as uow:
        panel = uow.assessments.open_for(application_id)
    assert panel is not None
    for seat in panel.seats[:3]:
        container.bus.handle(c.SubmitOpinion(Actor(seat.expert_id, Role.EXPERT), panel.id, Opinion.PASS))
    resumed = _view_with_calendar(container, application_id)["clock"]
    assert resumed["paused"] is False and resumed["pauses"] == [["2016-06-01", "2016-06-15"]]
    assert resumed["due_date"] > view["clock"]["due_date"]


def test_r20_the_head_extends_once_and_a_second_extension_is_refused(container: Container, cast: Cast) -> None:
    application_id = to_under_review(container, cast)
    container.bus.handle(c.ExtendDeadline(cast.head, application_id, "lab test pending"))
    assert _view_with_calendar(container, application_id)["clock"]["extended"] is True
    with pytest.raises(GuardFailed) as refused:
        container.bus.handle(c.ExtendDeadline(cast.head, application_id, "again"))
    assert refused.value.rule_id == "R20"
    assert [e["trigger"] for e in _audit(container, application_id)].count("extend") == 1


def test_r17_a_correction_notice_after_five_working_days_is_refused(container: Container, cast: Cast, clock) -> None:
    application_id = file_application(container, cast)
    container.bus.handle(c.SubmitApplication(cast.applicant, application_id))  # received Wednesday 2016-06-01
    clock.today_value = date(2016, 6, 13)  # 5 working days later is 2016-06-08 (06-09/10 are holidays)
    with pytest.raises(GuardFailed) as refused:
        container.bus.handle(c.RequestCorrection(cast.acceptor, application_id, deficiencies=("late",)))
    assert refused.value.rule_id == "R17" and "2016-06-08" in refused.value.message
    assert _view(container, application_id)["state"] == "submitted"


def _view_with_calendar(container: Container, application_id: int) -> dict:
    with container.sessions() as session:
        return queries.application_view(session, application_id, container.deps.calendar)


def test_two_officers_claiming_one_file_at_once_get_one_claim_and_one_conflict(
    container: Container, cast: Cast
) -> None:
    application_id = file_application(container, cast)
    container.bus.handle(c.SubmitApplication(cast.applicant, application_id))
    barrier, outcomes = threading.Barrier(2), []

    def claim(officer: Actor) -> None:
        barrier.wait()
        try:
            container.bus.handle(c.ClaimApplication(officer, application_id))
            outcomes.append(officer.user_id)
        except (ConcurrencyConflict, InvalidTransition):
            outcomes.append(None)

    threads = [threading.Thread(target=claim, args=(officer,)) for officer in (cast.acceptor, cast.reviewer)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    (winner,) = [user_id for user_id in outcomes if user_id is not None]
    assert outcomes.count(None) == 1
    with container.sessions() as session:
        assert session.get(ApplicationRow, application_id).claimed_by == winner
    claims = [event for event in _audit(container, application_id) if event["trigger"] == "claim"]
    assert len(claims) == 1 and claims[0]["inputs"] == {"from": None, "to": winner}
