"""A client process for the replacement race: it declares against the old certificate until its cancellation refuses.

A separate module so 'spawn' children can import it; it tells the parent which declarations it was told released.
"""

from __future__ import annotations

import random
from typing import Any

from tests.integration.stress_client import Cast, _container
from workflow.domain import commands as c
from workflow.domain.errors import DomainError, GuardFailed
from workflow.domain.goods import Direction

MAX_OPERATIONS = 400  # a bound: a client that never met the cancellation still ends


def declare_until_cancelled(args: tuple[str, str, str, Cast, int]) -> dict[str, Any]:
    """Single declarations of 1–3 units on random lines; stops at the first C7 refusal (the certificate is gone)."""
    from datetime import date
    from decimal import Decimal

    database_url, instance, certificate_no, cast, seed = args
    container, rng = _container(database_url, instance), random.Random(seed)
    tally: dict[str, Any] = {"released_nos": [], "other": 0, "stopped_by_cancellation": False, "filed": 0}
    for index in range(MAX_OPERATIONS):
        drawn = ((rng.randint(1, 3), Decimal(rng.randint(1, 3))),)
        command = c.DeclareShipment(
            cast.applicant, f"R{seed:02d}-{index:04d}", certificate_no, date(2016, 6, 1), Direction.ENTRY, drawn
        )
        try:
            result = container.bus.handle(command)
        except GuardFailed as refused:
            if refused.rule_id == "C7":
                tally["stopped_by_cancellation"] = True
                break
            tally["other"] += 1
            continue
        except DomainError:
            tally["other"] += 1
            continue
        tally["filed"] += 1
        if result["state"] == "released":
            tally["released_nos"].append(result["declaration_no"])
    container.dispose()
    return tally
