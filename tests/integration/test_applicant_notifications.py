"""The applicant is told: correction requested, not accepted, accepted (by hand or deemed), referred to risk
assessment with the expected time (R21), granted with the certificate, denied with the reasons — each in the
transaction of the change, to every active user of the enterprise, in the inbox and by mail in the user's language."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from sqlalchemy import select

from config.bootstrap import Container
from tasks.mail import render
from tests.conftest import Cast, FixedClock
from tests.integration.support import file_application, fx04_ecoli, grant
from tests.integration.test_review import experts, under_review
from workflow.domain import commands as c
from workflow.domain.actors import Role
from workflow.store.directory import create_user
from workflow.store.repositories import SqlOutbox
from workflow.store.tables import ApplicationRow, CertificateRow, NotificationRow, OutboxRow, UserRow


def colleague(container: Container, cast: Cast, username: str, locale: str = "zh", active: bool = True) -> int:
    """Another user of the applicant's enterprise."""
    with container.sessions() as session, session.begin():
        user = create_user(
            session,
            username=username,
            role=Role.APPLICANT,
            password_hash="",
            now=container.deps.clock.now(),
            enterprise_id=cast.enterprise_id,
        )
        user.locale, user.active = locale, active
        return user.id


def told(container: Container, user_id: int, kind: str) -> list[dict[str, str]]:
    """The params of each notification of this kind in the user's inbox, oldest first."""
    with container.sessions() as session:
        query = select(NotificationRow.params).where(NotificationRow.user_id == user_id, NotificationRow.kind == kind)
        return [dict(params) for params in session.scalars(query.order_by(NotificationRow.id))]


def mailed(container: Container, kind: str) -> int:
    """send_email outbox rows for notifications of this kind: each one is also a mail."""
    with container.sessions() as session:
        ids = set(session.scalars(select(NotificationRow.id).where(NotificationRow.kind == kind)))
        payloads = session.scalars(select(OutboxRow.payload).where(OutboxRow.task == "send_email"))
        return sum(1 for payload in payloads if payload["notification_id"] in ids)


def reference(container: Container, application_id: int) -> str:
    with container.sessions() as session:
        return str(session.scalar(select(ApplicationRow.reference).where(ApplicationRow.id == application_id)))


def applicant_id(cast: Cast) -> int:
    assert cast.applicant.user_id is not None
    return cast.applicant.user_id


def submitted(container: Container, cast: Cast) -> int:
    application_id = file_application(container, cast)
    container.bus.handle(c.SubmitApplication(cast.applicant, application_id))
    return application_id


def assert_rendered(kind: str, params: dict[str, str], zh_subject: str, en_subject: str) -> None:
    """Every param appears in the zh and the en mail; each subject is in its own language."""
    for locale, subject_start in (("zh", zh_subject), ("en", en_subject)):
        subject, body = render(kind, locale, params)
        assert subject == f"{subject_start}{params['reference']}"
        assert all(value in subject + body for value in params.values())


def test_a_correction_request_tells_every_active_enterprise_user_the_whole_list(
    container: Container, cast: Cast
) -> None:
    english = colleague(container, cast, "xiamen.applicant-en", locale="en")
    gone = colleague(container, cast, "xiamen.applicant-gone", active=False)
    application_id = submitted(container, cast)
    container.bus.handle(c.RequestCorrection(cast.acceptor, application_id, deficiencies=("缺少说明书", "用途不明")))
    expected = {"reference": reference(container, application_id), "deficiencies": "1. 缺少说明书\n2. 用途不明"}
    assert told(container, applicant_id(cast), "correction_requested") == [expected]
    assert told(container, english, "correction_requested") == [expected]
    assert told(container, gone, "correction_requested") == []
    assert told(container, cast.acceptor.user_id or 0, "correction_requested") == []
    assert mailed(container, "correction_requested") == 2
    assert_rendered("correction_requested", expected, "申请材料需要补正：", "Corrections requested: ")
    _, body = render("correction_requested", "zh", expected)
    assert "1. 缺少说明书\n2. 用途不明" in body


def test_not_accepted_tells_the_reason(container: Container, cast: Cast) -> None:
    application_id = submitted(container, cast)
    container.bus.handle(c.NotAcceptApplication(cast.acceptor, application_id, "不属于特殊物品", ("R4",)))
    expected = {"reference": reference(container, application_id), "reason": "不属于特殊物品"}
    assert told(container, applicant_id(cast), "application_not_accepted") == [expected]
    assert_rendered("application_not_accepted", expected, "申请不予受理：", "Application not accepted: ")


def test_accepted_by_the_acceptor_tells_the_applicant_once(container: Container, cast: Cast) -> None:
    application_id = submitted(container, cast)
    container.bus.handle(c.AcceptApplication(cast.acceptor, application_id))
    expected = {"reference": reference(container, application_id)}
    assert told(container, applicant_id(cast), "application_accepted") == [expected]
    assert_rendered("application_accepted", expected, "申请已受理：", "Application accepted: ")


def test_a_deemed_acceptance_r17_tells_the_applicant_too(container: Container, cast: Cast, clock: FixedClock) -> None:
    application_id = submitted(container, cast)
    clock.today_value = date(2016, 6, 13)  # past the five-working-day correction window
    assert container.bus.handle(c.DeemAcceptances(cast.applicant)) == 1
    assert told(container, applicant_id(cast), "application_accepted") == [
        {"reference": reference(container, application_id)}
    ]


def test_r21_a_referral_tells_the_applicant_the_expected_time(container: Container, cast: Cast) -> None:
    experts(container, 6)
    application_id = under_review(container, cast, fx04_ecoli())
    result = container.bus.handle(c.ReferAssessment(cast.reviewer, application_id, "grade B (R32)"))
    expected = {"reference": reference(container, application_id), "expected_by": result["due_on"]}
    assert told(container, applicant_id(cast), "assessment_referred") == [expected]
    assert_rendered("assessment_referred", expected, "申请转入风险评估：", "Application referred to risk assessment: ")


def test_a_grant_tells_the_certificate_number_and_its_validity(container: Container, cast: Cast) -> None:
    english = colleague(container, cast, "xiamen.applicant-en", locale="en")
    certificate_no = grant(container, cast)
    with container.sessions() as session:
        valid_until = session.scalar(
            select(CertificateRow.valid_until).where(CertificateRow.certificate_no == certificate_no)
        )
    assert valid_until is not None
    [params] = told(container, applicant_id(cast), "application_granted")
    assert params | {"reference": ""} == {
        "reference": "",
        "certificate_no": certificate_no,
        "valid_until": valid_until.isoformat(),
    }
    assert told(container, english, "application_granted") == [params]
    assert told(container, applicant_id(cast), "application_accepted") == [{"reference": params["reference"]}]
    assert_rendered("application_granted", params, "准予许可：", "Application granted: ")
    with container.sessions() as session:
        locale = session.scalar(select(UserRow.locale).where(UserRow.id == english))
    subject, body = render("application_granted", locale or "", params)
    assert subject.startswith("Application granted") and certificate_no in body


def test_a_denial_tells_the_reasons(container: Container, cast: Cast) -> None:
    application_id = under_review(container, cast)
    container.bus.handle(c.DenyApplication(cast.decider, application_id, "用途不明；实验室条件不符"))
    expected = {"reference": reference(container, application_id), "reason": "用途不明；实验室条件不符"}
    assert told(container, applicant_id(cast), "application_denied") == [expected]
    assert_rendered("application_denied", expected, "不予许可：", "Application denied: ")


@pytest.mark.parametrize("trigger", ["accept", "deny"])
def test_a_rolled_back_transition_tells_nobody(
    container: Container, cast: Cast, monkeypatch: pytest.MonkeyPatch, trigger: str
) -> None:
    application_id = submitted(container, cast) if trigger == "accept" else under_review(container, cast)
    before = told(container, applicant_id(cast), "application_accepted")

    def fail_on_mail(self: SqlOutbox, task: str, payload: dict[str, Any]) -> None:
        raise RuntimeError("the broker's outbox row could not be written")

    monkeypatch.setattr(SqlOutbox, "add", fail_on_mail)  # after the inbox row, before COMMIT
    command = (
        c.AcceptApplication(cast.acceptor, application_id)
        if trigger == "accept"
        else c.DenyApplication(cast.decider, application_id, "用途不明")
    )
    with pytest.raises(RuntimeError, match="outbox row"):
        container.bus.handle(command)
    monkeypatch.undo()
    assert told(container, applicant_id(cast), "application_accepted") == before
    assert told(container, applicant_id(cast), "application_denied") == []
    with container.sessions() as session:
        state = session.scalar(select(ApplicationRow.state).where(ApplicationRow.id == application_id))
    assert state == ("submitted" if trigger == "accept" else "under_review")
