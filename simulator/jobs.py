"""The simulator's profiles side by side in worker processes: each profile has its own scratch database anyway.

Children are spawned (no inherited connections or threads), report progress in batches over one queue, and send back
their ProfileReport; a refusal (a workload the profile cannot take) comes back as the InvalidInput it was.
"""

from __future__ import annotations

import multiprocessing
import queue
from collections.abc import Callable
from multiprocessing.context import SpawnProcess
from typing import Any

from workflow.domain.errors import InvalidInput
from workflow.simulation.report import ProfileReport
from workflow.simulation.workload import Shipment, Workload

Advance = Callable[[int], None]
BATCH = 25  # shipments per progress message: a bar moves smoothly without a message per shipment
POLL_SECONDS = 0.5


class ChildFailed(RuntimeError):
    """A worker process died or raised something other than a refusal."""


def simulate_in_processes(
    workload: Workload,
    profiles: tuple[str, ...],
    year: list[Shipment],
    progress: Callable[[str, int], Advance] | None,
    jobs: int,
) -> list[ProfileReport]:
    """At most `jobs` profiles at a time; the reports come back in the order the profiles were named."""
    context = multiprocessing.get_context("spawn")
    messages = context.Queue()
    advances = {profile: progress(profile, len(year)) if progress else _ignore for profile in profiles}
    waiting, running, done = list(profiles), dict[str, SpawnProcess](), dict[str, ProfileReport]()
    try:
        while waiting or running:
            while waiting and len(running) < jobs:
                profile = waiting.pop(0)
                running[profile] = context.Process(target=_child, args=(workload, profile, year, messages), daemon=True)
                running[profile].start()
            _receive(messages, running, done, advances)
    finally:
        for process in running.values():
            process.terminate()
    return [done[profile] for profile in profiles]


def _receive(
    messages: Any, running: dict[str, SpawnProcess], done: dict[str, ProfileReport], advances: dict[str, Advance]
) -> None:
    try:
        kind, profile, payload = messages.get(timeout=POLL_SECONDS)
    except queue.Empty:
        for profile, process in running.items():
            if not process.is_alive():
                raise ChildFailed(f"simulating {profile}: the worker process exited with {process.exitcode}") from None
        return
    if kind == "advance":
        advances[profile](payload)
    elif kind == "done":
        done[profile] = payload
        running.pop(profile).join()
    elif kind == "refused":
        raise InvalidInput(payload[0], field=payload[1])
    else:
        raise ChildFailed(f"simulating {profile}: {payload}")


def _child(workload: Workload, profile: str, year: list[Shipment], messages: Any) -> None:
    from simulator.runner import simulate_profile
    from workflow.domain.errors import DomainError

    batch = _Batched(profile, messages)
    try:
        report = simulate_profile(workload, profile, year, batch)
    except DomainError as error:
        messages.put(("refused", profile, (error.message, error.field)))
        return
    except Exception as error:  # noqa: BLE001 - the parent names the profile and fails the run with this line
        messages.put(("failed", profile, f"{type(error).__name__}: {error}"))
        return
    batch.flush()
    messages.put(("done", profile, report))


class _Batched:
    """Counts shipments and tells the parent every BATCH of them."""

    def __init__(self, profile: str, messages: Any) -> None:
        self.profile, self.messages, self.count = profile, messages, 0

    def __call__(self, done: int) -> None:
        self.count += done
        if self.count >= BATCH:
            self.flush()

    def flush(self) -> None:
        if self.count:
            self.messages.put(("advance", self.profile, self.count))
            self.count = 0


def _ignore(done: int) -> None:
    """No progress wanted."""
