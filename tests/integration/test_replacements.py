"""Replacement applications (R43): pre-filled from the certificate, re-reviewed where changed, superseding on grant."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest
from sqlalchemy import select

from config.bootstrap import Container
from tests.conftest import Cast, assess_if_required
from tests.integration.support import (
    balances,
    certificate_state,
    declare,
    file_application,
    fx04_ecoli,
    fx10_cytokine,
    grant,
    under_review,
)
from workflow.domain import commands as c
from workflow.domain.errors import GuardFailed, PermissionDenied
from workflow.domain.goods import Direction
from workflow.store import api_reads
from workflow.store.audit_ledger import audit_ledger
from workflow.store.replacements import links_of_certificate, replacement_view
from workflow.store.tables import ApplicationRow, CertificateRow, DocumentRow

D = Decimal


def certificate_id(container: Container, number: str) -> int:
    with container.sessions() as session:
        found = session.scalar(select(CertificateRow.id).where(CertificateRow.certificate_no == number))
    assert found is not None
    return int(found)


def raised_draft(container: Container, cast: Cast, number: str, qty: int) -> int:
    """The holder's replacement draft of certificate `number` with line 1 raised to `qty` (a substantive change)."""
    draft = int(container.bus.handle(c.StartReplacement(cast.applicant, certificate_id(container, number))))
    with container.deps.uow() as uow:
        lines = uow.applications.get(draft).lines
    raised = (replace(lines[0], quantity=D(qty)), *lines[1:])
    container.bus.handle(c.ReviseDraft(cast.applicant, draft, Direction.ENTRY, raised))
    return draft


def to_review(container: Container, cast: Cast, application_id: int, assess: bool = True) -> None:
    """Submitted, screened by the worker's step as in production, accepted and under review (assessed if needed)."""
    under_review(container, cast, application_id)
    if assess:
        assess_if_required(container, cast.reviewer, application_id)


def replace_with(container: Container, cast: Cast, number: str, qty: int) -> int:
    """The replacement draft raised to `qty`, submitted and reviewed: ready for the decision."""
    draft = raised_draft(container, cast, number, qty)
    to_review(container, cast, draft)
    return draft


def screened_and_granted(container: Container, cast: Cast) -> str:
    """Two lines, screened on submission as in production, then granted."""
    application_id = file_application(container, cast, (fx10_cytokine(100), fx10_cytokine(20)))
    to_review(container, cast, application_id)
    new_id = container.bus.handle(c.GrantApplication(cast.decider, application_id, "granted"))
    with container.sessions() as session:
        return str(session.scalar(select(CertificateRow.certificate_no).where(CertificateRow.id == new_id)))


def test_r43_a_granted_replacement_supersedes_the_old_certificate_and_releases_its_reservations(
    container: Container, cast: Cast
) -> None:
    old_no = grant(container, cast, fx10_cytokine(100))
    released = declare(container, cast, old_no, 40)
    held = declare(container, cast, old_no, 30, inspected=True)
    draft = replace_with(container, cast, old_no, 300)

    new_id = container.bus.handle(c.GrantApplication(cast.decider, draft, "数量增加，重新审批"))

    assert certificate_state(container, old_no) == "cancelled"
    assert balances(container, old_no)[1] == (D(100), D(40), D(0))  # history kept, the reservation released (W9)
    old_id = certificate_id(container, old_no)
    with container.sessions() as session:
        assert api_reads.declaration(session, held["declaration_id"])["state"] == "withdrawn"
        assert api_reads.declaration(session, released["declaration_id"])["state"] == "released"
        old_links = links_of_certificate(session, old_id)
        new_links = links_of_certificate(session, new_id)
        new_no = session.scalar(select(CertificateRow.certificate_no).where(CertificateRow.id == new_id))
        assert audit_ledger(session).ok
    assert old_links["replaced_by"]["id"] == new_id and new_links["replaces"]["certificate_no"] == old_no
    assert balances(container, str(new_no))[1] == (D(300), D(0), D(0))
    with pytest.raises(GuardFailed) as refused:
        declare(container, cast, old_no, 1)
    assert refused.value.rule_id == "C7"
    assert declare(container, cast, str(new_no), 50)["state"] == "released"


def test_r43_a_denied_replacement_changes_nothing_on_the_old_certificate(container: Container, cast: Cast) -> None:
    old_no = grant(container, cast, fx10_cytokine(100))
    declare(container, cast, old_no, 30, inspected=True)
    draft = replace_with(container, cast, old_no, 300)

    container.bus.handle(c.DenyApplication(cast.decider, draft, "用量依据不足"))

    assert certificate_state(container, old_no) == "active"
    assert balances(container, old_no)[1] == (D(100), D(0), D(30))
    old_id = certificate_id(container, old_no)
    with container.sessions() as session:
        assert links_of_certificate(session, old_id)["replaced_by"] is None
    assert declare(container, cast, old_no, 10)["state"] in ("released", "inspection")


def test_r43_the_screening_reuses_unchanged_lines_with_their_rule_ids_and_reviewers_see_the_diff(
    container: Container, cast: Cast
) -> None:
    old_no = screened_and_granted(container, cast)
    draft = replace_with(container, cast, old_no, 300)

    with container.sessions() as session:
        screening = session.scalar(select(ApplicationRow.screening).where(ApplicationRow.id == draft))
        view = replacement_view(session, draft)
        copied = session.scalars(select(DocumentRow.doc_type).where(DocumentRow.application_id == draft)).all()
    lines = screening["replacement"]["lines"]
    assert [line["status"] for line in lines] == ["changed", "unchanged"]
    assert lines[0]["changes"] == [{"field": "quantity", "old": "100", "new": "300"}] and "scope" not in lines[0]
    assert lines[1]["scope"]["rule_ids"] and lines[1]["reused_from"]
    assert screening["replacement"]["assessment_carries_over"] is True  # only the quantity moved
    assert view is not None and view["certificate_no"] == old_no and view["lines"][0]["status"] == "changed"
    assert copied, "the certificate's documents are carried into the draft"


def test_r43_only_the_holder_starts_one_replacement_of_an_active_certificate(container: Container, cast: Cast) -> None:
    old = certificate_id(container, grant(container, cast, fx10_cytokine(10)))
    with pytest.raises(PermissionDenied):
        container.bus.handle(c.StartReplacement(cast.decider, old))
    container.bus.handle(c.StartReplacement(cast.applicant, old))
    with pytest.raises(GuardFailed) as second:
        container.bus.handle(c.StartReplacement(cast.applicant, old))
    assert second.value.rule_id == "R43"


def test_r43_a_replacement_that_moves_no_risk_fact_carries_the_old_assessment_over(
    container: Container, cast: Cast
) -> None:
    old_no = grant(container, cast, fx04_ecoli(10))  # grade B: the panel assessed it (R32)
    draft = raised_draft(container, cast, old_no, 30)
    to_review(container, cast, draft, assess=False)

    referred = container.bus.handle(c.ReferAssessment(cast.reviewer, draft, "R32: risk assessment"))

    assert referred["outcome"] == "pass" and "panel" not in referred  # no new panel for the same risk facts
    with container.sessions() as session:
        trail = api_reads.audit_trail(session, "application", draft)
    carried = next(event for event in trail if event["trigger"] == "assessment_done")
    assert "carried over" in carried["reason"] and "(R43)" in carried["reason"]
    container.bus.handle(c.GrantApplication(cast.decider, draft, "数量增加"))
    assert certificate_state(container, old_no) == "cancelled"
