"""A bare stateful object that every decision guard lets through, for tests of the lifecycle tables themselves.

Its slots admit no trigger methods, so firing still proves nothing is bound onto it; the guards' own refusals are
tested in test_decision_guards.py.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from workflow.domain.actors import Actor, Role
from workflow.domain.guards import AssessmentOutcome, AssessmentStanding, DecisionFacts, GuardInput
from workflow.domain.lifecycle import Lifecycle

# Someone who held no earlier post on the file, with a reason written: every actor- or reason-guard passes.
PASSING = GuardInput(Actor(user_id=999, role=Role.HEAD), reason="written reason")
_NOTHING_PENDING = DecisionFacts(assessment_required=False, lab_findings=())
_REJECTED = DecisionFacts(True, assessment=AssessmentStanding(1, AssessmentOutcome.REJECT), lab_findings=())


class Thing:
    __slots__ = ("__weakref__", "acceptor_id", "clock", "correction_notices", "decision_facts", "lines", "reviewer_id")
    __slots__ += ("state",)

    def __init__(self, state: Any) -> None:
        self.state = state
        self.lines = ["a goods line"]
        self.correction_notices = 0
        self.clock = SimpleNamespace(extended=False)
        self.acceptor_id = self.reviewer_id = None
        self.decision_facts = _NOTHING_PENDING


def fire(lifecycle: Lifecycle[Any], thing: Thing, trigger: str) -> tuple[Any, Any]:
    """Fire with guard inputs that pass; an override needs a rejection to override."""
    thing.decision_facts = _REJECTED if trigger == "override_assessment" else _NOTHING_PENDING
    return lifecycle.fire(thing, trigger, PASSING)
