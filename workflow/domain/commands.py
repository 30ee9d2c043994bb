"""Commands: imperative requests to the workflow, one handler each. Actors travel with every command."""

from __future__ import annotations

from dataclasses import dataclass, field

from workflow.domain.actors import Actor
from workflow.domain.goods import Direction, GoodsLine, RiskGrade


@dataclass(frozen=True)
class Command:
    """Base of every command; `actor` is who asks."""

    actor: Actor


@dataclass(frozen=True)
class CreateApplication(Command):
    enterprise_id: int
    district: str
    direction: Direction
    lines: tuple[GoodsLine, ...]


@dataclass(frozen=True)
class AttachDocument(Command):
    application_id: int
    doc_type: str
    filename: str
    content_type: str
    content: bytes = field(repr=False)


@dataclass(frozen=True)
class ApplicationCommand(Command):
    """A command on one application; `reason` is required by some triggers (R18, R20, R25)."""

    application_id: int
    reason: str = ""


@dataclass(frozen=True)
class SubmitApplication(ApplicationCommand):
    pass


@dataclass(frozen=True)
class ResubmitApplication(ApplicationCommand):
    pass


@dataclass(frozen=True)
class WithdrawApplication(ApplicationCommand):
    pass


@dataclass(frozen=True)
class ScreenApplication(ApplicationCommand):
    pass


@dataclass(frozen=True)
class AcceptApplication(ApplicationCommand):
    pass


@dataclass(frozen=True)
class DeemAccepted(ApplicationCommand):
    pass


@dataclass(frozen=True)
class RequestCorrection(ApplicationCommand):
    deficiencies: tuple[str, ...] = ()


@dataclass(frozen=True)
class NotAcceptApplication(ApplicationCommand):
    rule_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class StartReview(ApplicationCommand):
    pass


@dataclass(frozen=True)
class ReferAssessment(ApplicationCommand):
    pass


@dataclass(frozen=True)
class ConcludeAssessment(ApplicationCommand):
    outcome: str = "pass"


@dataclass(frozen=True)
class ExtendDeadline(ApplicationCommand):
    pass


@dataclass(frozen=True)
class GrantApplication(ApplicationCommand):
    grade: RiskGrade | None = None


@dataclass(frozen=True)
class DenyApplication(ApplicationCommand):
    pass
