"""Static verification of the lifecycle tables, proved from the tables alone (`specgoods lifecycles check`).

Every state is reachable and can reach a terminal state, no state waits on one role without a documented reason,
every transition names who may fire it, and every rule-required guard (guards.REQUIRED_GUARDS) is attached.
docs/guards.md is rendered from the same tables by `guard_docs.render_guard_doc`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from workflow.domain.actors import Role
from workflow.domain.guards import REQUIRED_GUARDS, RequiredGuard
from workflow.domain.lifecycle import LIFECYCLES, AppState, DeclState, Lifecycle, TransitionSpec

REACHABLE = "reachable"
REACHES_TERMINAL = "reaches_terminal"
INDEPENDENT_EXIT = "independent_exit"
WAITING_REASON_CURRENT = "waiting_reason_current"
ROLE_GUARD = "role_guard"
REQUIRED_GUARD_TARGET = "required_guard_target"
REQUIRED_GUARD_ATTACHED = "required_guard_attached"
GUARD_LISTED = "guard_listed"

CHECKS = (
    REACHABLE,
    REACHES_TERMINAL,
    INDEPENDENT_EXIT,
    WAITING_REASON_CURRENT,
    ROLE_GUARD,
    REQUIRED_GUARD_TARGET,
    REQUIRED_GUARD_ATTACHED,
    GUARD_LISTED,
)

# States whose every exit is fired by one role alone, and why nothing is owed while they wait. Keyed per lifecycle:
# the state enums are StrEnums, so "withdrawn" of one lifecycle would equal "withdrawn" of another.
WAITING_REASONS: Mapping[str, Mapping[StrEnum, str]] = MappingProxyType(
    {
        "application": MappingProxyType(
            {
                AppState.DRAFT: "The applicant's own draft: nothing was received, no time limit runs, nothing is due.",
                AppState.CORRECTION_REQUESTED: (
                    "The file is back with the applicant to answer the one correction notice (A3) or withdraw; "
                    "no decision clock runs until it is resubmitted and accepted again (R17, R19)."
                ),
            }
        ),
        "declaration": MappingProxyType(
            {
                DeclState.DISPOSAL_ORDERED: (
                    "The goods are being returned or destroyed; the port officer records it when done (D7). "
                    "The reservation was already released, so no quota is held meanwhile."
                ),
                DeclState.FOLLOW_UP_PENDING: (
                    "The using entity reports within the window (R54); the overdue sweep alerts the destination "
                    "officer once the report is late (D8)."
                ),
            }
        ),
    }
)

# Roles that never fire a transition: the auditor only reads (DOMAIN.md §(c)).
NON_FIRING_ROLES = frozenset({Role.AUDITOR})


@dataclass(frozen=True)
class CheckRow:
    """One verified fact, or one violation, about a lifecycle table."""

    lifecycle: str
    check: str
    subject: str
    ok: bool
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "lifecycle": self.lifecycle,
            "check": self.check,
            "subject": self.subject,
            "status": "ok" if self.ok else "violation",
            "detail": self.detail,
        }


@dataclass(frozen=True)
class LifecycleReport:
    """Every row the check produced; the violations are the rows that are not ok."""

    rows: tuple[CheckRow, ...]

    @property
    def violations(self) -> tuple[CheckRow, ...]:
        return tuple(row for row in self.rows if not row.ok)

    @property
    def ok(self) -> bool:
        return not self.violations

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "rows": [row.as_dict() for row in self.rows],
            "violations": [row.as_dict() for row in self.violations],
        }


@dataclass(frozen=True)
class LifecycleTables:
    """What the check reads; a test passes a copy with a seeded fault."""

    lifecycles: Mapping[str, Lifecycle[Any]] = field(default_factory=lambda: LIFECYCLES)
    required: tuple[RequiredGuard, ...] = REQUIRED_GUARDS
    waiting_reasons: Mapping[str, Mapping[StrEnum, str]] = field(default_factory=lambda: WAITING_REASONS)


def check_lifecycles(tables: LifecycleTables | None = None) -> LifecycleReport:
    """Run every check over `tables` (the real ones by default)."""
    tables = tables or LifecycleTables()
    rows: list[CheckRow] = []
    for name, lifecycle in tables.lifecycles.items():
        reasons = tables.waiting_reasons.get(name, {})
        rows += _reachable(name, lifecycle)
        rows += _reaches_terminal(name, lifecycle)
        rows += _independent_exits(name, lifecycle, reasons)
        rows += _role_guards(name, lifecycle)
        rows += _guards_listed(name, lifecycle, tables.required)
    rows += _waiting_reasons_current(tables.lifecycles, tables.waiting_reasons)
    rows += _required_guards(tables.lifecycles, tables.required)
    return LifecycleReport(tuple(rows))


# -- graph ----------------------------------------------------------------------------------------------------------


def _edges(lifecycle: Lifecycle[Any]) -> Iterator[tuple[StrEnum, str, StrEnum]]:
    """(source, trigger, dest) for every transition that leaves its source; internal self-loops move nothing."""
    for spec in lifecycle.specs:
        for source in spec.sources:
            if source != spec.dest:
                yield source, spec.trigger, spec.dest


def _paths(starts: Iterable[StrEnum], edges: Iterable[tuple[StrEnum, str, StrEnum]]) -> dict[StrEnum, list[str]]:
    """Breadth-first: each state reached from `starts` along `edges`, with the shortest trigger path to it."""
    found: dict[StrEnum, list[str]] = {start: [] for start in starts}
    queue = deque(found)
    adjacent: dict[StrEnum, list[tuple[str, StrEnum]]] = {}
    for source, trigger, dest in edges:
        adjacent.setdefault(source, []).append((trigger, dest))
    while queue:
        state = queue.popleft()
        for trigger, dest in adjacent.get(state, []):
            if dest not in found:
                found[dest] = [*found[state], trigger]
                queue.append(dest)
    return found


def _reachable(name: str, lifecycle: Lifecycle[Any]) -> list[CheckRow]:
    paths = _paths([lifecycle.initial], _edges(lifecycle))
    return [
        CheckRow(name, REACHABLE, state.value, True, _path_text(paths[state]) or "the initial state")
        if state in paths
        else CheckRow(name, REACHABLE, state.value, False, f"no path from {lifecycle.initial.value}")
        for state in lifecycle.states
    ]


def _reaches_terminal(name: str, lifecycle: Lifecycle[Any]) -> list[CheckRow]:
    """Searched backwards from the terminal states, so each path is read in reverse."""
    reversed_edges = ((dest, trigger, source) for source, trigger, dest in _edges(lifecycle))
    paths = _paths(lifecycle.terminal_states, reversed_edges)
    return [
        CheckRow(name, REACHES_TERMINAL, state.value, True, _path_text(list(reversed(paths[state]))))
        if state in paths
        else CheckRow(name, REACHES_TERMINAL, state.value, False, "no terminal state is reachable from here")
        for state in lifecycle.states
        if not lifecycle.is_terminal(state)
    ]


def _path_text(triggers: list[str]) -> str:
    return " → ".join(triggers)


# -- waiting states -------------------------------------------------------------------------------------------------


def _exits(lifecycle: Lifecycle[Any], state: StrEnum) -> list[TransitionSpec[Any]]:
    return [spec for spec in lifecycle.specs if state in spec.sources and spec.dest != state]


def _independent_exits(name: str, lifecycle: Lifecycle[Any], reasons: Mapping[StrEnum, str]) -> list[CheckRow]:
    """A state waits on one role when no system exit leaves it and one role alone fires every exit."""
    rows = []
    for state in lifecycle.states:
        exits = _exits(lifecycle, state)
        if exits:  # a state with no exit is terminal, or is reported by REACHES_TERMINAL
            ok, detail = _exit_verdict(exits, reasons.get(state))
            rows.append(CheckRow(name, INDEPENDENT_EXIT, state.value, ok, detail))
    return rows


def _exit_verdict(exits: list[TransitionSpec[Any]], reason: str | None) -> tuple[bool, str]:
    system = [spec.trigger for spec in exits if Role.SYSTEM in spec.actors]
    if system:
        return True, f"the system fires {', '.join(system)}"
    roles = _waited_on(exits)
    fired = ", ".join(f"{spec.trigger} ({_roles_text(spec.actors)})" for spec in exits)
    if len(roles) > 1:
        return True, f"no one role holds it: {fired}"
    if reason:
        return True, f"waits on {_roles_text(roles) or 'nobody'}: {reason}"
    return False, f"waits on {_roles_text(roles) or 'nobody'} alone ({fired}) and WAITING_REASONS gives no reason"


def _waited_on(exits: list[TransitionSpec[Any]]) -> tuple[Role, ...]:
    return tuple(dict.fromkeys(actor for spec in exits for actor in spec.actors))


def _roles_text(roles: Iterable[Role]) -> str:
    return " or ".join(str(role) for role in roles)


def _waiting_reasons_current(
    lifecycles: Mapping[str, Lifecycle[Any]], reasons: Mapping[str, Mapping[StrEnum, str]]
) -> list[CheckRow]:
    """Each documented reason is for a state that still waits on one role, so the list stays minimal and true."""
    rows = []
    for name, by_state in reasons.items():
        lifecycle = lifecycles.get(name)
        for state in by_state:
            if lifecycle is None or not isinstance(state, type(lifecycle.initial)) or state not in lifecycle.states:
                rows.append(CheckRow(name, WAITING_REASON_CURRENT, str(state), False, "no such lifecycle state"))
                continue
            exits = _exits(lifecycle, state)
            waits = bool(exits) and not _exit_verdict(exits, None)[0]
            detail = "waits on one role" if waits else "does not wait on one role: remove its reason"
            rows.append(CheckRow(name, WAITING_REASON_CURRENT, str(state), waits, detail))
    return rows


# -- guards ---------------------------------------------------------------------------------------------------------


def _role_guards(name: str, lifecycle: Lifecycle[Any]) -> list[CheckRow]:
    return [CheckRow(name, ROLE_GUARD, spec.trigger, *_role_verdict(spec)) for spec in lifecycle.specs]


def _role_verdict(spec: TransitionSpec[Any]) -> tuple[bool, str]:
    if not spec.actors:
        return False, "no role may fire it"
    unknown = [str(actor) for actor in spec.actors if not isinstance(actor, Role) or actor in NON_FIRING_ROLES]
    if unknown:
        return False, f"roles that never fire a transition: {', '.join(unknown)}"
    return True, _roles_text(spec.actors)


def _required_guards(lifecycles: Mapping[str, Lifecycle[Any]], required: tuple[RequiredGuard, ...]) -> list[CheckRow]:
    rows = []
    for row in required:
        subject = f"{row.rule_id}: {row.trigger}.{row.guard}"
        spec = spec_of(lifecycles, row.lifecycle, row.trigger)
        if spec is None:
            rows.append(CheckRow(row.lifecycle, REQUIRED_GUARD_TARGET, subject, False, "no such lifecycle trigger"))
            continue
        rows.append(CheckRow(row.lifecycle, REQUIRED_GUARD_TARGET, subject, True, f"{row.lifecycle}.{row.trigger}"))
        rows.append(CheckRow(row.lifecycle, REQUIRED_GUARD_ATTACHED, subject, *_attached_verdict(spec, row)))
    return rows


def spec_of(lifecycles: Mapping[str, Lifecycle[Any]], name: str, trigger: str) -> TransitionSpec[Any] | None:
    lifecycle = lifecycles.get(name)
    if lifecycle is None:
        return None
    return next((spec for spec in lifecycle.specs if spec.trigger == trigger), None)


def _attached_verdict(spec: TransitionSpec[Any], row: RequiredGuard) -> tuple[bool, str]:
    named = [guard for guard in spec.guards if guard.name == row.guard]
    match = next((guard for guard in named if guard.rule_id == row.rule_id), None)
    if match is not None:
        return True, match.summary
    if named:
        return False, f"attached for {', '.join(guard.rule_id for guard in named)}, not for {row.rule_id}"
    return False, f"{row.guard} is not among the guards of {row.trigger}"


def _guards_listed(name: str, lifecycle: Lifecycle[Any], required: tuple[RequiredGuard, ...]) -> list[CheckRow]:
    """Every attached guard has its row in REQUIRED_GUARDS, so docs/guards.md names every guard that runs."""
    listed = {(row.lifecycle, row.trigger, row.guard, row.rule_id) for row in required}
    rows = []
    for spec in lifecycle.specs:
        for guard in spec.guards:
            ok = (name, spec.trigger, guard.name, guard.rule_id) in listed
            detail = "listed" if ok else f"add RequiredGuard({guard.rule_id!r}, {name!r}, ...) to REQUIRED_GUARDS"
            rows.append(CheckRow(name, GUARD_LISTED, f"{guard.rule_id}: {spec.trigger}.{guard.name}", ok, detail))
    return rows


# -- docs/guards.md -------------------------------------------------------------------------------------------------
