"""Changes to a granted certificate (R43, C7): cancellation at the holder's request and amendments, on both engines."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from config.bootstrap import Container
from tests.conftest import Cast, FixedClock
from tests.integration.support import balances, certificate_state, declare, fx10_cytokine, grant
from workflow.domain import commands as c
from workflow.domain.certificate_changes import ChangeKind, Particulars
from workflow.domain.errors import GuardFailed, InvalidInput, InvalidTransition, PermissionDenied
from workflow.store import api_reads
from workflow.store.certificate_changes import particulars_of
from workflow.store.tables import CertificateChangeRow, CertificateRow, NotificationRow, OutboxRow

D = Decimal


def _certificate(container: Container, number: str) -> CertificateRow:
    with container.sessions() as session:
        row = session.scalar(select(CertificateRow).where(CertificateRow.certificate_no == number))
        assert row is not None
        session.expunge(row)
        return row


def _trail(container: Container, certificate_id: int) -> list[dict]:
    with container.sessions() as session:
        return api_reads.audit_trail(session, "certificate", certificate_id)


def _inbox(container: Container, user_id: int | None) -> list[str]:
    with container.sessions() as session:
        return list(session.scalars(select(NotificationRow.kind).where(NotificationRow.user_id == user_id)))


def _fan_outs(container: Container) -> list[str]:
    with container.sessions() as session:
        payloads = session.scalars(select(OutboxRow.payload).where(OutboxRow.task == "notify_officers"))
        return [payload["kind"] for payload in payloads]


def _request_state(container: Container, change_id: int) -> str:
    with container.sessions() as session:
        return str(session.scalar(select(CertificateChangeRow.state).where(CertificateChangeRow.id == change_id)))


def _ask_cancel(container: Container, cast: Cast, certificate_id: int, reason: str = "项目终止，不再进口") -> int:
    command = c.RequestCertificateChange(cast.applicant, certificate_id, ChangeKind.CANCELLATION, reason)
    return int(container.bus.handle(command))


def test_c7_a_cancellation_asked_by_the_holder_and_approved_releases_reservations_and_refuses_new_declarations(
    container: Container, cast: Cast
) -> None:
    number = grant(container, cast, fx10_cytokine(100))
    certificate = _certificate(container, number)
    held = declare(container, cast, number, 30, inspected=True)  # reserved, waiting for inspection
    assert balances(container, number)[1] == (D(100), D(0), D(30))

    change_id = _ask_cancel(container, cast, certificate.id)
    assert certificate_state(container, number) == "active"  # only a decider cancels (C7)
    assert "certificate_cancellation_requested" in _fan_outs(container)
    assert container.bus.handle(c.DecideCertificateChange(cast.decider, change_id, True, "")) == "approved"

    assert certificate_state(container, number) == "cancelled"
    assert balances(container, number)[1] == (D(100), D(0), D(0))  # W9: the reservation is released
    with container.sessions() as session:
        assert api_reads.declaration(session, held["declaration_id"])["state"] == "withdrawn"
    cancel = next(event for event in _trail(container, certificate.id) if event["trigger"] == "cancel")
    assert cancel["reason"] == "项目终止，不再进口" and cancel["actor"]["role"] == "decider"
    assert "certificate_cancellation_approved" in _inbox(container, cast.applicant.user_id)
    assert "certificate_cancelled" in _fan_outs(container)
    with pytest.raises(GuardFailed) as refused:
        declare(container, cast, number, 1)
    assert (refused.value.rule_id, refused.value.field) == ("C7", "certificate_no")


def test_c7_a_cancellation_request_needs_its_ground_and_only_the_holder_may_ask(
    container: Container, cast: Cast
) -> None:
    certificate = _certificate(container, grant(container, cast, fx10_cytokine(10)))
    with pytest.raises(GuardFailed) as no_ground:
        _ask_cancel(container, cast, certificate.id, " ")
    assert (no_ground.value.rule_id, no_ground.value.field) == ("C7", "reason")
    with pytest.raises(PermissionDenied):
        container.bus.handle(c.RequestCertificateChange(cast.decider, certificate.id, ChangeKind.CANCELLATION, "x"))
    assert [event["trigger"] for event in _trail(container, certificate.id)] == ["issue"]


def test_r43_a_refused_request_changes_nothing_and_tells_the_holder_why(container: Container, cast: Cast) -> None:
    number = grant(container, cast, fx10_cytokine(10))
    certificate = _certificate(container, number)
    change_id = _ask_cancel(container, cast, certificate.id)
    with pytest.raises(GuardFailed) as unexplained:
        container.bus.handle(c.DecideCertificateChange(cast.decider, change_id, False, ""))
    assert unexplained.value.rule_id == "R43"

    container.bus.handle(c.DecideCertificateChange(cast.decider, change_id, False, "尚有在途货物"))

    assert certificate_state(container, number) == "active"
    assert "certificate_change_refused" in _inbox(container, cast.applicant.user_id)
    with pytest.raises(InvalidTransition):  # decided once: the request is no longer open (409 either way)
        container.bus.handle(c.DecideCertificateChange(cast.decider, change_id, True, ""))


def test_r43_an_amendment_records_the_field_diff_and_never_moves_the_expiry(container: Container, cast: Cast) -> None:
    number = grant(container, cast, fx10_cytokine(10), ports=("厦门高崎机场",))
    before = _certificate(container, number)
    asked = Particulars("王五", "0592-5550123", "厦门报关行有限公司", ("厦门高崎机场", "厦门海沧港"))
    change_id = container.bus.handle(
        c.RequestCertificateChange(cast.applicant, before.id, ChangeKind.AMENDMENT, "联系人变更", asked)
    )
    with pytest.raises(GuardFailed):  # one open request at a time
        _ask_cancel(container, cast, before.id)

    container.bus.handle(c.DecideCertificateChange(cast.decider, change_id, True, "核对无误"))

    after = _certificate(container, number)
    assert (after.valid_from, after.valid_until, after.state) == (before.valid_from, before.valid_until, "active")
    with container.sessions() as session:
        assert particulars_of(session, before.id) == asked
    amend = next(event for event in _trail(container, before.id) if event["trigger"] == "amend")
    assert {change["field"] for change in amend["inputs"]["changes"]} == {"contact_person", "phone", "agent", "ports"}
    assert "certificate_amendment_approved" in _inbox(container, cast.applicant.user_id)
    # D2 now matches the amended ports: the new port releases
    assert declare(container, cast, number, 1, port="厦门海沧港")["state"] == "released"


def test_r43_an_amendment_that_changes_nothing_is_refused_at_its_field(container: Container, cast: Cast) -> None:
    certificate = _certificate(container, grant(container, cast, fx10_cytokine(10)))
    with container.sessions() as session:
        same = particulars_of(session, certificate.id)
    with pytest.raises(InvalidInput) as refused:
        container.bus.handle(c.RequestCertificateChange(cast.applicant, certificate.id, ChangeKind.AMENDMENT, "", same))
    assert refused.value.rule_id == "R43"


@pytest.mark.parametrize("approve", [True, False], ids=["amend", "refuse_change"])
def test_r43_only_a_decider_of_the_district_decides_a_request_and_only_on_an_active_certificate(
    container: Container, cast: Cast, approve: bool
) -> None:
    """The sweep of `amend` and `refuse_change`: every other role is refused with nothing written, and once the
    certificate has ended a decision is refused by the lifecycle (both transitions need ACTIVE)."""
    number = grant(container, cast, fx10_cytokine(10))
    certificate = _certificate(container, number)
    change_id = _ask_cancel(container, cast, certificate.id)
    for actor in [cast.applicant, *(officer for role, officer in cast.officers.items() if role.value != "decider")]:
        with pytest.raises((PermissionDenied, GuardFailed)):
            container.bus.handle(c.DecideCertificateChange(actor, change_id, approve, "理由"))
    assert [event["trigger"] for event in _trail(container, certificate.id)] == ["issue", "request_cancellation"]

    container.bus.handle(c.EndCertificate(cast.decider, certificate.id, "revoke", "obtained by fraud"))
    assert _request_state(container, change_id) == "lapsed"  # it ended with the certificate, not left hanging
    with pytest.raises(InvalidTransition):
        container.bus.handle(c.DecideCertificateChange(cast.decider, change_id, approve, "理由"))
    assert certificate_state(container, number) == "revoked"


def test_r43_a_request_still_open_when_the_certificate_expires_lapses_with_it(
    container: Container, cast: Cast, clock: FixedClock
) -> None:
    number = grant(container, cast, fx10_cytokine(10))
    certificate = _certificate(container, number)
    change_id = _ask_cancel(container, cast, certificate.id)
    clock.today_value = certificate.valid_until + timedelta(days=1)

    assert container.bus.handle(c.ExpireCertificates(cast.applicant)) == 1

    assert certificate_state(container, number) == "expired" and _request_state(container, change_id) == "lapsed"
    with pytest.raises(InvalidTransition):
        container.bus.handle(c.DecideCertificateChange(cast.decider, change_id, True, "同意"))
