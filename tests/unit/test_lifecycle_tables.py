"""Every (state, trigger) pair of every lifecycle, fired through the one shared machine, against its table."""

from __future__ import annotations

import gc
import threading
import weakref
from dataclasses import replace
from enum import StrEnum
from typing import Any

import pytest

from tests.unit.guarded_thing import Thing, fire
from workflow.domain.errors import GuardFailed, InvalidTransition
from workflow.domain.lifecycle import (
    APPLICATION,
    APPLICATION_TABLE,
    CERTIFICATE,
    DECLARATION,
    LIFECYCLES,
    AppState,
    CertState,
    DeclState,
    Lifecycle,
    TransitionSpec,
)


def _pairs(allowed: bool) -> list[Any]:
    return [
        pytest.param(lifecycle, state, spec, id=f"{name}-{state.value}-{spec.trigger}")
        for name, lifecycle in LIFECYCLES.items()
        for state in lifecycle.states
        for spec in lifecycle.specs
        if (state in spec.sources) is allowed
    ]


LIFECYCLE_PARAMS = [pytest.param(lifecycle, id=name) for name, lifecycle in LIFECYCLES.items()]


@pytest.mark.parametrize(("lifecycle", "state", "spec"), _pairs(allowed=True))
def test_an_allowed_trigger_moves_the_object_to_the_spec_destination(
    lifecycle: Lifecycle[Any], state: StrEnum, spec: TransitionSpec[Any]
) -> None:
    thing = Thing(state)

    assert lifecycle.can_fire(state, spec.trigger)
    assert fire(lifecycle, thing, spec.trigger) == (state, spec.dest)
    assert thing.state is spec.dest


@pytest.mark.parametrize(("lifecycle", "state", "spec"), _pairs(allowed=False))
def test_a_forbidden_trigger_raises_invalid_transition_and_leaves_the_state(
    lifecycle: Lifecycle[Any], state: StrEnum, spec: TransitionSpec[Any]
) -> None:
    thing = Thing(state)

    assert not lifecycle.can_fire(state, spec.trigger)
    with pytest.raises(InvalidTransition) as refused:
        fire(lifecycle, thing, spec.trigger)

    assert refused.value.rule_id == spec.rule_ids[0]
    for word in (lifecycle.name, state.value, spec.trigger):
        assert word in refused.value.message
    assert thing.state is state


@pytest.mark.parametrize("lifecycle", LIFECYCLE_PARAMS)
def test_an_unknown_trigger_raises_invalid_transition_naming_lifecycle_state_and_trigger(
    lifecycle: Lifecycle[Any],
) -> None:
    thing = Thing(lifecycle.initial)

    with pytest.raises(InvalidTransition) as refused:
        fire(lifecycle, thing, "teleport")

    assert refused.value.rule_id == "lifecycle"
    for word in (lifecycle.name, lifecycle.initial.value, "teleport"):
        assert word in refused.value.message
    assert thing.state is lifecycle.initial
    assert not lifecycle.can_fire(lifecycle.initial, "teleport")
    with pytest.raises(InvalidTransition):
        lifecycle.spec("teleport")


@pytest.mark.parametrize("lifecycle", LIFECYCLE_PARAMS)
def test_auto_transitions_are_off(lifecycle: Lifecycle[Any]) -> None:
    for state in lifecycle.states:
        for auto_trigger in (f"to_{state.name}", f"to_{state.value}"):
            thing = Thing(lifecycle.initial)
            with pytest.raises(InvalidTransition) as refused:
                fire(lifecycle, thing, auto_trigger)
            assert refused.value.rule_id == "lifecycle"
            assert thing.state is lifecycle.initial


@pytest.mark.parametrize(
    ("lifecycle", "terminal"),
    [
        pytest.param(
            APPLICATION,
            {AppState.GRANTED, AppState.DENIED, AppState.NOT_ACCEPTED, AppState.WITHDRAWN},
            id="application",
        ),
        pytest.param(CERTIFICATE, {CertState.WITHDRAWN, CertState.REVOKED, CertState.CANCELLED}, id="certificate"),
        pytest.param(
            DECLARATION,
            {
                DeclState.CLOSED,
                DeclState.REJECTED,
                DeclState.WITHDRAWN,
                DeclState.FOLLOW_UP_PASSED,
                DeclState.FOLLOW_UP_FAILED,
            },
            id="declaration",
        ),
    ],
)
def test_terminal_states_are_sinks(lifecycle: Lifecycle[Any], terminal: set[StrEnum]) -> None:
    assert set(lifecycle.terminal_states) == terminal
    for state in lifecycle.states:
        assert lifecycle.is_terminal(state) is (state in terminal)
    for state in terminal:
        assert lifecycle.allowed_triggers(state) == ()
        for spec in lifecycle.specs:
            with pytest.raises(InvalidTransition):
                fire(lifecycle, Thing(state), spec.trigger)


def test_released_declaration_is_left_only_by_await_follow_up_d8() -> None:
    assert DECLARATION.allowed_triggers(DeclState.RELEASED) == ("await_follow_up",)


def test_the_applicant_may_withdraw_from_every_non_terminal_application_state_a12() -> None:
    non_terminal = {state for state in AppState if not APPLICATION.is_terminal(state)}

    assert set(APPLICATION.spec("withdraw").sources) == non_terminal
    assert AppState.DRAFT in non_terminal


def test_extend_is_internal_and_keeps_the_application_under_review_a9() -> None:
    application = Thing(AppState.UNDER_REVIEW)

    assert fire(APPLICATION, application, "extend") == (AppState.UNDER_REVIEW, AppState.UNDER_REVIEW)
    assert application.state is AppState.UNDER_REVIEW


def test_two_objects_fired_through_the_shared_machine_stay_independent() -> None:
    first, second = Thing(AppState.DRAFT), Thing(AppState.DRAFT)

    fire(APPLICATION, first, "submit")
    fire(APPLICATION, second, "withdraw")
    fire(APPLICATION, first, "accept")

    assert first.state is AppState.ACCEPTED
    assert second.state is AppState.WITHDRAWN


def test_threads_firing_on_their_own_objects_through_the_shared_machine_do_not_interfere() -> None:
    path = ("pass_check", "inspect", "sample", "lab_pass", "await_follow_up", "follow_up_pass")
    start = threading.Barrier(8)
    finished: list[DeclState] = []

    def walk() -> None:
        start.wait()
        for _ in range(200):
            declaration = Thing(DeclState.DECLARED)
            for trigger in path:
                fire(DECLARATION, declaration, trigger)
            finished.append(declaration.state)

    threads = [threading.Thread(target=walk) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert finished == [DeclState.FOLLOW_UP_PASSED] * 1600


def test_the_shared_machine_keeps_no_reference_to_a_fired_object() -> None:
    application = Thing(AppState.DRAFT)
    fire(APPLICATION, application, "submit")
    gone = weakref.ref(application)

    del application
    gc.collect()

    assert gone() is None


def test_a_condition_returning_false_becomes_guard_failed_and_leaves_the_state() -> None:
    # The tables carry no conditions (guards run in the domain model), so give a private copy of the machine one.
    lifecycle = Lifecycle("application", AppState, AppState.DRAFT, APPLICATION_TABLE)
    lifecycle._machine.remove_transition("submit")
    lifecycle._machine.add_transition("submit", "DRAFT", "SUBMITTED", conditions=lambda: False)
    application = Thing(AppState.DRAFT)

    with pytest.raises(GuardFailed) as refused:
        fire(lifecycle, application, "submit")

    assert refused.value.rule_id == "A1"
    assert application.state is AppState.DRAFT


@pytest.mark.parametrize("lifecycle", LIFECYCLE_PARAMS)
def test_spec_returns_the_table_row_of_each_trigger(lifecycle: Lifecycle[Any]) -> None:
    for spec in lifecycle.specs:
        assert lifecycle.spec(spec.trigger) is spec
        assert spec.actors and spec.rule_ids and spec.summary


def test_lifecycles_are_registered_by_name() -> None:
    assert dict(LIFECYCLES) == {"application": APPLICATION, "certificate": CERTIFICATE, "declaration": DECLARATION}
    assert (APPLICATION.initial, CERTIFICATE.initial, DECLARATION.initial) == (
        AppState.DRAFT,
        CertState.ACTIVE,
        DeclState.DECLARED,
    )
    assert APPLICATION.states == tuple(AppState)


def test_the_definition_hash_is_stable_and_changes_with_the_table() -> None:
    rebuilt = Lifecycle("application", AppState, AppState.DRAFT, APPLICATION_TABLE)
    edited = (replace(APPLICATION_TABLE[0], summary="Something else."), *APPLICATION_TABLE[1:])

    assert len(APPLICATION.definition_hash()) == 64
    assert rebuilt.definition_hash() == APPLICATION.definition_hash()
    assert Lifecycle("application", AppState, AppState.DRAFT, edited).definition_hash() != APPLICATION.definition_hash()
    assert len({lifecycle.definition_hash() for lifecycle in LIFECYCLES.values()}) == 3


def test_a_table_that_repeats_a_trigger_is_refused() -> None:
    with pytest.raises(ValueError, match="more than one row"):
        Lifecycle("application", AppState, AppState.DRAFT, (*APPLICATION_TABLE, APPLICATION_TABLE[0]))
