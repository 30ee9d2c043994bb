"""Random command sequences against one application, through the bus and the real database (both engines).

Invariants after every step: a refused command changes neither state, version nor audit trail; an accepted one adds
its audit event; the persisted audit trail replays from DRAFT to the stored state; terminal states stay put.
"""

from __future__ import annotations

from collections.abc import Callable

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

from config.bootstrap import Container
from tests.conftest import Cast, make_cast
from tests.integration.support import file_application
from workflow.domain import commands as c
from workflow.domain.errors import DomainError
from workflow.domain.lifecycle import APPLICATION, AppState
from workflow.store import api_reads, queries

Build = Callable[[Cast, int], c.Command]
COMMANDS: dict[str, Build] = {
    "submit": lambda k, i: c.SubmitApplication(k.applicant, i),
    "request_correction": lambda k, i: c.RequestCorrection(k.acceptor, i, deficiencies=("seal missing",)),
    "resubmit": lambda k, i: c.ResubmitApplication(k.applicant, i),
    "accept": lambda k, i: c.AcceptApplication(k.acceptor, i),
    "not_accept": lambda k, i: c.NotAcceptApplication(k.acceptor, i, "not special goods", ("R4",)),
    "start_review": lambda k, i: c.StartReview(k.reviewer, i),
    "refer_assessment": lambda k, i: c.ReferAssessment(k.reviewer, i, "grade B"),
    "extend": lambda k, i: c.ExtendDeadline(k.head, i, "lab test"),
    "grant": lambda k, i: c.GrantApplication(k.decider, i, "complete"),
    "deny": lambda k, i: c.DenyApplication(k.decider, i, "incomplete"),
    "withdraw": lambda k, i: c.WithdrawApplication(k.applicant, i, "no longer needed"),
    "screen": lambda k, i: c.ScreenApplication(k.applicant, i),
}


def _snapshot(container: Container, application_id: int) -> tuple[str, int, list[dict]]:
    with container.sessions() as session:
        view = queries.application_view(session, application_id)
        trail = api_reads.audit_trail(session, "application", application_id)
    return view["state"], view["version"], trail


def test_random_commands_keep_state_version_and_audit_trail_consistent(container: Container) -> None:
    cast = make_cast(container)

    class OneApplication(RuleBasedStateMachine):
        @initialize()
        def file(self) -> None:
            self.application_id = file_application(container, cast)

        @rule(name=st.sampled_from(sorted(COMMANDS)))
        def command(self, name: str) -> None:
            before = _snapshot(container, self.application_id)
            try:
                result = container.bus.handle(COMMANDS[name](cast, self.application_id))
            except DomainError:
                assert _snapshot(container, self.application_id) == before
                return
            if result is False:  # an idempotent task with nothing to do (screening a draft) writes nothing
                assert _snapshot(container, self.application_id) == before
                return
            _state, version, trail = _snapshot(container, self.application_id)
            new_events = trail[len(before[2]) :]
            assert new_events and new_events[-1]["trigger"] == name
            assert version == before[1] + 1
            if AppState(before[0]) in APPLICATION.terminal_states:
                raise AssertionError(f"{name} left terminal state {before[0]}")

        @invariant()
        def the_audit_trail_replays_to_the_stored_state(self) -> None:
            if not hasattr(self, "application_id"):
                return
            state, version, trail = _snapshot(container, self.application_id)
            replayed = AppState.DRAFT.value
            for event in trail:
                assert event["from"] == replayed, f"event {event['trigger']} starts from {event['from']}"
                replayed = event["to"]
            assert replayed == state and version == len(trail)

    run_state_machine_as_test(
        OneApplication,
        settings=settings(
            max_examples=15,
            stateful_step_count=12,
            deadline=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        ),
    )
