"""One application, many write-offs: the scenarios S-W1…S-W6 of DOMAIN.md and the ledger rules, on both engines."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from config.bootstrap import Container
from tests.conftest import Cast, FixedClock
from tests.integration.support import (
    balances,
    certificate_state,
    declaration_no,
    declare,
    fx01_serum,
    fx04_ecoli,
    fx09_hek293,
    fx10_cytokine,
    grant,
    ledger,
)
from workflow.domain import commands as c
from workflow.domain.actors import Actor, Role
from workflow.domain.draws import inspection_draw
from workflow.domain.errors import ConcurrencyConflict, GuardFailed, InvalidInput, PermissionDenied
from workflow.domain.goods import Direction
from workflow.domain.ledger import Disposal, ReversalReason
from workflow.store.tables import CreditRecordRow, LedgerEntryRow

D = Decimal


def test_s_w1_three_batches_exhaust_a_grade_c_certificate_and_a_fourth_is_held(
    container: Container, cast: Cast
) -> None:
    number = grant(container, cast, fx10_cytokine(100))
    for qty in (30, 30, 40):
        assert declare(container, cast, number, qty)["state"] == "released"
    assert balances(container, number) == {1: (D(100), D(100), D(0))}
    assert certificate_state(container, number) == "exhausted"
    fourth = declare(container, cast, number, 1)
    assert fourth["state"] == "port_review" and "exhausted" in fourth["hold_reason"]
    assert balances(container, number)[1] == (D(100), D(100), D(0))


def test_s_w2_the_first_grade_a_write_off_exhausts_the_certificate_and_the_rest_lapses(
    container: Container, cast: Cast
) -> None:
    number = grant(container, cast, fx01_serum(2000), direction=Direction.EXIT)
    first = declare(container, cast, number, 1200, direction=Direction.EXIT, inspected=True, rate=D(1))
    assert first["state"] == "inspection" and first["route"]["rate"] == "1"  # E1: grade A is always inspected
    container.bus.handle(c.RecordInspection(cast.port_officer, first["declaration_id"], outcome="pass"))
    assert certificate_state(container, number) == "exhausted"
    with pytest.raises(GuardFailed) as refused:  # W4: refused outright, nothing filed for a port officer to hold
        declare(container, cast, number, 800, direction=Direction.EXIT, inspected=True, rate=D(1))
    assert (refused.value.rule_id, refused.value.field) == ("W4", "certificate_no")
    assert balances(container, number)[1] == (D(2000), D(1200), D(0))


def test_s_w3_a_declaration_after_validity_is_held_and_rejected(
    container: Container, cast: Cast, clock: FixedClock
) -> None:
    clock.today_value = date(2016, 3, 1)
    number = grant(container, cast, fx04_ecoli(10))
    clock.today_value = date(2016, 9, 2)  # declared on the port's own today (R39)
    late = declare(container, cast, number, 2, on="2016-09-02")
    assert late["state"] == "port_review" and "2016-09-01" in late["hold_reason"]
    rejected = container.bus.handle(
        c.ResolveHold(cast.port_officer, late["declaration_id"], "expired (R39)", split=False)
    )
    assert rejected["state"] == "rejected"
    assert ledger(container, number) == []
    on_time = declare(container, cast, number, 2, on="2016-09-01")  # dated the day before: within the window
    assert on_time["state"] in ("follow_up_pending", "inspection")  # grade B: released into follow-up (R53)


def test_s_w4_an_over_quantity_shipment_is_split_and_the_excess_returned(container: Container, cast: Cast) -> None:
    number = grant(container, cast, fx09_hek293(5))
    held = declare(container, cast, number, 7)
    assert held["state"] == "port_review" and "7 支 declared, 5 remaining" in held["hold_reason"]
    assert balances(container, number)[1] == (D(5), D(0), D(0))
    split = container.bus.handle(
        c.ResolveHold(
            cast.port_officer, held["declaration_id"], "W6: split 5 + return 2", split=True, disposal=Disposal.RETURN
        )
    )
    assert split["drawn"] == {"1": "5"} and split["disposal"] == "return"
    if split["state"] == "inspection":
        container.bus.handle(c.RecordInspection(cast.port_officer, held["declaration_id"], outcome="pass"))
    assert balances(container, number)[1] == (D(5), D(5), D(0))
    assert certificate_state(container, number) == "exhausted"


def test_s_w5_withdrawing_before_release_releases_the_reservation(container: Container, cast: Cast) -> None:
    number = grant(container, cast, fx10_cytokine(100))
    inspected = declare(container, cast, number, 40, inspected=True)
    assert inspected["state"] == "inspection"
    assert balances(container, number)[1] == (D(100), D(0), D(40))
    container.bus.handle(c.WithdrawDeclaration(cast.applicant, inspected["declaration_id"], "deleted (删单)"))
    assert balances(container, number)[1] == (D(100), D(0), D(0))
    assert [kind for kind, _qty in ledger(container, number)] == ["reserve", "release"]


def test_s_w5_a_reversal_needs_a_second_officer_and_restores_the_quota(container: Container, cast: Cast) -> None:
    number = grant(container, cast, fx10_cytokine(100))
    for qty in (60, 40):
        declare(container, cast, number, qty)
    assert certificate_state(container, number) == "exhausted"
    commit_id = _last_commit(container)
    request = container.bus.handle(
        c.RequestReversal(cast.port_officer, commit_id, D(10), ReversalReason.CLERICAL_ERROR, "typed 40 for 30")
    )
    same_person = Actor(cast.port_officer.user_id, Role.DECIDER, "same", district="xiamen")
    with pytest.raises(PermissionDenied) as refused:
        container.bus.handle(c.DecideReversal(same_person, request["reversal_id"]))
    assert refused.value.rule_id == "W10"
    container.bus.handle(c.DecideReversal(cast.decider, request["reversal_id"], reason="checked the invoice"))
    assert balances(container, number)[1] == (D(100), D(90), D(0))
    assert certificate_state(container, number) == "active"  # W10: reopened within validity
    with container.sessions() as session:
        reverse = session.scalars(select(LedgerEntryRow).where(LedgerEntryRow.kind == "reverse")).one()
    assert (reverse.actor_id, reverse.approver_id) == (cast.port_officer.user_id, cast.decider.user_id)
    assert reverse.reverses_entry_id == commit_id
    with pytest.raises(ConcurrencyConflict):
        container.bus.handle(c.DecideReversal(cast.decider, request["reversal_id"]))


def test_s_w5_a_grade_a_write_off_is_never_reversed(container: Container, cast: Cast) -> None:
    number = grant(container, cast, fx01_serum(100), direction=Direction.EXIT)
    shipment = declare(container, cast, number, 50, direction=Direction.EXIT, inspected=True, rate=D(1))
    container.bus.handle(c.RecordInspection(cast.port_officer, shipment["declaration_id"], outcome="pass"))
    with pytest.raises(GuardFailed) as refused:
        container.bus.handle(
            c.RequestReversal(cast.port_officer, _last_commit(container), D(10), ReversalReason.QUANTITY_CORRECTION)
        )
    assert refused.value.rule_id == "W10"


def test_s_w6_a_failed_follow_up_withdraws_even_an_exhausted_certificate_and_orders_destruction(
    container: Container, cast: Cast
) -> None:
    number = grant(container, cast, fx04_ecoli(10))
    shipment = declare(container, cast, number, 10, inspected=False, rate=D("0.5"))
    assert shipment["state"] == "follow_up_pending" and shipment["follow_up_due_on"] == "2016-07-01"
    assert certificate_state(container, number) == "exhausted"
    result = container.bus.handle(
        c.ReportFollowUp(
            _dest_officer(container, cast),
            shipment["declaration_id"],
            "user lab differs from the certificate",
            lab_matches=False,
            goods_match=True,
        )
    )
    assert result == {
        "declaration_id": shipment["declaration_id"],
        "state": "follow_up_failed",
        "passed": False,
        "disposal": "destroy",
    }
    assert certificate_state(container, number) == "withdrawn"


def test_w9_revoking_a_certificate_releases_open_reservations_and_voids_declarations(
    container: Container, cast: Cast
) -> None:
    number = grant(container, cast, fx10_cytokine(100))
    open_one = declare(container, cast, number, 25, inspected=True)
    declare(container, cast, number, 10)
    certificate_id = open_one["route"] and _certificate_id(container, number)
    container.bus.handle(c.EndCertificate(cast.decider, certificate_id, "revoke", "obtained by fraud (R26)"))
    assert certificate_state(container, number) == "revoked"
    assert balances(container, number)[1] == (D(100), D(10), D(0))
    after = declare(container, cast, number, 1)
    assert after["state"] == "port_review" and "revoked" in after["hold_reason"]


def test_a_declaration_replayed_by_number_returns_the_first_result_and_writes_nothing(
    container: Container, cast: Cast
) -> None:
    number = grant(container, cast, fx10_cytokine(100))
    no = declaration_no(container, number, inspected=False, rate=D("0.1"))
    first = declare(container, cast, number, 30, number=no)
    entries = ledger(container, number)
    again = declare(container, cast, number, 30, number=no)
    assert again["replayed"] is True and again["declaration_id"] == first["declaration_id"]
    assert ledger(container, number) == entries
    with pytest.raises(ConcurrencyConflict):
        declare(container, cast, number, 31, number=no)


def test_an_idempotency_key_replays_the_first_result(container: Container, cast: Cast) -> None:
    number = grant(container, cast, fx10_cytokine(100))
    first = declare(container, cast, number, 30, key="client-retry-1")
    replay = container.bus.handle(
        c.DeclareShipment(
            cast.applicant,
            first["declaration_no"],
            number,
            date(2016, 6, 1),
            Direction.ENTRY,
            ((1, D(30)),),
            idempotency_key="client-retry-1",
        )
    )
    assert replay["replayed"] is True and replay["declaration_id"] == first["declaration_id"]
    assert balances(container, number)[1][1] == D(30)
    with pytest.raises(InvalidInput) as wrong:
        declare(container, cast, number, 5, key="client-retry-1")
    assert wrong.value.field == "Idempotency-Key"


def test_e1_e2_the_route_stores_a_draw_the_auditor_can_recompute_with_credit_as_of_the_declaration(
    container: Container, cast: Cast
) -> None:
    with container.sessions() as session, session.begin():
        session.add(
            CreditRecordRow(
                enterprise_id=cast.enterprise_id,
                tier="advanced_certified",
                regime="order-251",
                effective_from=date(2016, 1, 1),
            )
        )
    number = grant(container, cast, fx10_cytokine(100))
    shipment = declare(container, cast, number, 10, inspected=False, rate=D("0.02"))
    route = shipment["route"]
    assert route["rate"] == "0.02" and route["credit_tier"] == "advanced_certified"  # S-C1: 0.1 × 0.2
    with container.deps.uow() as uow:
        key = uow.draws.period_key("xiamen", route["draw_period"]).secret()
    assert D(route["draw"]) == inspection_draw(key, "xiamen", route["draw_period"], number, shipment["declaration_no"])
    assert route["inspected"] is False and D(route["draw"]) >= D("0.02")


def test_the_expiry_sweep_expires_once_and_keeps_reservations(
    container: Container, cast: Cast, clock: FixedClock
) -> None:
    number = grant(container, cast, fx10_cytokine(100))
    declare(container, cast, number, 10, inspected=True)
    clock.today_value = date(2017, 6, 2)
    assert container.bus.handle(c.ExpireCertificates(cast.applicant)) == 1
    assert container.bus.handle(c.ExpireCertificates(cast.applicant)) == 0
    assert certificate_state(container, number) == "expired"
    assert balances(container, number)[1] == (D(100), D(0), D(10))  # W7: may still be committed


def test_an_overdue_follow_up_is_alerted_once(container: Container, cast: Cast, clock: FixedClock) -> None:
    number = grant(container, cast, fx04_ecoli(10))
    shipment = declare(container, cast, number, 3, inspected=False, rate=D("0.5"))
    clock.today_value = date(2016, 7, 2)
    assert container.bus.handle(c.FlagOverdueFollowUps(cast.applicant)) == 1
    assert container.bus.handle(c.FlagOverdueFollowUps(cast.applicant)) == 0
    from workflow.store import api_reads

    with container.sessions() as session:
        trail = api_reads.audit_trail(session, "declaration", shipment["declaration_id"])
    assert trail[-1]["trigger"] == "follow_up_overdue" and "R54" in trail[-1]["rule_ids"]


def test_another_enterprise_cannot_declare_against_the_certificate(container: Container, cast: Cast) -> None:
    from tests.conftest import make_cast

    number = grant(container, cast, fx10_cytokine(100))
    other = make_cast(container, suffix="9")
    with pytest.raises(PermissionDenied):
        declare(container, other, number, 1)
    with container.sessions() as session:
        assert session.scalar(select(func.count()).select_from(LedgerEntryRow)) == 0


def _last_commit(container: Container) -> int:
    with container.sessions() as session:
        return int(session.scalar(select(func.max(LedgerEntryRow.id)).where(LedgerEntryRow.kind == "commit")) or 0)


def _certificate_id(container: Container, number: str) -> int:
    from workflow.store.tables import CertificateRow

    with container.sessions() as session:
        return int(session.scalar(select(CertificateRow.id).where(CertificateRow.certificate_no == number)) or 0)


def _dest_officer(container: Container, cast: Cast) -> Actor:
    from workflow.store.directory import create_user

    with container.sessions() as session, session.begin():
        user = create_user(
            session,
            username="xiamen.dest",
            role=Role.DEST_OFFICER,
            password_hash="",
            now=container.deps.clock.now(),
            district="xiamen",
        )
        return Actor(user.id, Role.DEST_OFFICER, "dest", district="xiamen")


def test_r47_sampled_goods_stay_reserved_until_the_laboratory_passes_them(container: Container, cast: Cast) -> None:
    number = grant(container, cast, fx10_cytokine(100))
    shipment = declare(container, cast, number, 20, inspected=True)
    container.bus.handle(c.RecordInspection(cast.port_officer, shipment["declaration_id"], "sampled", outcome="sample"))
    assert balances(container, number)[1] == (D(100), D(0), D(20))
    released = container.bus.handle(c.RecordLabResult(cast.port_officer, shipment["declaration_id"], passed=True))
    assert released["state"] == "released"
    assert balances(container, number)[1] == (D(100), D(20), D(0))


def test_r49_failed_goods_get_a_disposal_notice_and_no_write_off(container: Container, cast: Cast) -> None:
    number = grant(container, cast, fx10_cytokine(100))
    shipment = declare(container, cast, number, 20, inspected=True)
    with pytest.raises(InvalidInput):
        container.bus.handle(
            c.RecordInspection(cast.port_officer, shipment["declaration_id"], "leaking", outcome="fail")
        )
    failed = container.bus.handle(
        c.RecordInspection(
            cast.port_officer, shipment["declaration_id"], "leaking (R49.3)", outcome="fail", disposal=Disposal.DESTROY
        )
    )
    assert (failed["state"], failed["disposal"]) == ("disposal_ordered", "destroy")
    assert balances(container, number)[1] == (D(100), D(0), D(0))
    closed = container.bus.handle(c.CompleteDisposal(cast.port_officer, shipment["declaration_id"]))
    assert closed["state"] == "closed"
    assert [kind for kind, _qty in ledger(container, number)] == ["reserve", "release"]


def test_only_a_port_officer_records_inspection_outcomes(container: Container, cast: Cast) -> None:
    number = grant(container, cast, fx10_cytokine(100))
    shipment = declare(container, cast, number, 20, inspected=True)
    with pytest.raises(PermissionDenied):
        container.bus.handle(c.RecordInspection(cast.applicant, shipment["declaration_id"], outcome="pass"))
    assert balances(container, number)[1] == (D(100), D(0), D(20))


def test_c3_the_sweep_exhausts_a_used_up_certificate_whose_post_commit_check_never_ran(
    container: Container, cast: Cast
) -> None:
    from sqlalchemy import update

    from workflow.store.tables import CertificateRow

    number = grant(container, cast, fx10_cytokine(10))
    declare(container, cast, number, 10)
    assert certificate_state(container, number) == "exhausted"
    with container.sessions() as session, session.begin():  # as if the process died right after its commit
        session.execute(update(CertificateRow).where(CertificateRow.certificate_no == number).values(state="active"))
    assert container.bus.handle(c.ExhaustUsedUp(cast.applicant)) == 1
    assert certificate_state(container, number) == "exhausted"
    assert container.bus.handle(c.ExhaustUsedUp(cast.applicant)) == 0


def test_w8_the_guarded_statement_alone_refuses_more_than_remains(container: Container, cast: Cast) -> None:
    """The SQL guard, without the D2 check in front of it: quantities must be compared in the same scale."""
    number = grant(container, cast, fx10_cytokine(3))
    with container.deps.uow() as uow:
        line = uow.ledger.share_certificates([number])[number].lines[1]
        assert uow.ledger.draw(line.line_id, D(5), commit=True) is None
        assert uow.ledger.draw(line.line_id, D("2.5"), commit=True) == D("0.5")
        assert uow.ledger.draw(line.line_id, D("0.5001"), commit=False) is None
        balances_now = uow.ledger.line_balances(uow.ledger.share_certificates([number])[number].id)
        assert [line.remaining for line in balances_now] == [D("0.5")]
