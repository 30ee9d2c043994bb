"""Credit events through the bus on SQLite and PostgreSQL (R68–R74): recorded, audited, notified, swept, read as of.

Each change is one transaction with its audit event and the enterprise admins' notifications; the restoration sweep
is idempotent; declarations read the tier of their own date (R73, E3) whichever day the change was recorded.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, insert, select

from config.bootstrap import Container
from tests.conftest import Cast, FixedClock, make_cast
from tests.integration.support import declare, fx10_cytokine, grant
from workflow.domain.actors import SYSTEM_ACTOR, Actor, Role
from workflow.domain.credit_events import (
    ApplyCreditRestorations,
    CreditChangeKind,
    CreditGround,
    RecordCreditChange,
    RecordViolationCase,
    ViolationKind,
)
from workflow.domain.errors import GuardFailed, InvalidInput, PermissionDenied
from workflow.domain.policy import CreditTier
from workflow.service import credit_events as credit_service
from workflow.store.enterprise_admin import make_admin
from workflow.store.tables import (
    AuditEventRow,
    CreditChangeRow,
    CreditRecordRow,
    DeclarationRow,
    NotificationRow,
    ViolationCaseRow,
)

TODAY = date(2016, 6, 1)
TOMORROW = TODAY + timedelta(days=1)


def discredit(actor: Actor, cast: Cast, start: date = TOMORROW, **overrides) -> RecordCreditChange:
    fields = {
        "enterprise_id": cast.enterprise_id,
        "kind": CreditChangeKind.DISCREDIT,
        "tier": CreditTier.DISCREDITED,
        "effective_from": start,
        "ground": CreditGround.SMUGGLING,
        "reason": "走私违法行为，经调查属实",
    } | overrides
    return RecordCreditChange(actor, **fields)


def records(container: Container, enterprise_id: int) -> list[tuple[str, date, date | None]]:
    with container.sessions() as session:
        rows = session.execute(
            select(CreditRecordRow.tier, CreditRecordRow.effective_from, CreditRecordRow.effective_to)
            .where(CreditRecordRow.enterprise_id == enterprise_id)
            .order_by(CreditRecordRow.effective_from)
        )
        return [tuple(row) for row in rows]


def events(container: Container, trigger: str) -> list[AuditEventRow]:
    with container.sessions() as session:
        query = select(AuditEventRow).where(AuditEventRow.object_type == "enterprise", AuditEventRow.trigger == trigger)
        return list(session.scalars(query))


def with_admin(container: Container, cast: Cast) -> Cast:
    with container.sessions() as session, session.begin():
        make_admin(session, cast.applicant.name)
    return cast


def seed(container: Container, enterprise_id: int, tier: CreditTier, start: date) -> None:
    with container.sessions() as session, session.begin():
        session.execute(
            insert(CreditRecordRow).values(
                enterprise_id=enterprise_id, tier=tier.value, regime="order-251", effective_from=start
            )
        )


def test_r72_r73_a_decider_discredits_from_tomorrow_audited_and_the_admin_told(container: Container, cast: Cast):
    with_admin(container, cast)
    seed(container, cast.enterprise_id, CreditTier.GENERAL, date(2015, 1, 1))
    change_id = container.bus.handle(discredit(cast.decider, cast))
    assert records(container, cast.enterprise_id) == [
        ("general", date(2015, 1, 1), TODAY),
        ("discredited", TOMORROW, None),
    ]
    [event] = events(container, "discredit")
    assert (event.from_state, event.to_state, event.actor_role) == ("general", "discredited", "decider")
    assert {"R72", "R73", "R70"} <= set(event.rule_ids)
    assert event.inputs["change_id"] == str(change_id) and event.inputs["ground"] == "smuggling"
    with container.sessions() as session:
        [notice] = session.scalars(select(NotificationRow).where(NotificationRow.kind == "credit_changed"))
        assert notice.user_id == cast.applicant.user_id
        assert notice.params["tier"] == "discredited" and notice.params["effective_from"] == TOMORROW.isoformat()
        change = session.get(CreditChangeRow, change_id)
        assert change is not None and change.recorded_by == cast.decider.user_id


@pytest.mark.parametrize("role", [Role.REVIEWER, Role.AUDITOR, Role.PORT_OFFICER, Role.ACCEPTOR])
def test_r72_only_the_decider_or_head_records_a_credit_change(container: Container, cast: Cast, role: Role):
    with pytest.raises(PermissionDenied):
        container.bus.handle(discredit(cast.officers[role], cast))
    assert records(container, cast.enterprise_id) == []
    assert events(container, "discredit") == []


def test_r72_an_officer_of_another_district_records_nothing_here(container: Container, cast: Cast):
    fuzhou = make_cast(container, district="fuzhou", suffix="2")
    with pytest.raises(PermissionDenied):
        container.bus.handle(discredit(fuzhou.decider, cast))
    with pytest.raises(PermissionDenied):
        container.bus.handle(discredit(Actor(cast.head.user_id, Role.HEAD, "nowhere", district=None), cast))
    assert records(container, cast.enterprise_id) == []


def test_r73_a_refused_change_writes_nothing(container: Container, cast: Cast):
    with pytest.raises(InvalidInput):
        container.bus.handle(discredit(cast.decider, cast, start=TODAY))
    with pytest.raises(GuardFailed):
        container.bus.handle(discredit(cast.head, cast, kind=CreditChangeKind.RESTORATION, tier=CreditTier.GENERAL,
                                       ground=CreditGround.CREDIT_REPAIRED))  # fmt: skip
    assert records(container, cast.enterprise_id) == []
    with container.sessions() as session:
        assert session.scalar(select(func.count()).select_from(CreditChangeRow)) == 0


def test_r74_a_violation_case_is_a_reference_once_per_number_and_feeds_a_discredit(container: Container, cast: Cast):
    with_admin(container, cast)
    number, forged = "厦关缉违字〔2016〕12号", ViolationKind.FORGED_CERTIFICATE
    case = RecordViolationCase(cast.reviewer, cast.enterprise_id, number, forged, date(2016, 5, 20), "变造检疫单证")
    case_id = container.bus.handle(case)
    with pytest.raises(InvalidInput) as twice:
        container.bus.handle(case)
    assert twice.value.field == "case_no"
    with pytest.raises(InvalidInput) as future:
        container.bus.handle(
            RecordViolationCase(cast.reviewer, cast.enterprise_id, "X-2", ViolationKind.OTHER, TOMORROW)
        )
    assert future.value.field == "decided_on"
    container.bus.handle(discredit(cast.decider, cast, ground=CreditGround.VIOLATION_CASE, case_id=case_id))
    with container.sessions() as session:
        assert session.scalar(select(func.count()).select_from(ViolationCaseRow)) == 1
        assert session.scalar(select(CreditChangeRow.case_id)) == case_id
        kinds = set(session.scalars(select(NotificationRow.kind)))
    assert kinds == {"violation_recorded", "credit_changed"}
    [event] = events(container, "record_violation")
    assert event.rule_ids == ["R74"] and "fine" not in event.inputs


def test_r74_a_change_cannot_cite_another_enterprises_case(container: Container, cast: Cast):
    other = make_cast(container, suffix="3")
    case_id = container.bus.handle(
        RecordViolationCase(other.reviewer, other.enterprise_id, "C-1", ViolationKind.OTHER, TODAY)
    )
    with pytest.raises(InvalidInput) as refused:
        container.bus.handle(discredit(cast.decider, cast, ground=CreditGround.VIOLATION_CASE, case_id=case_id))
    assert refused.value.field == "case_id"


def test_r69_the_sweep_restores_after_two_clean_years_once_however_often_it_runs(
    container: Container, cast: Cast, clock: FixedClock
):
    with_admin(container, cast)
    seed(container, cast.enterprise_id, CreditTier.DISCREDITED, date(2014, 6, 2))
    assert container.bus.handle(ApplyCreditRestorations(SYSTEM_ACTOR)) == 1
    assert container.bus.handle(ApplyCreditRestorations(SYSTEM_ACTOR)) == 0
    clock.today_value = TOMORROW
    assert container.bus.handle(ApplyCreditRestorations(SYSTEM_ACTOR)) == 0
    assert records(container, cast.enterprise_id) == [
        ("discredited", date(2014, 6, 2), TODAY),
        ("general", TOMORROW, None),
    ]
    [event] = events(container, "restoration")
    assert event.actor_role == "system" and event.inputs["ground"] == "no_discredit_period"
    assert "R69" in event.reason


def test_r69_r74_a_case_within_the_two_years_holds_the_restoration_back(container: Container, cast: Cast):
    seed(container, cast.enterprise_id, CreditTier.DISCREDITED, date(2014, 6, 2))
    container.bus.handle(RecordViolationCase(cast.reviewer, cast.enterprise_id, "C-9", ViolationKind.OTHER, TODAY))
    assert container.bus.handle(ApplyCreditRestorations(SYSTEM_ACTOR)) == 0
    assert records(container, cast.enterprise_id) == [("discredited", date(2014, 6, 2), None)]


def test_r73_e3_declarations_read_the_tier_of_their_own_date(container: Container, cast: Cast, clock: FixedClock):
    certificate_no = grant(container, cast, fx10_cytokine(1000))
    container.bus.handle(discredit(cast.decider, cast, start=TOMORROW))
    declare(container, cast, certificate_no, 1, on=TODAY.isoformat())
    clock.today_value = TOMORROW
    declare(container, cast, certificate_no, 1, on=TODAY.isoformat())  # backdated within the window: still general
    declare(container, cast, certificate_no, 1, on=TOMORROW.isoformat(), inspected=True, rate=Decimal("0.8"))
    with container.sessions() as session:
        routes = session.execute(select(DeclarationRow.declared_on, DeclarationRow.route).order_by(DeclarationRow.id))
        tiers = [(on, route["credit_tier"]) for on, route in routes]
    assert tiers == [(TODAY, "general"), (TODAY, "general"), (TOMORROW, "discredited")]


def test_r69_enterprises_not_yet_due_never_crowd_out_one_that_is(
    container: Container, cast: Cast, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(credit_service, "RESTORATION_BATCH", 1)  # one enterprise per transaction of the sweep
    recent = [make_cast(container, suffix=str(n)) for n in range(2)]
    for other in recent:
        seed(container, other.enterprise_id, CreditTier.DISCREDITED, date(2016, 1, 1))  # not yet two years
    due = make_cast(container, suffix="9")
    seed(container, due.enterprise_id, CreditTier.DISCREDITED, date(2014, 1, 1))
    assert container.bus.handle(ApplyCreditRestorations(SYSTEM_ACTOR)) == 1
    assert records(container, due.enterprise_id)[-1] == ("general", TOMORROW, None)
    assert all(len(records(container, other.enterprise_id)) == 1 for other in recent)
