"""Random trigger sequences, allowed or not, against each lifecycle: the properties every walk must keep."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from tests.unit.guarded_thing import Thing, fire
from workflow.domain.errors import InvalidTransition
from workflow.domain.lifecycle import APPLICATION, CERTIFICATE, DECLARATION, Lifecycle


def _walk(lifecycle: Lifecycle[Any]) -> type[RuleBasedStateMachine]:
    triggers = [spec.trigger for spec in lifecycle.specs]
    # Unknown names, including the auto-transition transitions would add if it were on, must be refused too.
    strangers = ["teleport", f"to_{lifecycle.states[-1].name}", "trigger"]

    @settings(max_examples=40, stateful_step_count=25, deadline=None)
    class LifecycleWalk(RuleBasedStateMachine):
        @initialize()
        def start(self) -> None:
            self.thing = Thing(lifecycle.initial)
            self.trail: list[tuple[StrEnum, StrEnum, str]] = []
            self.first_terminal: StrEnum | None = None

        @rule(trigger=st.sampled_from(triggers + strangers))
        def fire_any_trigger(self, trigger: str) -> None:
            self._fire(trigger)

        # Random triggers alone rarely get deep into a lifecycle; this rule walks it.
        @precondition(lambda self: not lifecycle.is_terminal(self.thing.state))
        @rule(data=st.data())
        def fire_an_allowed_trigger(self, data: st.DataObject) -> None:
            self._fire(data.draw(st.sampled_from(lifecycle.allowed_triggers(self.thing.state))))

        def _fire(self, trigger: str) -> None:
            before = self.thing.state
            try:
                source, dest = fire(lifecycle, self.thing, trigger)
            except InvalidTransition:
                assert not lifecycle.can_fire(before, trigger)
                assert self.thing.state is before
                return
            assert lifecycle.can_fire(before, trigger)
            assert (source, dest) == (before, lifecycle.spec(trigger).dest)
            assert self.thing.state is dest
            self.trail.append((source, dest, trigger))
            if self.first_terminal is None and lifecycle.is_terminal(dest):
                self.first_terminal = dest

        @invariant()
        def the_state_is_a_member_of_the_enum(self) -> None:
            assert self.thing.state in lifecycle.states
            assert type(self.thing.state) is type(lifecycle.initial)

        @invariant()
        def once_terminal_the_state_never_changes(self) -> None:
            if self.first_terminal is not None:
                assert self.thing.state is self.first_terminal

        @invariant()
        def the_trail_replays_from_the_initial_state_to_the_current_one(self) -> None:
            replay = Thing(lifecycle.initial)
            for source, dest, trigger in self.trail:
                assert fire(lifecycle, replay, trigger) == (source, dest)
            assert replay.state is self.thing.state

    return LifecycleWalk


TestApplicationWalk = _walk(APPLICATION).TestCase
TestCertificateWalk = _walk(CERTIFICATE).TestCase
TestDeclarationWalk = _walk(DECLARATION).TestCase
