"""Biosafety capability through the bus, on SQLite and PostgreSQL: labs kept and verified, R9(b)/R14/R62 at the
screening, in the correction notice and at the grant (refused inside the transaction), and the daily lapse sweep."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select

from config.bootstrap import Container
from tests.conftest import Cast, FixedClock, make_cast
from tests.integration import support
from tests.integration.labs import reference_lab
from tests.integration.support import file_application
from workflow.domain import commands as c
from workflow.domain.actors import SYSTEM_ACTOR, Role
from workflow.domain.biosafety import LabDetails
from workflow.domain.errors import GuardFailed, PermissionDenied
from workflow.domain.goods import Direction, GoodsCategory, GoodsLine
from workflow.store.enterprise_admin import make_admin
from workflow.store.tables import (
    ApplicationRow,
    AuditEventRow,
    CertificateLabRow,
    CertificateRow,
    NotificationRow,
    OutboxRow,
)

BSL1 = LabDetails("教学实验室", "园区 1 号楼", 1, valid_from=date(2015, 1, 1), valid_until=date(2016, 12, 31))
EVIDENCE = ("a" * 64, "认可证书.pdf")


def strain(lab_id: int) -> GoodsLine:
    """A class 4 reference strain: grade C (no risk assessment), but a microorganism needs BSL-2 (the profile)."""
    return GoodsLine("表皮葡萄球菌", "S. epidermidis", GoodsCategory.MICROORGANISM, Decimal(2), "株", pathogen_class=4,
                     lab_id=lab_id)  # fmt: skip


def admin_of(container: Container, cast: Cast) -> Cast:
    with container.sessions() as session, session.begin():
        make_admin(session, cast.applicant.name)
    return cast


def register(container: Container, cast: Cast, details: LabDetails = BSL1) -> int:
    lab_id: int = container.bus.handle(c.RegisterLaboratory(cast.applicant, cast.enterprise_id, details, EVIDENCE))
    return lab_id


def under_review(container: Container, cast: Cast, lab_id: int) -> int:
    application_id = file_application(container, cast, (strain(lab_id),))
    support.under_review(container, cast, application_id)
    return application_id


def counts(container: Container) -> tuple[int, int, int]:
    with container.sessions() as session:
        events = session.scalar(select(func.count()).select_from(AuditEventRow)) or 0
        certificates = session.scalar(select(func.count()).select_from(CertificateRow)) or 0
        outbox = session.scalar(select(func.count()).select_from(OutboxRow)) or 0
    return int(events), int(certificates), int(outbox)


def test_r62_a_lab_below_the_goods_level_refuses_the_grant_in_its_transaction(container: Container, cast: Cast) -> None:
    admin_of(container, cast)
    lab_id = register(container, cast)
    container.bus.handle(c.VerifyLaboratory(cast.acceptor, lab_id))
    application_id = under_review(container, cast, lab_id)
    before = counts(container)

    with pytest.raises(GuardFailed) as refused:
        container.bus.handle(c.GrantApplication(cast.decider, application_id, "granted"))

    assert refused.value.rule_id == "R62" and "below BSL-2" in refused.value.message
    assert counts(container) == before  # no state, no audit event, no certificate, no outbox row
    with container.sessions() as session:
        assert session.scalar(select(ApplicationRow.state).where(ApplicationRow.id == application_id)) == "under_review"


def test_r9_a_changed_lab_must_be_verified_again_before_the_grant(container: Container, cast: Cast) -> None:
    admin_of(container, cast)
    lab_id = register(container, cast)
    application_id = under_review(container, cast, lab_id)
    raised = LabDetails("教学实验室", "园区 1 号楼", 2, valid_from=date(2015, 1, 1), valid_until=date(2016, 12, 31))
    container.bus.handle(c.ChangeLaboratory(cast.applicant, lab_id, raised, version=0))
    with pytest.raises(GuardFailed, match="not been verified"):
        container.bus.handle(c.GrantApplication(cast.decider, application_id, "granted"))

    container.bus.handle(c.VerifyLaboratory(cast.acceptor, lab_id))
    certificate_id = container.bus.handle(c.GrantApplication(cast.decider, application_id, "granted"))

    with container.sessions() as session:
        links = session.execute(select(CertificateLabRow.certificate_id, CertificateLabRow.lab_id)).all()
        triggers = list(session.scalars(select(AuditEventRow.trigger).where(AuditEventRow.object_type == "laboratory")))
    assert [tuple(link) for link in links] == [(certificate_id, lab_id)]
    assert triggers == ["register_lab", "change_lab", "verify_lab"]


def test_r14_the_screening_and_the_correction_notice_name_the_mismatch(container: Container, cast: Cast) -> None:
    admin_of(container, cast)
    lab_id = register(container, cast)  # BSL-1 and never verified
    application_id = file_application(container, cast, (strain(lab_id),))
    container.bus.handle(c.SubmitApplication(cast.applicant, application_id))
    container.bus.handle(c.ScreenApplication(SYSTEM_ACTOR, application_id))

    container.bus.handle(c.RequestCorrection(cast.acceptor, application_id, deficiencies=("缺少盖章页",)))

    with container.sessions() as session:
        row = session.get(ApplicationRow, application_id)
        assert row is not None
        notice = session.scalar(
            select(NotificationRow.params).where(NotificationRow.kind == "correction_requested").limit(1)
        )
    screened = row.screening["biosafety"]
    assert screened["result"] is False and screened["rule_ids"] == ["R9", "R14", "R62"]
    assert notice is not None
    listed = notice["deficiencies"]
    assert "1. 缺少盖章页" in listed and "below BSL-2" in listed and "not been verified" in listed


def test_r62_a_correction_answered_the_same_day_is_screened_again_for_what_was_resubmitted(
    container: Container, cast: Cast
) -> None:
    admin_of(container, cast)
    application_id = file_application(container, cast, (strain(register(container, cast)),))  # BSL-1, unverified
    container.bus.handle(c.SubmitApplication(cast.applicant, application_id))
    container.bus.handle(c.ScreenApplication(SYSTEM_ACTOR, application_id))
    container.bus.handle(c.RequestCorrection(cast.acceptor, application_id, deficiencies=("实验室等级不足",)))
    good_lab = reference_lab(container, cast.enterprise_id)  # verified BSL-2
    with container.sessions() as session:
        version = session.scalar(select(ApplicationRow.version).where(ApplicationRow.id == application_id))
    revise = c.ReviseDraft(cast.applicant, application_id, Direction.ENTRY, (strain(good_lab),), version)
    container.bus.handle(revise)

    container.bus.handle(c.ResubmitApplication(cast.applicant, application_id))  # the same day as the first receipt

    assert container.bus.handle(c.ScreenApplication(SYSTEM_ACTOR, application_id)) is True  # not taken as done
    with container.sessions() as session:
        row = session.get(ApplicationRow, application_id)
        assert row is not None
        screens = session.scalar(
            select(func.count()).where(AuditEventRow.object_id == application_id, AuditEventRow.trigger == "screen")
        )
    assert row.screening["biosafety"]["result"] is True and screens == 2


def test_only_the_enterprises_admin_keeps_its_labs_and_only_the_districts_officer_verifies(
    container: Container, cast: Cast
) -> None:
    with pytest.raises(PermissionDenied):
        register(container, cast)  # a plain applicant user
    admin_of(container, cast)
    lab_id = register(container, cast)
    rival = admin_of(container, make_cast(container, suffix="R"))
    with pytest.raises(PermissionDenied):
        container.bus.handle(c.ChangeLaboratory(rival.applicant, lab_id, BSL1))
    far = make_cast(container, district="fuzhou", suffix="F")
    with pytest.raises(PermissionDenied):
        container.bus.handle(c.VerifyLaboratory(far.acceptor, lab_id))
    with pytest.raises(PermissionDenied):
        container.bus.handle(c.VerifyLaboratory(cast.applicant, lab_id))


def granted_with_lab(container: Container, cast: Cast, until: date) -> tuple[int, int]:
    admin_of(container, cast)
    details = LabDetails("P2 实验室", "园区 2 号楼", 2, valid_from=date(2015, 1, 1), valid_until=until)
    lab_id = register(container, cast, details)
    container.bus.handle(c.VerifyLaboratory(cast.acceptor, lab_id))
    application_id = under_review(container, cast, lab_id)
    certificate_id: int = container.bus.handle(c.GrantApplication(cast.decider, application_id, "granted"))
    return certificate_id, lab_id


def test_r62_the_daily_sweep_holds_a_certificate_whose_lab_lapsed_once_and_tells_everyone_once(
    container: Container, cast: Cast, clock: FixedClock
) -> None:
    certificate_id, _lab = granted_with_lab(container, cast, until=date(2016, 6, 30))
    assert container.bus.handle(c.FlagLapsedLaboratories(SYSTEM_ACTOR)) == 0  # still valid today

    clock.today_value = date(2016, 7, 1)
    assert container.bus.handle(c.FlagLapsedLaboratories(SYSTEM_ACTOR)) == 1
    after_first = counts(container)
    assert container.bus.handle(c.FlagLapsedLaboratories(SYSTEM_ACTOR)) == 0  # idempotent: nothing written again
    assert counts(container) == after_first

    with container.sessions() as session:
        held = session.get(CertificateRow, certificate_id)
        notes = list(session.scalars(select(AuditEventRow.trigger).where(AuditEventRow.object_type == "certificate")))
        told = list(session.scalars(select(NotificationRow.kind).where(NotificationRow.kind == "lab_lapsed")))
        fan_out = [row.payload for row in session.scalars(select(OutboxRow)) if row.payload.get("kind") == "lab_lapsed"]
    assert held is not None and held.hold is True
    assert notes.count("biosafety_lapsed") == 1
    assert told == ["lab_lapsed"]  # the enterprise's one user
    assert [payload["roles"] for payload in fan_out] == [["decider", "port_officer"]]  # the officers' fan-out


def test_verifying_a_renewed_lab_lifts_the_hold(container: Container, cast: Cast, clock: FixedClock) -> None:
    certificate_id, lab_id = granted_with_lab(container, cast, until=date(2016, 6, 30))
    clock.today_value = date(2016, 7, 1)
    container.bus.handle(c.FlagLapsedLaboratories(SYSTEM_ACTOR))
    renewed = LabDetails("P2 实验室", "园区 2 号楼", 2, valid_from=date(2016, 7, 1), valid_until=date(2021, 6, 30))
    container.bus.handle(c.ChangeLaboratory(cast.applicant, lab_id, renewed))

    container.bus.handle(c.VerifyLaboratory(cast.acceptor, lab_id))

    with container.sessions() as session:
        certificate = session.get(CertificateRow, certificate_id)
        trail = list(session.scalars(select(AuditEventRow.trigger).where(AuditEventRow.object_type == "certificate")))
    assert certificate is not None and certificate.hold is False
    assert trail[-2:] == ["biosafety_lapsed", "biosafety_restored"]
    assert container.bus.handle(c.FlagLapsedLaboratories(SYSTEM_ACTOR)) == 0


def test_the_officers_are_asked_to_verify_a_new_lab(container: Container, cast: Cast) -> None:
    admin_of(container, cast)
    register(container, cast)
    with container.sessions() as session:
        asked = [row.payload for row in session.scalars(select(OutboxRow))]
    assert any(payload.get("kind") == "lab_to_verify" and payload.get("roles") == [Role.ACCEPTOR.value,
               Role.DECIDER.value] for payload in asked)  # fmt: skip


def test_two_sweeps_at_the_same_moment_flag_and_tell_once(container: Container, cast: Cast, clock: FixedClock) -> None:
    certificate_id, _lab = granted_with_lab(container, cast, until=date(2016, 6, 30))
    clock.today_value = date(2016, 7, 1)
    barrier, flagged = threading.Barrier(2), []

    def sweep() -> None:
        barrier.wait()
        flagged.append(container.bus.handle(c.FlagLapsedLaboratories(SYSTEM_ACTOR)))

    threads = [threading.Thread(target=sweep) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sorted(flagged) == [0, 1]  # SKIP LOCKED (PostgreSQL) or the one writer (SQLite): one sweep takes the link
    with container.sessions() as session:
        told = session.scalar(
            select(func.count()).select_from(NotificationRow).where(NotificationRow.kind == "lab_lapsed")
        )
        notes = session.scalar(
            select(func.count()).select_from(AuditEventRow).where(AuditEventRow.trigger == "biosafety_lapsed")
        )
        held = session.get(CertificateRow, certificate_id)
    assert told == 1 and notes == 1 and held is not None and held.hold is True


@pytest.mark.worker
def test_a_worker_runs_the_lapse_sweep_that_beat_schedules(
    make_container: Callable[..., Container],
    postgres_url: str,
    redis_url: str,
    start_worker: Callable[..., Any],
) -> None:
    from tasks.app import beat_schedule
    from tests.conftest import _empty_tables, wait_for, wait_for_worker

    _empty_tables(postgres_url)
    container = make_container(postgres_url, redis_url=redis_url)
    assert beat_schedule(container)["flag-lapsed-laboratories"]["task"] == "specgoods.flag_lapsed_laboratories"
    certificate_id, _lab = granted_with_lab(container, make_cast(container), until=date(2016, 6, 30))
    worker = start_worker(postgres_url, redis_url, concurrency=1)  # its clock is today's: the lab has lapsed
    wait_for_worker(container, worker)
    container.celery.send_task("specgoods.flag_lapsed_laboratories", queue="sweeps")

    def held() -> bool:
        with container.sessions() as session:
            row = session.get(CertificateRow, certificate_id)
            return row is not None and row.hold

    wait_for(held, timeout=90, what="the worker to hold the certificate of the lapsed lab")
