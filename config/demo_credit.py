"""The demo's credit events (R68–R74): a violation case and a downgrade, recorded through the bus as officers would.

Pingtan's certified enterprise lost its certification at re-audit: its decider downgrades it to regular from the
demo's tomorrow (shown as pending on the queue and the enterprise's page). Quanzhou's discredited enterprise has a
violation case on record, which holds its restoration back (R69, R71). Idempotent: a second load finds them recorded.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta

from sqlalchemy import select

from config.bootstrap import Container
from workflow.domain.actors import Actor
from workflow.domain.credit_events import (
    CreditChangeKind,
    CreditGround,
    RecordCreditChange,
    RecordViolationCase,
    ViolationKind,
)
from workflow.domain.errors import GuardFailed, InvalidInput
from workflow.domain.policy import CreditTier
from workflow.store.tables import CreditChangeRow, EnterpriseRow, ViolationCaseRow

CASE_NO = "泉关缉违字〔2026〕18号"


def record_demo_credit(container: Container, actor: Callable[[Container, str], Actor]) -> Iterator[str]:
    """One line per event recorded, or why the demo's date does not allow it (a change starts tomorrow, R73)."""
    if _already(container):
        yield "credit events already recorded"
        return
    reviewer, decider = actor(container, "quanzhou.reviewer"), actor(container, "pingtan.decider")
    today = container.deps.clock.today("quanzhou")
    case = RecordViolationCase(reviewer, _enterprise(reviewer, container, "quanzhou"), CASE_NO,
                               ViolationKind.UNPERMITTED_USE, today, "未经许可使用特殊物品")  # fmt: skip
    downgrade = RecordCreditChange(
        decider,
        _enterprise(decider, container, "pingtan"),
        CreditChangeKind.DOWNGRADE,
        CreditTier.REGULAR,
        container.deps.clock.today("pingtan") + timedelta(days=1),
        CreditGround.CERTIFICATION_LOST,
        "重新认证未通过",
    )
    for command, done in ((case, f"violation case {CASE_NO} (Quanzhou)"), (downgrade, "Pingtan downgraded")):
        try:
            container.bus.handle(command)
            yield done
        except (InvalidInput, GuardFailed) as refused:  # the demo's date is before its Order 282 records
            yield f"{done}: not recorded on this date ({refused.message})"


def _already(container: Container) -> bool:
    with container.sessions() as session:
        return session.scalar(select(ViolationCaseRow.id).where(ViolationCaseRow.case_no == CASE_NO)) is not None or (
            session.scalar(select(CreditChangeRow.id).limit(1)) is not None
        )


def _enterprise(officer: Actor, container: Container, district: str) -> int:
    """The district's demo enterprise (one per district)."""
    with container.sessions() as session:
        found = session.scalar(select(EnterpriseRow.id).where(EnterpriseRow.district == district))
    assert found is not None, f"no demo enterprise in {district} for {officer.name}"
    return found
