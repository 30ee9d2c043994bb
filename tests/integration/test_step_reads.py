"""The facts a step reads beside its application, in one statement: the same answers as the single reads they
replace, part by part and all together, on SQLite and PostgreSQL (workflow/store/step_reads.py)."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from config.bootstrap import Container
from tests.conftest import Cast, make_cast
from tests.integration.support import file_application, fx01_serum, fx10_cytokine, grant, under_review
from tests.integration.test_granted_products import lot, statements
from workflow.domain import commands as c
from workflow.domain.actors import SYSTEM_ACTOR
from workflow.domain.goods import ProductIdentity
from workflow.domain.policy import CreditRegime, CreditTier
from workflow.service.ports import StepFacts, Wanted
from workflow.store.step_reads import step_facts
from workflow.store.tables import ApplicantBanRow, CertificateRow, CreditRecordRow, DocumentRow, RiskAssessmentRow

# Each step of the flow on PostgreSQL (COMMITs aside): the application, then what the step reads beside it in one
# statement (the replaced certificate among it, R43), then its writes. Submit: the read; the last statement
# (workflow/store/together.py). Screen: the read; the last statement, with the acceptors' notices (an INSERT …
# SELECT among its parts, as every notice of a step is). Accept: the last statement, with the reviewers' notices
# and the applicant's with their e-mail copies. Start review: the last statement, with the deciders' notices.
# Grant: the read, which draws the certificate's id; the granted products; the last statement, with the certificate
# and its lines, the applicant's notice and the guarded UPDATE.
FLOW_STATEMENTS = {"submit": 3, "screen": 3, "accept": 2, "start_review": 2, "grant": 4}
EVERYTHING = Wanted(enterprise=True, documents=True, credit=True, assessment=True, replacement=True)


def everything(on: date, granted: ProductIdentity) -> Wanted:
    return replace(EVERYTHING, banned_on=on, products=(granted, lot("never granted").identity))


def single_reads(container: Container, application_id: int, enterprise_id: int, wanted: Wanted) -> StepFacts:
    """What the handlers read one query at a time, through the unit of work's ports."""
    with container.deps.uow() as uow:
        enterprise, found = uow.enterprises, {}
        if wanted.enterprise:
            found["natural_person"] = enterprise.get(enterprise_id).is_natural_person
            found["has_grant"] = enterprise.has_grant(enterprise_id)
        if wanted.banned_on is not None:
            found["banned_until"] = enterprise.banned_until(enterprise_id, wanted.banned_on)
        if wanted.documents:
            found["attached"] = frozenset(uow.documents.attached_types(application_id))
        if wanted.credit:
            found["credit_records"] = tuple(enterprise.credit_records(enterprise_id))
        if wanted.products:
            found["granted"] = frozenset(enterprise.granted_among(enterprise_id, wanted.products))
        if wanted.assessment:
            found["assessment"] = uow.assessments.standing(application_id)
        if wanted.replacement:
            found["replaces"] = uow.replacements.replaced_by(application_id)
    return StepFacts(**found)


def sent_by(container: Container, application_id: int, enterprise_id: int, wanted: Wanted) -> list[str]:
    """The statements of one combined read; SQLite's own BEGIN aside."""
    sent = statements(container.engine, lambda: combined(container, application_id, enterprise_id, wanted))
    return [statement for statement in sent if not statement.startswith("BEGIN")]


def combined(container: Container, application_id: int, enterprise_id: int, wanted: Wanted) -> StepFacts:
    with container.engine.connect() as connection:
        return step_facts(connection, application_id, enterprise_id, wanted)


def add_rows(container: Container, *rows: Any) -> None:
    with container.sessions() as session, session.begin():
        session.add_all(rows)


def assessment(application_id: int, enterprise_id: int, state: str, outcome: str | None, **more: Any) -> Any:
    return RiskAssessmentRow(
        application_id=application_id, enterprise_id=enterprise_id, product_key="k", assessor_level="district",
        state=state, panel_size=3, quorum=2, conclusion_rule="majority", outcome=outcome, started_on=date(2026, 1, 5),
        due_on=date(2026, 1, 20), **more,
    )  # fmt: skip


@dataclass(frozen=True)
class Busy:
    application_id: int
    enterprise_id: int
    today: date
    granted: ProductIdentity

    @property
    def everything(self) -> Wanted:
        return everything(self.today, self.granted)


def granted_identity(container: Container, certificate_no: str) -> ProductIdentity:
    with container.sessions() as session:
        query = select(CertificateRow.application_id).where(CertificateRow.certificate_no == certificate_no)
        application_id = session.scalar(query)
    assert application_id is not None
    with container.deps.uow() as uow:
        return uow.applications.get(application_id).lines[0].identity


@pytest.fixture
def busy(container: Container, cast: Cast) -> Busy:
    """An enterprise with a grant, two credit records, a ban in force, and a draft with a removed document and an
    assessment overridden after an earlier cancelled one."""
    granted = granted_identity(container, grant(container, cast, fx10_cytokine()))
    application_id = file_application(container, cast, (fx01_serum(),))
    today = container.deps.clock.today("xiamen")
    with container.sessions() as session:
        first_document = session.scalars(select(DocumentRow.id).where(DocumentRow.application_id == application_id))
        document_id = first_document.first()
    assert document_id is not None
    container.bus.handle(c.RemoveDocument(cast.applicant, application_id, document_id))
    enterprise_id = cast.enterprise_id
    add_rows(
        container,
        CreditRecordRow(enterprise_id=enterprise_id, tier=CreditTier.GENERAL.value, regime=CreditRegime.ORDER_251.value,
                        effective_from=today - timedelta(days=400), effective_to=today - timedelta(days=30)),
        CreditRecordRow(enterprise_id=enterprise_id, tier=CreditTier.CERTIFIED.value,
                        regime=CreditRegime.ORDER_282.value, effective_from=today - timedelta(days=29)),
        ApplicantBanRow(enterprise_id=enterprise_id, ground="false_information", from_on=today - timedelta(days=3),
                        until_on=today + timedelta(days=300), source="application 1", reason="r",
                        created_at=container.deps.clock.now()),
        assessment(application_id, enterprise_id, "cancelled", None),
    )  # fmt: skip
    add_rows(
        container, assessment(application_id, enterprise_id, "concluded", "reject", overridden_by=cast.head.user_id)
    )
    return Busy(application_id, enterprise_id, today, granted)


def test_every_part_together_answers_as_the_single_reads_do_in_one_statement(container: Container, busy: Busy) -> None:
    application_id, enterprise_id, today = busy.application_id, busy.enterprise_id, busy.today
    wanted = busy.everything
    sent = sent_by(container, application_id, enterprise_id, wanted)
    found = combined(container, application_id, enterprise_id, wanted)

    assert found == single_reads(container, application_id, enterprise_id, wanted)
    assert len(sent) == 1
    assert found.has_grant and found.granted == {busy.granted}
    assert found.banned_until == today + timedelta(days=300) and len(found.credit_records) == 2
    assert found.assessment is not None and found.assessment.overridden and found.attached


FACTS = [f.name for f in fields(Wanted) if f.name != "certificate_id"]  # a drawn id is no fact: tested below


@pytest.mark.parametrize("part", FACTS)
def test_each_part_alone_answers_as_its_single_read_and_leaves_the_others_unread(
    container: Container, busy: Busy, part: str
) -> None:
    application_id, enterprise_id = busy.application_id, busy.enterprise_id
    wanted = Wanted(**{part: getattr(busy.everything, part)})
    sent = sent_by(container, application_id, enterprise_id, wanted)

    assert combined(container, application_id, enterprise_id, wanted) == single_reads(
        container, application_id, enterprise_id, wanted
    )
    assert len(sent) == 1


def test_a_fresh_enterprise_answers_with_nothing_found(container: Container) -> None:
    """No grant, no ban, no credit record, no assessment; a withdrawn file's cancelled assessment counts as none."""
    cast = make_cast(container, suffix="N")
    application_id = file_application(container, cast)
    add_rows(container, assessment(application_id, cast.enterprise_id, "cancelled", None))
    wanted = everything(container.deps.clock.today("xiamen"), fx10_cytokine().identity)

    found = combined(container, application_id, cast.enterprise_id, wanted)
    assert found == single_reads(container, application_id, cast.enterprise_id, wanted)
    assert found == StepFacts(attached=found.attached)
    assert found.attached


def test_a_replacement_reads_the_certificate_it_replaces(container: Container, cast: Cast) -> None:
    number = grant(container, cast, fx10_cytokine())
    with container.sessions() as session:
        certificate_id = session.scalar(select(CertificateRow.id).where(CertificateRow.certificate_no == number))
    draft = int(container.bus.handle(c.StartReplacement(cast.applicant, certificate_id)))
    wanted = Wanted(replacement=True)

    found = combined(container, draft, cast.enterprise_id, wanted)
    assert found == single_reads(container, draft, cast.enterprise_id, wanted) == StepFacts(replaces=certificate_id)


def test_a_grants_read_draws_its_certificate_id_from_the_sequence_on_postgresql(
    container: Container, busy: Busy
) -> None:
    """In the same statement as the facts; each read draws the next id; SQLite, which has no sequence, draws none."""
    application_id, enterprise_id = busy.application_id, busy.enterprise_id
    wanted = replace(busy.everything, certificate_id=True)
    sent = sent_by(container, application_id, enterprise_id, wanted)
    first, second = (combined(container, application_id, enterprise_id, wanted) for _ in range(2))

    assert len(sent) == 1
    assert replace(first, certificate_id=None) == single_reads(container, application_id, enterprise_id, wanted)
    if container.engine.dialect.name != "postgresql":
        assert first.certificate_id is None and second.certificate_id is None
        return
    with container.sessions() as session:
        issued = session.scalars(select(CertificateRow.id)).all()
    assert first.certificate_id is not None and second.certificate_id is not None
    assert max(issued) < first.certificate_id < second.certificate_id


def test_nothing_asked_sends_nothing(container: Container, cast: Cast) -> None:
    application_id = file_application(container, cast)
    assert sent_by(container, application_id, cast.enterprise_id, Wanted()) == []
    assert combined(container, application_id, cast.enterprise_id, Wanted()) == StepFacts()


def test_a_grant_of_goods_without_a_pathogen_reads_no_laboratory(container: Container, cast: Cast) -> None:
    """R14 asks for no lab, so the grant's lab check (R62) answers without reading the enterprise's labs."""
    application_id = file_application(container, cast, (fx10_cytokine(),))
    under_review(container, cast, application_id)
    granting = c.GrantApplication(cast.decider, application_id, "granted")
    sent = statements(container.engine, lambda: container.bus.handle(granting))
    assert sent and not [statement for statement in sent if "FROM laboratories" in statement]


def test_each_step_of_the_flow_reads_what_it_needs_beside_its_application_in_one_statement(
    pg_container: Container,
) -> None:
    container, cast = pg_container, make_cast(pg_container)
    application_id = file_application(container, cast)
    steps = {
        "submit": c.SubmitApplication(cast.applicant, application_id),
        "screen": c.ScreenApplication(SYSTEM_ACTOR, application_id),
        "accept": c.AcceptApplication(cast.acceptor, application_id),
        "start_review": c.StartReview(cast.reviewer, application_id),
        "grant": c.GrantApplication(cast.decider, application_id, "granted"),
    }
    sent = {step: statements(container.engine, lambda command=command: container.bus.handle(command))
            for step, command in steps.items()}  # fmt: skip
    assert {step: len(shapes) for step, shapes in sent.items()} == FLOW_STATEMENTS, sent
