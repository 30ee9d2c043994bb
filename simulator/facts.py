"""The simulator's laboratories and credit events (docs/simulator.md), registered, verified and recorded via the bus.

Each enterprise's labs (R9(b), R14) are registered by its admin with their evidence and verified by the district's
acceptor before the year; a pathogen filing names the lowest of them that matches the goods under the profile (R62),
or, for the workload's `lab_mismatch_share`, the highest one below that level. A group's credit events are recorded by
the district's decider the day before they take effect (R73: a change starts tomorrow at the earliest).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta

from config.bootstrap import Container
from workflow.domain import commands as c
from workflow.domain.actors import Actor
from workflow.domain.biosafety import LabDetails
from workflow.domain.credit_events import RecordCreditChange
from workflow.domain.goods import GoodsLine
from workflow.domain.policy import Policy
from workflow.simulation.workload import CreditEvent, Enterprise, Lab

EVIDENCE = b"%PDF-1.4\n% specgoods simulated lab accreditation\n%%EOF\n"
ACCREDITATION_BODY = "中国合格评定国家认可委员会"


@dataclass(frozen=True)
class RegisteredLab:
    """A workload lab as the scratch database knows it."""

    lab: Lab
    lab_id: int


def register_labs(
    container: Container, firm: Enterprise, admin: Actor, acceptor: Actor, default_validity: tuple[date, date]
) -> tuple[RegisteredLab, ...]:
    """The firm's labs registered by its admin with evidence and verified by the district's acceptor (R9(b), R14)."""
    if not firm.group.labs:
        return ()
    sha256 = container.deps.documents.put(EVIDENCE)
    registered = []
    for lab in firm.group.labs:
        body = ACCREDITATION_BODY if lab.accreditation_no else ""
        details = LabDetails(
            f"{lab.name_zh}（{firm.key}）",
            "模拟园区",
            lab.bsl_level,
            body,
            lab.accreditation_no,
            lab.valid_from or default_validity[0],
            lab.valid_until or default_validity[1],
        )
        command = c.RegisterLaboratory(admin, admin.enterprise_id or 0, details, (sha256, "认可证书.pdf"))
        lab_id: int = container.bus.handle(command)
        container.bus.handle(c.VerifyLaboratory(acceptor, lab_id))
        registered.append(RegisteredLab(lab, lab_id))
    return tuple(registered)


def lab_for(line: GoodsLine, labs: tuple[RegisteredLab, ...], policy: Policy, mismatch: bool) -> int | None:
    """The lab a filing names: the lowest that matches the goods, or (a mismatch) the highest below their level."""
    level = policy.biosafety.minimum_level(line)
    if level is None or not labs:
        return None
    accredited_from = policy.biosafety.accreditation_required_from
    fitting = sorted(
        (registered for registered in labs if _fits(registered.lab, level, accredited_from)),
        key=lambda registered: registered.lab.bsl_level,
    )
    below = sorted((registered for registered in labs if registered.lab.bsl_level < level),
                   key=lambda registered: registered.lab.bsl_level)  # fmt: skip
    if mismatch and below:
        return below[-1].lab_id
    return fitting[0].lab_id if fitting else None


def _fits(lab: Lab, level: int, accredited_from: int) -> bool:
    return lab.bsl_level >= level and (lab.bsl_level < accredited_from or bool(lab.accreditation_no))


def mismatch_draws(seed: int) -> random.Random:
    """The lab-mismatch draws have their own stream: the shipments and step durations of a seed stay as they were."""
    return random.Random(f"{seed}/labs")


@dataclass(frozen=True)
class ScheduledChange:
    """A credit event of one enterprise under the profile's regime: recorded on `record_on`, effective `on`."""

    record_on: date
    command: RecordCreditChange


def credit_changes(firm: Enterprise, enterprise_id: int, decider: Actor, regime: str) -> list[ScheduledChange]:
    """The firm's events whose group names a tier for this regime (a regime not named has no such event)."""
    return [
        ScheduledChange(event.on - timedelta(days=1), _command(event, enterprise_id, decider, regime))
        for event in firm.group.credit_events
        if firm.number <= event.count and regime in event.tiers
    ]


def _command(event: CreditEvent, enterprise_id: int, decider: Actor, regime: str) -> RecordCreditChange:
    reason = "业务量文件中的信用变更（模拟）"
    return RecordCreditChange(decider, enterprise_id, event.kind, event.tiers[regime], event.on, event.ground, reason)
