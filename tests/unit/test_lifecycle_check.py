"""The static lifecycle check passes on the real tables and catches each kind of fault seeded into a copy of one.

Faulty copies are built with `dataclasses.replace` on a `TransitionSpec` and a new `Lifecycle` from the modified
tuple; the real tables are never touched. docs/guards.md is rendered from the same tables and must not drift.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from cli.main import main
from workflow.domain.actors import Role
from workflow.domain.guard_docs import render_guard_doc
from workflow.domain.guards import REQUIRED_GUARDS, RequiredGuard
from workflow.domain.lifecycle import LIFECYCLES, AppState, DeclState, Lifecycle, TransitionSpec
from workflow.domain.lifecycle_check import (
    CHECKS,
    GUARD_LISTED,
    INDEPENDENT_EXIT,
    REACHABLE,
    REACHES_TERMINAL,
    REQUIRED_GUARD_ATTACHED,
    REQUIRED_GUARD_TARGET,
    ROLE_GUARD,
    WAITING_REASON_CURRENT,
    WAITING_REASONS,
    CheckRow,
    LifecycleTables,
    check_lifecycles,
)

GUARD_DOC = Path(__file__).resolve().parents[2] / "docs" / "guards.md"
Edit = Callable[[TransitionSpec[Any]], TransitionSpec[Any] | None]


def with_table(name: str, edit: Edit, extra: tuple[TransitionSpec[Any], ...] = ()) -> LifecycleTables:
    """The real tables, with lifecycle `name` rebuilt from its rows as `edit` changes them (None drops a row)."""
    real = LIFECYCLES[name]
    specs = tuple(changed for spec in real.specs if (changed := edit(spec)) is not None) + extra
    faulty = Lifecycle(name, type(real.initial), real.initial, specs)
    return LifecycleTables(lifecycles={**LIFECYCLES, name: faulty})


def only(trigger: str, change: Callable[[TransitionSpec[Any]], TransitionSpec[Any] | None]) -> Edit:
    return lambda spec: change(spec) if spec.trigger == trigger else spec


def violations(tables: LifecycleTables) -> list[CheckRow]:
    return list(check_lifecycles(tables).violations)


def test_the_real_tables_pass_every_check() -> None:
    report = check_lifecycles()

    assert report.ok, report.violations
    assert {row.check for row in report.rows} == set(CHECKS)


def test_every_state_of_every_lifecycle_is_checked_for_reachability() -> None:
    rows = check_lifecycles().rows

    for name, lifecycle in LIFECYCLES.items():
        checked = {row.subject for row in rows if row.lifecycle == name and row.check == REACHABLE}
        assert checked == {state.value for state in lifecycle.states}


@pytest.mark.parametrize(
    ("lifecycle", "state"),
    [("certificate", "exhausted"), ("certificate", "expired"), ("declaration", "released")],
)
def test_states_that_are_not_terminal_by_the_table_are_proved_to_reach_a_terminal_one(
    lifecycle: str, state: str
) -> None:
    rows = check_lifecycles().rows

    verdicts = [row for row in rows if (row.lifecycle, row.check, row.subject) == (lifecycle, REACHES_TERMINAL, state)]

    assert [row.ok for row in verdicts] == [True]
    assert state not in {terminal.value for terminal in LIFECYCLES[lifecycle].terminal_states}


def test_an_unreachable_state_is_caught() -> None:
    tables = with_table("application", only("refer_assessment", lambda spec: None))

    found = violations(tables)

    assert ("application", REACHABLE, "risk_assessment") in [(v.lifecycle, v.check, v.subject) for v in found]


def test_a_dead_end_non_terminal_state_is_caught() -> None:
    """Follow-up loops back to RELEASED and its failure row is gone: neither state can end any more."""
    loop = only("follow_up_pass", lambda spec: replace(spec, dest=DeclState.RELEASED))
    tables = with_table("declaration", lambda spec: None if spec.trigger == "follow_up_fail" else loop(spec))

    found = {(v.check, v.subject) for v in violations(tables) if v.lifecycle == "declaration"}

    assert {(REACHES_TERMINAL, "released"), (REACHES_TERMINAL, "follow_up_pending")} <= found


def test_a_waiting_state_with_no_independent_exit_and_no_reason_is_caught() -> None:
    """Without withdraw from ACCEPTED, only the reviewer could ever move the file on."""
    narrowed = tuple(state for state in LIFECYCLES["application"].spec("withdraw").sources if state != "accepted")
    tables = with_table("application", only("withdraw", lambda spec: replace(spec, sources=narrowed)))

    found = [v for v in violations(tables) if v.check == INDEPENDENT_EXIT]

    assert [(v.lifecycle, v.subject) for v in found] == [("application", "accepted")]
    assert "reviewer" in found[0].detail


def test_a_documented_reason_lets_a_waiting_state_pass() -> None:
    narrowed = tuple(state for state in LIFECYCLES["application"].spec("withdraw").sources if state != "accepted")
    tables = with_table("application", only("withdraw", lambda spec: replace(spec, sources=narrowed)))
    reasons = {**WAITING_REASONS, "application": {**WAITING_REASONS["application"], AppState.ACCEPTED: "a reason"}}

    assert violations(replace(tables, waiting_reasons=reasons)) == []


def test_a_reason_for_a_state_that_does_not_wait_is_caught_as_stale() -> None:
    reasons = {**WAITING_REASONS, "application": {**WAITING_REASONS["application"], AppState.UNDER_REVIEW: "stale"}}

    found = violations(LifecycleTables(waiting_reasons=reasons))

    assert [(v.check, v.subject) for v in found] == [(WAITING_REASON_CURRENT, "under_review")]


def test_a_transition_with_no_actors_is_caught() -> None:
    tables = with_table("certificate", only("revoke", lambda spec: replace(spec, actors=())))

    found = violations(tables)

    assert [(v.lifecycle, v.check, v.subject) for v in found] == [("certificate", ROLE_GUARD, "revoke")]


def test_a_transition_fired_by_the_read_only_auditor_is_caught() -> None:
    tables = with_table("declaration", only("dispose", lambda spec: replace(spec, actors=(Role.AUDITOR,))))

    found = [(v.check, v.subject) for v in violations(tables)]

    assert (ROLE_GUARD, "dispose") in found


def test_a_required_guard_removed_from_its_transition_is_caught() -> None:
    def without_r32(spec: TransitionSpec[Any]) -> TransitionSpec[Any]:
        return replace(spec, guards=tuple(guard for guard in spec.guards if guard.rule_id != "R32"))

    tables = with_table("application", only("grant", without_r32))

    found = violations(tables)

    assert [(v.check, v.subject) for v in found] == [(REQUIRED_GUARD_ATTACHED, "R32: grant.risk_assessment_concluded")]


def test_a_guard_attached_for_another_rule_does_not_count() -> None:
    """deny's reason_written guards R25; a row asking it for R18 on deny is not satisfied by it."""
    tables = LifecycleTables(required=(*REQUIRED_GUARDS, RequiredGuard("R18", "application", "deny", "reason_written")))

    found = violations(tables)

    assert [(v.check, v.subject) for v in found] == [(REQUIRED_GUARD_ATTACHED, "R18: deny.reason_written")]
    assert "R25" in found[0].detail


@pytest.mark.parametrize(
    "row",
    [
        RequiredGuard("R32", "application", "approve", "risk_assessment_concluded"),
        RequiredGuard("W4", "shipment", "release", "single_use_free"),
    ],
    ids=["unknown-trigger", "unknown-lifecycle"],
)
def test_a_required_guard_naming_an_unknown_trigger_is_caught(row: RequiredGuard) -> None:
    tables = LifecycleTables(required=(*REQUIRED_GUARDS, row))

    found = violations(tables)

    assert [(v.lifecycle, v.check) for v in found] == [(row.lifecycle, REQUIRED_GUARD_TARGET)]


def test_a_guard_attached_without_a_row_in_the_required_table_is_caught() -> None:
    tables = LifecycleTables(required=tuple(row for row in REQUIRED_GUARDS if row.guard != "extended_at_most_once"))

    found = violations(tables)

    assert [(v.check, v.subject) for v in found] == [(GUARD_LISTED, "R20: extend.extended_at_most_once")]


def test_the_command_prints_the_tables_and_exits_0_on_the_real_tables() -> None:
    result = CliRunner().invoke(main, ["lifecycles", "check"])

    assert result.exit_code == 0, result.output
    assert "application transitions" in result.output and "risk_assessment_concluded (R32)" in result.output
    assert "lifecycles OK" in result.output


def test_the_command_exits_1_on_a_faulty_table_and_names_the_violation() -> None:
    tables = with_table("certificate", only("revoke", lambda spec: replace(spec, actors=())))

    result = CliRunner().invoke(main, ["lifecycles", "check", "--json"], obj=tables)

    assert result.exit_code == 1
    report = json.loads(result.output)
    assert report["ok"] is False
    assert report["violations"] == [
        {
            "lifecycle": "certificate",
            "check": ROLE_GUARD,
            "subject": "revoke",
            "status": "violation",
            "detail": "no role may fire it",
        }
    ]


def test_the_committed_guard_doc_equals_the_rendered_one() -> None:
    assert GUARD_DOC.read_text(encoding="utf-8") == render_guard_doc(), "stale: run `specgoods diagrams`"


def test_the_guard_doc_has_a_row_for_every_required_guard() -> None:
    document = render_guard_doc()

    for row in REQUIRED_GUARDS:
        assert f"| {row.rule_id} | {row.lifecycle} | `{row.trigger}` | `{row.guard}` |" in document
