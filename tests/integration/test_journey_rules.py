"""The journey's rules through the bus, on SQLite and PostgreSQL: claim release, the review opinion, the documents.

The pages' side of the same steps is tests/ui/test_journey_steps.py (issue 16, item 6).
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from config.bootstrap import Container
from tests.conftest import Cast, make_cast
from tests.integration.support import PDF, file_application, fx10_cytokine
from workflow.domain import commands as c
from workflow.domain.errors import GuardFailed, InvalidInput, InvalidTransition, NotFound, PermissionDenied
from workflow.domain.goods import Direction
from workflow.domain.review import Recommendation
from workflow.service.handlers import required_documents
from workflow.store.tables import ApplicationRow, AuditEventRow, DocumentRow


def _claim_and_trail(container: Container, application_id: int) -> tuple[int | None, list[tuple[str, str]]]:
    with container.sessions() as session:
        holder = session.scalar(select(ApplicationRow.claimed_by).where(ApplicationRow.id == application_id))
        trail = session.execute(
            select(AuditEventRow.trigger, AuditEventRow.to_state)
            .where(AuditEventRow.object_type == "application", AuditEventRow.object_id == application_id)
            .order_by(AuditEventRow.id)
        ).all()
    return holder, [(trigger, state) for trigger, state in trail]


def _under_review(container: Container, cast: Cast) -> int:
    application_id = file_application(container, cast)
    container.bus.handle(c.SubmitApplication(cast.applicant, application_id))
    container.bus.handle(c.AcceptApplication(cast.acceptor, application_id))
    container.bus.handle(c.StartReview(cast.reviewer, application_id))
    return application_id


def test_a_transition_to_another_posts_step_releases_the_claim_with_it(container: Container, cast: Cast) -> None:
    application_id = file_application(container, cast)
    container.bus.handle(c.SubmitApplication(cast.applicant, application_id))
    container.bus.handle(c.ClaimApplication(cast.acceptor, application_id))
    with pytest.raises(PermissionDenied):  # a refused step writes nothing: the claim stays with its holder
        container.bus.handle(c.StartReview(cast.acceptor, application_id))
    assert _claim_and_trail(container, application_id)[0] == cast.acceptor.user_id

    container.bus.handle(c.AcceptApplication(cast.acceptor, application_id))
    holder, trail = _claim_and_trail(container, application_id)
    assert holder is None and trail[-2:] == [("accept", "accepted"), ("release_claim", "accepted")]

    container.bus.handle(c.ClaimApplication(cast.reviewer, application_id))
    container.bus.handle(c.StartReview(cast.reviewer, application_id))  # the same post's next step
    assert _claim_and_trail(container, application_id)[0] == cast.reviewer.user_id


def test_the_review_opinion_is_the_assigned_reviewers_under_review_with_reasons(
    container: Container, cast: Cast
) -> None:
    other = make_cast(container, suffix="2")
    draft = file_application(container, cast)
    with pytest.raises(PermissionDenied):
        container.bus.handle(c.RecordReviewOpinion(cast.decider, draft, "ok", Recommendation.GRANT))
    application_id = _under_review(container, cast)
    refusals = (
        (c.RecordReviewOpinion(other.reviewer, application_id, "ok", Recommendation.GRANT), PermissionDenied),
        (c.RecordReviewOpinion(cast.reviewer, application_id, "  ", Recommendation.GRANT), InvalidInput),
        (c.RecordReviewOpinion(cast.reviewer, draft, "ok", Recommendation.GRANT), InvalidTransition),
    )
    for command, error in refusals:
        with pytest.raises(error):
            container.bus.handle(command)
    before = _claim_and_trail(container, application_id)[1]
    container.bus.handle(c.ClaimApplication(cast.reviewer, application_id))
    container.bus.handle(c.RecordReviewOpinion(cast.reviewer, application_id, "材料齐全", Recommendation.DENY))
    holder, trail = _claim_and_trail(container, application_id)
    assert holder is None and trail[len(before) :] == [
        ("claim", "under_review"),
        ("review_opinion", "under_review"),
        ("release_claim", "under_review"),
    ]


def test_submit_refuses_exactly_what_the_pages_list_is_missing(container: Container, cast: Cast) -> None:
    application_id: int = container.bus.handle(
        c.CreateApplication(cast.applicant, cast.enterprise_id, "xiamen", Direction.ENTRY, (fx10_cytokine(),))
    )
    with container.deps.uow() as uow:
        listed = required_documents(uow, uow.applications.get(application_id))
    assert len(listed) >= 2
    for doc_type in listed[:-1]:
        container.bus.handle(
            c.AttachDocument(cast.applicant, application_id, doc_type, f"{doc_type}.pdf", "application/pdf", PDF)
        )
    with pytest.raises(GuardFailed) as refused:
        container.bus.handle(c.SubmitApplication(cast.applicant, application_id))
    assert refused.value.rule_id == "R12" and refused.value.message.endswith(listed[-1])
    last = listed[-1]
    container.bus.handle(c.AttachDocument(cast.applicant, application_id, last, "x.pdf", "application/pdf", PDF))
    container.bus.handle(c.SubmitApplication(cast.applicant, application_id))
    assert _claim_and_trail(container, application_id)[1][-1] == ("submit", "submitted")


def test_a_removed_attachment_is_kept_audited_and_resubmission_waits_for_it(container: Container, cast: Cast) -> None:
    application_id = file_application(container, cast)
    with container.sessions() as session:
        first = session.scalars(select(DocumentRow).where(DocumentRow.application_id == application_id)).first()
    assert first is not None
    other = make_cast(container, suffix="3")
    with pytest.raises(PermissionDenied):  # another enterprise's applicant
        container.bus.handle(c.RemoveDocument(other.applicant, application_id, first.id))
    container.bus.handle(c.RemoveDocument(cast.applicant, application_id, first.id))
    with pytest.raises(NotFound):  # once
        container.bus.handle(c.RemoveDocument(cast.applicant, application_id, first.id))
    with pytest.raises(GuardFailed):  # R12 holds at submit as at resubmit
        container.bus.handle(c.SubmitApplication(cast.applicant, application_id))
    with container.deps.uow() as uow:
        assert first.doc_type not in uow.documents.attached_types(application_id)
    _, trail = _claim_and_trail(container, application_id)
    assert trail == [("remove_document", "draft")]

    attach = c.AttachDocument(cast.applicant, application_id, first.doc_type, "again.pdf", "application/pdf", PDF)
    container.bus.handle(attach)
    container.bus.handle(c.SubmitApplication(cast.applicant, application_id))
    container.bus.handle(c.RequestCorrection(cast.acceptor, application_id, deficiencies=("盖章页不清晰",)))
    with container.sessions() as session:
        again = session.scalars(
            select(DocumentRow.id).where(
                DocumentRow.application_id == application_id, DocumentRow.filename == "again.pdf"
            )
        ).one()
    container.bus.handle(c.RemoveDocument(cast.applicant, application_id, again))
    with pytest.raises(GuardFailed) as refused:
        container.bus.handle(c.ResubmitApplication(cast.applicant, application_id))
    assert refused.value.rule_id == "R12" and first.doc_type in refused.value.message
    container.bus.handle(attach)
    container.bus.handle(c.ResubmitApplication(cast.applicant, application_id))
    container.bus.handle(c.AcceptApplication(cast.acceptor, application_id))
    with pytest.raises(InvalidTransition):  # with customs: the applicant's attachments are fixed
        container.bus.handle(c.RemoveDocument(cast.applicant, application_id, again))
