"""R26 at submission (A1): a denial for false information bars the applicant for a year, a revocation for fraud for
three; the guard reads the ban in the submitting transaction, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select

from config.bootstrap import Container
from tests.conftest import Cast, FixedClock, make_cast
from tests.integration.support import file_application, fx10_cytokine, grant
from workflow.domain import commands as c
from workflow.domain.errors import GuardFailed
from workflow.store import api_reads
from workflow.store.tables import ApplicantBanRow, AuditEventRow, CertificateRow


def denied_for_false_information(container: Container, cast: Cast) -> int:
    application_id = file_application(container, cast, (fx10_cytokine(),))
    for command in (
        c.SubmitApplication(cast.applicant, application_id),
        c.AcceptApplication(cast.acceptor, application_id),
        c.StartReview(cast.reviewer, application_id),
        c.DenyApplication(cast.decider, application_id, "申报材料虚假 forged lab permit", false_information=True),
    ):
        container.bus.handle(command)
    return application_id


def submit_refused(container: Container, cast: Cast, application_id: int) -> GuardFailed:
    with container.sessions() as session:
        events = session.scalar(select(func.count()).select_from(AuditEventRow))
    with pytest.raises(GuardFailed) as refused:
        container.bus.handle(c.SubmitApplication(cast.applicant, application_id))
    with container.sessions() as session:
        assert session.scalar(select(func.count()).select_from(AuditEventRow)) == events
    return refused.value


def test_r26_a_denial_for_false_information_bars_the_applicant_for_one_year(
    container: Container, cast: Cast, clock: FixedClock
) -> None:
    denied = denied_for_false_information(container, cast)
    draft = file_application(container, cast, (fx10_cytokine(),))

    refused = submit_refused(container, cast, draft)

    assert refused.rule_id == "R26" and "2017-05-31" in refused.message
    with container.sessions() as session:
        trail = api_reads.audit_trail(session, "application", denied)
    deny = next(event for event in trail if event["trigger"] == "deny")
    assert "R26" in deny["rule_ids"]
    clock.today_value = date(2017, 6, 1)  # the anniversary: the ban is over
    container.bus.handle(c.SubmitApplication(cast.applicant, draft))


def test_r26_a_ban_is_the_enterprises_alone(container: Container, cast: Cast) -> None:
    denied_for_false_information(container, cast)
    other = make_cast(container, suffix="2")

    container.bus.handle(c.SubmitApplication(other.applicant, file_application(container, other, (fx10_cytokine(),))))


def test_r26_a_denial_without_the_finding_bars_nobody(container: Container, cast: Cast) -> None:
    application_id = file_application(container, cast, (fx10_cytokine(),))
    for command in (
        c.SubmitApplication(cast.applicant, application_id),
        c.AcceptApplication(cast.acceptor, application_id),
        c.StartReview(cast.reviewer, application_id),
        c.DenyApplication(cast.decider, application_id, "用途不明 purpose unclear"),
    ):
        container.bus.handle(command)

    container.bus.handle(c.SubmitApplication(cast.applicant, file_application(container, cast, (fx10_cytokine(),))))
    with container.sessions() as session:
        assert session.scalar(select(func.count()).select_from(ApplicantBanRow)) == 0


def test_r26_a_revocation_for_fraud_bars_the_applicant_for_three_years(
    container: Container, cast: Cast, clock: FixedClock
) -> None:
    number = grant(container, cast, fx10_cytokine())
    with container.sessions() as session:
        certificate_id = session.scalar(select(CertificateRow.id).where(CertificateRow.certificate_no == number))
    container.bus.handle(
        c.EndCertificate(cast.decider, certificate_id or 0, "revoke", "以贿赂取得许可 obtained by bribery", fraud=True)
    )
    draft = file_application(container, cast, (fx10_cytokine(),))

    clock.today_value = date(2019, 5, 31)
    assert submit_refused(container, cast, draft).rule_id == "R26"
    clock.today_value = date(2019, 6, 1)
    container.bus.handle(c.SubmitApplication(cast.applicant, draft))
