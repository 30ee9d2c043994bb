"""A client process for the district counts race (a separate module so 'spawn' children can import it)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from config.bootstrap import bootstrap
from config.settings import load_settings
from tests.conftest import FixedClock
from tests.integration.support import file_application
from workflow.domain import commands as c
from workflow.domain.actors import Actor
from workflow.domain.errors import DomainError


@dataclass(frozen=True)
class RaceCast:
    """What a racer needs of the test's cast (which itself does not pickle: it delegates attributes)."""

    applicant: Actor
    acceptor: Actor
    enterprise_id: int


def race_transitions(args: tuple[str, str, RaceCast, list[int], bool, int]) -> dict[str, Any]:
    """Accept (or withdraw) every shared application another process races for, filing some of its own between."""
    database_url, instance, cast, shared, accepting, seed = args
    container = bootstrap(
        load_settings(database_url=database_url, instance_path=Path(instance)),
        clock=FixedClock(date(2016, 6, 1)),
        relay_after_commit=False,
    )
    rng, won, filed = random.Random(seed), [], []
    for application_id in rng.sample(shared, len(shared)):
        command = (
            c.AcceptApplication(cast.acceptor, application_id)
            if accepting
            else c.WithdrawApplication(cast.applicant, application_id, "raced")
        )
        try:
            container.bus.handle(command)
            won.append(application_id)
        except DomainError:  # the other process moved it first (a lost version guard, or no longer allowed)
            pass
        if rng.random() < 0.5:
            filed.append(file_application(container, cast))
    container.dispose()
    return {"won": won, "filed": filed}
