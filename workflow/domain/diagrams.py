"""Markdown documents for the lifecycles (docs/lifecycles/*.md), rendered from their transition tables; no I/O."""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from typing import Any

from workflow.domain.lifecycle import LIFECYCLES, Lifecycle, TransitionSpec

_TITLES = {
    "application": "Application lifecycle (`ApprovalApplication`, DOMAIN.md §(c) C1)",
    "certificate": "Certificate lifecycle (`ApprovalCertificate`, DOMAIN.md §(c) C2)",
    "declaration": "Declaration lifecycle (`Declaration`, DOMAIN.md §(c) C3)",
}

_NOTES = {
    "application": (
        "`extend` (A9) and `override_assessment` (A8) are internal transitions: the state stays UNDER_REVIEW. "
        "Guards run inside the deciding transaction; docs/guards.md explains each. "
        "A13 (`sla_breach`) raises an alert and changes no state, so it is not a transition: "
        "special-goods approval has no deemed grant."
    ),
    "certificate": (
        "The C8 follow-up `hold` is a flag on the certificate, not a state. "
        "EXHAUSTED and EXPIRED are not terminal, because a follow-up failure may still withdraw the certificate (C5); "
        "`reactivate` (W10) also needs today ≤ valid_until, which the ledger checks before firing it."
    ),
    "declaration": (
        "RELEASED is final for a shipment that needs no follow-up (exit, or grades C/D); "
        "only `await_follow_up` (D8, entry of grade A/B) leaves it, so the machine does not count it as terminal. "
        "PORT_REVIEW holds a declaration whose automatic check (D2) failed, for a port officer to decide with a reason."
    ),
}


def render_lifecycle_docs() -> dict[str, str]:
    """Map each document's path relative to docs/lifecycles/ to its full Markdown text."""
    return {f"{name}.md": _render(name, lifecycle) for name, lifecycle in LIFECYCLES.items()}


def _render(name: str, lifecycle: Lifecycle[Any]) -> str:
    parts = [
        "<!-- Generated from workflow/domain/lifecycle.py by render_lifecycle_docs(); do not edit by hand. -->",
        f"# {_TITLES[name]}",
        f"```mermaid\n{lifecycle.mermaid()}```",
        f"Initial state: {lifecycle.initial.name}. Terminal states: {_names(lifecycle.terminal_states)}.",
        _NOTES[name],
        "| Trigger | From | To | Actors | Rule ids | Guards (rule) | Summary |\n|---|---|---|---|---|---|---|\n"
        + "\n".join(_row(spec) for spec in lifecycle.specs),
        f"Definition hash (sha256 of the table): `{lifecycle.definition_hash()}`",
    ]
    return "\n\n".join(parts) + "\n"


def _row(spec: TransitionSpec[Any]) -> str:
    cells = (
        f"`{spec.trigger}`",
        _names(spec.sources),
        spec.dest.name,
        " or ".join(actor.name for actor in spec.actors),
        ", ".join(spec.rule_ids),
        ", ".join(f"`{guard.name}` ({guard.rule_id})" for guard in spec.guards) or "—",
        spec.summary.replace("|", "\\|"),
    )
    return f"| {' | '.join(cells)} |"


def _names(states: Iterable[StrEnum]) -> str:
    return ", ".join(state.name for state in states)
