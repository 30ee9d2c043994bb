"""The declaration (报关单) citing a certificate: its route through the port and its follow-up (DOMAIN.md §C3)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from workflow.domain.actors import SYSTEM_ACTOR, Actor
from workflow.domain.errors import GuardFailed, InvalidInput
from workflow.domain.ledger import CheckFailure, Disposal, Requested
from workflow.domain.lifecycle import DECLARATION, DeclState
from workflow.domain.model import Aggregate, TransitionRecord


@dataclass
class Declaration(Aggregate):
    """One shipment written off against one certificate; quantities move only through the ledger."""

    declaration_no: str = ""
    certificate_id: int = 0
    enterprise_id: int = 0
    district: str = ""
    port: str = ""
    declared_on: date = date.min
    lines: list[Requested] = field(default_factory=list)
    drawn: dict[int, Decimal] = field(default_factory=dict)
    hold_reason: str = ""
    route: dict[str, Any] | None = None
    disposal: Disposal | None = None
    released_on: date | None = None
    follow_up_due_on: date | None = None

    def __post_init__(self) -> None:
        if self.state is None:
            self.state = DeclState.DECLARED

    def record_declared(self, actor: Actor) -> None:
        """D1: the declaration's first audit event, with what it asked for."""
        requested = {str(item.line_no): str(item.qty) for item in self.lines}
        inputs = {"requested": requested, "declared_on": self.declared_on.isoformat()}
        self.pending.append(
            TransitionRecord("declare", "", str(DeclState.DECLARED), actor, rule_ids=("D1",), inputs=inputs)
        )

    def check(self, failures: Sequence[CheckFailure]) -> None:
        """D2: pass on the documents, or hold for a port officer naming every failure."""
        if not failures:
            self._fire(DECLARATION, "pass_check", SYSTEM_ACTOR)
            return
        self.hold_reason = "; ".join(failure.reason for failure in failures)
        self._fire(
            DECLARATION,
            "hold",
            SYSTEM_ACTOR,
            reason=self.hold_reason,
            rule_ids=tuple(failure.rule_id for failure in failures),
        )

    def route_by(self, route: Mapping[str, Any], inspected: bool) -> None:
        """D3 / E1–E2: document release or physical inspection, with the draw stored for the auditor."""
        self.route = dict(route)
        trigger = "inspect" if inspected else "release"
        self._fire(DECLARATION, trigger, SYSTEM_ACTOR, inputs=self.route, rule_ids=("E1", "E2", "E3"))

    def clear_hold(self, actor: Actor, reason: str) -> None:
        """W6: the officer releases the in-quota part (the excess gets a disposal notice)."""
        _require(reason, "W6")
        self._fire(DECLARATION, "clear_hold", actor, reason=reason)

    def reject(self, actor: Actor, reason: str) -> None:
        _require(reason, "D2")
        self._fire(DECLARATION, "reject", actor, reason=reason)

    def pass_inspection(self, actor: Actor) -> None:
        self._fire(DECLARATION, "pass_inspection", actor)

    def sample(self, actor: Actor, reason: str = "") -> None:
        self._fire(DECLARATION, "sample", actor, reason=reason)

    def lab_pass(self, actor: Actor) -> None:
        self._fire(DECLARATION, "lab_pass", actor)

    def fail(self, actor: Actor, disposal: Disposal, reason: str) -> None:
        """R49: a disposal notice ordering return or destruction; no write-off is committed (D7)."""
        _require(reason, "R49")
        self._fire(DECLARATION, "fail", actor, reason=reason, inputs={"disposal": disposal.value})
        self.disposal = disposal

    def dispose(self, actor: Actor) -> None:
        self._fire(DECLARATION, "dispose", actor)

    def withdraw(self, actor: Actor, reason: str) -> None:
        """W10: withdrawn (删单) before release; the reservation is released."""
        self._fire(DECLARATION, "withdraw", actor, reason=reason)

    def void(self, reason: str) -> None:
        """W9: the certificate ended while the shipment was in flight."""
        self._fire(DECLARATION, "void", SYSTEM_ACTOR, reason=reason)

    def mark_released(self, on: date) -> None:
        self.released_on = on

    def await_follow_up(self, due_on: date) -> None:
        """D8 / R54: the using entity reports to the destination customs by `due_on`."""
        self._fire(DECLARATION, "await_follow_up", SYSTEM_ACTOR, inputs={"due_on": due_on.isoformat()})
        self.follow_up_due_on = due_on

    def conclude_follow_up(self, actor: Actor, lab_matches: bool, goods_match: bool, reason: str = "") -> bool:
        """D9 / R55–R56: both checks pass, or the follow-up fails (and the certificate will be withdrawn)."""
        passed = lab_matches and goods_match
        trigger = "follow_up_pass" if passed else "follow_up_fail"
        inputs = {"lab_matches": lab_matches, "goods_match": goods_match}
        self._fire(
            DECLARATION, trigger, actor, reason=reason, inputs=inputs, rule_ids=("R55",) + (() if passed else ("R56",))
        )
        return passed


def check_declared_on(declared_on: date, today: date, backdating_days: int) -> None:
    """R39 / D2: a declaration is dated the district's local today, or up to the profile's window before; never later.

    Validity (R39) and the credit in force (R73, E3) are read on this date, so a date the port did not accept
    would move both.
    """
    if declared_on > today:
        raise InvalidInput(
            f"declared on {declared_on}, after today ({today}): a declaration is never dated in the future",
            rule_id="R39",
            field="declared_on",
        )
    earliest = today - timedelta(days=backdating_days)
    if declared_on < earliest:
        raise InvalidInput(
            f"declared on {declared_on}: a declaration is dated at most {backdating_days} days before today "
            f"({earliest} to {today})",
            rule_id="R39",
            field="declared_on",
        )


def _require(reason: str, rule_id: str) -> None:
    if not reason.strip():
        raise GuardFailed("a reason is required", rule_id=rule_id, field="reason")
