"""A task that lost a race with a concurrent change runs again (it is retried, not recorded as a refusal)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from tasks.workflow import RETRY, TRANSIENT, _run
from workflow.domain.actors import SYSTEM_ACTOR
from workflow.domain.commands import ScreenApplication
from workflow.domain.errors import ConcurrencyConflict, GuardFailed


@dataclass
class Bus:
    """Answers every command by raising the error it was given: the bus's outcome is all `_run` looks at."""

    error: Exception

    def handle(self, command: Any) -> Any:
        raise self.error


@dataclass
class Container:
    bus: Bus


def test_a_lost_race_propagates_so_celery_retries_it_with_backoff() -> None:
    conflict = ConcurrencyConflict("the application changed meanwhile")

    with pytest.raises(ConcurrencyConflict):
        _run(lambda: Container(Bus(conflict)), ScreenApplication(SYSTEM_ACTOR, 1))  # type: ignore[arg-type, return-value]

    assert ConcurrencyConflict in TRANSIENT and RETRY["autoretry_for"] is TRANSIENT and RETRY["retry_backoff"]


def test_a_rule_that_refuses_is_recorded_not_retried() -> None:
    refused = GuardFailed("no", rule_id="R13")

    result = _run(lambda: Container(Bus(refused)), ScreenApplication(SYSTEM_ACTOR, 1))  # type: ignore[arg-type, return-value]

    assert result == {"ok": False, "error": refused.as_dict()}
