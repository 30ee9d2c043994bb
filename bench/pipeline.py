"""Pipeline throughput: submit → outbox → Redis → two worker processes → screened, beside a no-op Celery task.

Run from the repository root: `.venv/bin/python bench/pipeline.py [--submissions N] [--noops N] [--drain N]
[--paced-seconds S] [--json out.json]`; the defaults take about 80 s.
It makes a scratch PostgreSQL database and its own `redis-server` (AOF, as docker-compose runs it), starts one
`specgoods worker --concurrency 2` (two prefork processes) and measures, in one run on the same Redis and workers:

- *noop*: `celery.accumulate` (Celery's built-in do-nothing task) published one by one to the `screening` queue,
  from the first publish until Redis holds no queued or unacknowledged message: Celery's own ceiling here;
- *burst*: `SubmitApplication` through the bus as fast as one client goes (each commit relays its outbox row),
  from the first submit to the last 'screen' audit event;
- *paced*: submissions at about half the burst rate, so latency is the pipeline's and not a growing backlog's;
- *drain*: submissions committed with the relay held back, then relayed at once: the workers' screening rate alone,
  from the first publish to the last 'screen' event.

Latency is the 'screen' audit event's timestamp minus the 'submit' event's (taken inside the submit transaction,
about a millisecond before its commit; both from the system clock of this one machine). Every submission must be
screened exactly once: the exit status is 1 otherwise. Noise on the shared 2-core machine is ±15–30 %, so the
pipeline/noop ratio of the same run is the number to read (docs/performance.md, "Pipeline").
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC
from pathlib import Path
from typing import Any

import redis
from sqlalchemy import event, func, select

# Run as a script, only bench/ is on the path; the repository root holds the tests' set-up helpers we reuse.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.scratch import scratch_database
from config.bootstrap import Container, bootstrap
from config.settings import load_settings
from workflow.domain import commands as c
from workflow.store.tables import AuditEventRow

QUEUE = "screening"
NOOP_TASK = "celery.accumulate"
WARMUP = 20  # submissions and 10× as many no-ops before measuring: forked children import and connect lazily
PACED_FRACTION = 0.5
DRAIN_TIMEOUT = 120.0
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Options:
    submissions: int = 1000
    noops: int = 3000
    drain: int = 500
    paced_seconds: float = 10.0
    json_path: Path | None = None


@dataclass
class Cell:
    """One measured phase: its rate and, for submissions, the latency from submit to screened."""

    name: str
    count: int
    seconds: float
    client_cpu_ms: float
    worker_cpu_ms: float
    machine_busy: float
    p50_ms: float | None = None
    p99_ms: float | None = None
    max_ms: float | None = None
    client_statements: float | None = None
    lost: int = 0
    duplicated: int = 0

    @property
    def rate(self) -> float:
        return self.count / self.seconds


# -- the scratch database, Redis and worker --------------------------------------------------------------------------


@contextmanager
def services(url: str, scratch: Path) -> Iterator[tuple[Container, Any, Any]]:
    """Own Redis, one worker of two prefork processes, and the bench's container; all stopped on the way out."""
    from tests.conftest import wait_for_worker
    from tests.integration.test_reliability import RedisServer, spawn_specgoods, start_worker_process

    server = RedisServer(scratch / "redis")
    server.start()
    started: list[Any] = []

    def spawn(*args: Any) -> Any:
        started.append(spawn_specgoods(scratch, *args))
        return started[-1]

    container = bootstrap(load_settings(database_url=url, redis_url=server.url, instance_path=scratch / "bench"))
    try:
        worker = start_worker_process(spawn, {"SPECGOODS_DATABASE_URL": url, "SPECGOODS_REDIS_URL": server.url})
        wait_for_worker(container, worker)
        yield container, worker, server
    finally:
        for process in started:
            process.stop()
        container.dispose()
        server.stop()


def seed(container: Container, count: int) -> tuple[Any, list[int]]:
    """One draft filed through the bus, copied `count` times (tests' clone_drafts): submissions go through the bus."""
    from tests.conftest import make_cast
    from tests.integration.support import file_application
    from tests.integration.test_reliability import clone_drafts

    cast = make_cast(container, suffix="P")
    return cast.applicant, clone_drafts(container, file_application(container, cast), count)


# -- measuring -------------------------------------------------------------------------------------------------------


def _process_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime


def worker_cpu(parent: int) -> float:
    """CPU seconds of the worker and its prefork children (found by their parent pid)."""
    total = _process_cpu(parent)
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
                if int(stat.rsplit(")", 1)[1].split()[1]) == parent:
                    total += _process_cpu(int(entry.name))
            except (FileNotFoundError, ProcessLookupError):
                continue
    return total


def machine_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of all cores, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


class Meter:
    """CPU across one phase: the bench client's own work (until `client_done`), the worker processes', the machine's.

    The client's wait for completion is polling, not pipeline work, so it is left out of the client's figure.
    """

    def __init__(self, worker_pid: int) -> None:
        self.worker_pid = worker_pid

    def __enter__(self) -> Meter:
        self._client, self._worker, self._machine = time.process_time(), worker_cpu(self.worker_pid), machine_ticks()
        return self

    def client_done(self) -> None:
        self.client = time.process_time() - self._client

    def __exit__(self, *_exc: object) -> None:
        busy, total = machine_ticks()
        self.worker = worker_cpu(self.worker_pid) - self._worker
        self.busy = (busy - self._machine[0]) / max(1, total - self._machine[1])


class Statements:
    """SQL statements the bench process sends (each submit's own transaction, then its relay's) during a phase."""

    def __init__(self, container: Container) -> None:
        self.engine, self.count = container.engine, 0

    def _count(self, *_args: Any) -> None:
        self.count += 1

    def __enter__(self) -> Statements:
        event.listen(self.engine, "before_cursor_execute", self._count)
        return self

    def __exit__(self, *_exc: object) -> None:
        event.remove(self.engine, "before_cursor_execute", self._count)


class Broker:
    """One Redis client for polling: is anything still queued for screening, or delivered and not acknowledged?"""

    def __init__(self, url: str) -> None:
        self.client = redis.Redis.from_url(url)

    def drained(self) -> bool:
        return self.client.llen(QUEUE) == 0 and self.client.hlen("unacked") == 0


def wait_until(condition: Callable[[], bool], timeout: float, interval: float, what: str) -> float:
    """Poll `condition` and return the monotonic time it first held; raise after the deadline."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return time.monotonic()
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}")


def publish_noops(container: Container, count: int) -> None:
    for i in range(count):
        container.celery.send_task(NOOP_TASK, args=(i,), queue=QUEUE, task_id=f"noop-{uuid.uuid4().hex}")


def noop_cell(container: Container, worker: Any, broker: Broker, count: int, name: str = "noop") -> Cell:
    with Meter(worker.process.pid) as meter:
        started = time.monotonic()
        publish_noops(container, count)
        meter.client_done()
        finished = wait_until(broker.drained, DRAIN_TIMEOUT, 0.002, "the no-op tasks to drain")
    return Cell(name, count, finished - started, *_per_op(meter, count))


def _per_op(meter: Meter, count: int) -> tuple[float, float, float]:
    return meter.client * 1000 / count, meter.worker * 1000 / count, meter.busy


def submit_all(container: Container, applicant: Any, ids: list[int], interval: float = 0.0) -> None:
    """One client, back to back (interval 0) or on a fixed schedule; a late slot is not made up for."""
    next_slot = time.monotonic()
    for application_id in ids:
        if interval:
            time.sleep(max(0.0, next_slot - time.monotonic()))
            next_slot += interval
        container.bus.handle(c.SubmitApplication(applicant, application_id))


def submission_cell(
    container: Container, worker: Any, applicant: Any, ids: list[int], name: str, interval: float = 0.0
) -> Cell:
    with Meter(worker.process.pid) as meter:
        with Statements(container) as statements:
            submit_all(container, applicant, ids, interval)
        meter.client_done()
        # The cell's end is read from the audit timestamps, so this poll needs no fine resolution.
        wait_until(lambda: _screened(container, ids) >= len(ids), DRAIN_TIMEOUT, 0.1, f"{name}: all screened")
    submitted, screened = _event_times(container, ids)
    first, last = min(submitted.values()), max(max(times) for times in screened.values())
    latencies = sorted((min(screened[i]) - submitted[i]) * 1000 for i in ids if i in screened)
    cell = Cell(name, len(ids), last - first, *_per_op(meter, len(ids)))
    cell.client_statements = statements.count / len(ids)
    cell.p50_ms, cell.p99_ms, cell.max_ms = _percentile(latencies, 50), _percentile(latencies, 99), latencies[-1]
    cell.lost = sum(1 for i in ids if i not in screened)
    cell.duplicated = sum(len(times) - 1 for times in screened.values())
    return cell


def drain_cell(container: Container, worker: Any, applicant: Any, ids: list[int]) -> Cell:
    """The workers alone: submissions committed with the relay held back, then relayed at once and screened."""
    held = bootstrap(container.settings, relay_after_commit=False)
    try:
        submit_all(held, applicant, ids)
    finally:
        held.dispose()
    with Meter(worker.process.pid) as meter:
        started = time.time()  # wall clock, comparable with the audit timestamps (naive UTC)
        while container.relay.relay():
            pass
        meter.client_done()
        wait_until(lambda: _screened(container, ids) >= len(ids), DRAIN_TIMEOUT, 0.1, "drain: all screened")
    _, screened = _event_times(container, ids)
    cell = Cell("drain", len(ids), max(max(times) for times in screened.values()) - started, *_per_op(meter, len(ids)))
    cell.lost = sum(1 for i in ids if i not in screened)
    cell.duplicated = sum(len(times) - 1 for times in screened.values())
    return cell


def _screened(container: Container, ids: list[int]) -> int:
    query = select(func.count(func.distinct(AuditEventRow.object_id))).where(
        AuditEventRow.object_type == "application", AuditEventRow.object_id.in_(ids), AuditEventRow.trigger == "screen"
    )
    with container.sessions() as session:
        return session.scalar(query) or 0


def _event_times(container: Container, ids: list[int]) -> tuple[dict[int, float], dict[int, list[float]]]:
    """Submit time per application, and every screen time (more than one would be a duplicate)."""
    query = select(AuditEventRow.object_id, AuditEventRow.trigger, AuditEventRow.at).where(
        AuditEventRow.object_type == "application",
        AuditEventRow.object_id.in_(ids),
        AuditEventRow.trigger.in_(("submit", "screen")),
    )
    submitted: dict[int, float] = {}
    screened: dict[int, list[float]] = {}
    with container.sessions() as session:
        for object_id, trigger, at in session.execute(query):
            if trigger == "submit":
                submitted[object_id] = at.replace(tzinfo=UTC).timestamp()
            else:
                screened.setdefault(object_id, []).append(at.replace(tzinfo=UTC).timestamp())
    return submitted, screened


def _percentile(values: list[float], pct: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[pct - 1] if len(values) > 1 else values[0]


# -- the run -------------------------------------------------------------------------------------------------------


def run(options: Options) -> list[Cell]:
    with tempfile.TemporaryDirectory(prefix="specgoods-pipeline-") as scratch, scratch_database("pipeline") as url:
        return measure(options, url, Path(scratch))


def measure(options: Options, url: str, scratch: Path) -> list[Cell]:
    """Warm up, then noop, burst, paced, drain and noop again: the no-op cells bracket the others' share of noise."""
    with services(url, scratch) as (container, worker, server):
        broker = Broker(server.url)
        # Drafts for the paced cell at up to 100/s; its real rate is known only after the burst.
        paced_room = int(options.paced_seconds * 100)
        applicant, ids = seed(container, WARMUP + options.submissions + options.drain + paced_room)
        warm, ids = ids[:WARMUP], ids[WARMUP:]
        burst, drain, spare = ids[: options.submissions], ids[options.submissions :][: options.drain], ids[-paced_room:]
        submission_cell(container, worker, applicant, warm, "warm-up")
        noop_cell(container, worker, broker, WARMUP * 10, "warm-up")
        cells = [noop_cell(container, worker, broker, options.noops)]
        cells.append(submission_cell(container, worker, applicant, burst, "burst"))
        rate = PACED_FRACTION * cells[-1].rate
        paced = spare[: max(10, int(rate * options.paced_seconds))]
        cells.append(submission_cell(container, worker, applicant, paced, "paced", interval=1 / rate))
        cells.append(drain_cell(container, worker, applicant, drain))
        cells.append(noop_cell(container, worker, broker, options.noops))
        return cells


COLUMNS = (
    f"{'cell':<6} {'n':>5} {'seconds':>8} {'per s':>7} {'/noop':>6} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7}"
    f" {'client cpu ms/op':>16} {'stmts/op':>8} {'worker cpu ms/op':>16} {'machine busy':>12} {'lost':>4} {'dup':>4}"
)


def report(cells: list[Cell]) -> str:
    noops = [cell.rate for cell in cells if cell.name == "noop"]
    noop = statistics.mean(noops)
    lines = [COLUMNS, *(_row(cell, noop) for cell in cells)]
    ratios = ", ".join(f"{cell.name} {cell.rate / noop:.3f}" for cell in cells if cell.name in ("burst", "drain"))
    lines.append(f"against the no-op task (mean of {len(noops)} cells, {noop:.0f}/s): {ratios}")
    return "\n".join(lines)


def _row(cell: Cell, noop: float) -> str:
    ratio = f"{cell.rate / noop:6.3f}" if cell.name != "noop" else f"{'-':>6}"
    latency = " ".join(_optional(v, 7, 1) for v in (cell.p50_ms, cell.p99_ms, cell.max_ms))
    return (
        f"{cell.name:<6} {cell.count:>5} {cell.seconds:8.2f} {cell.rate:7.1f} {ratio} {latency}"
        f" {cell.client_cpu_ms:16.2f} {_optional(cell.client_statements, 8, 1)} {cell.worker_cpu_ms:16.2f}"
        f" {cell.machine_busy:12.0%} {cell.lost:>4} {cell.duplicated:>4}"
    )


def _optional(value: float | None, width: int, decimals: int) -> str:
    return f"{value:{width}.{decimals}f}" if value is not None else f"{'-':>{width}}"


def parse(argv: list[str]) -> Options:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submissions", type=int, default=Options.submissions, help="burst size (default 1000)")
    parser.add_argument("--noops", type=int, default=Options.noops, help="no-op tasks per noop cell (default 3000)")
    parser.add_argument("--drain", type=int, default=Options.drain, help="held-back submissions (default 500)")
    parser.add_argument("--paced-seconds", type=float, default=Options.paced_seconds, help="paced cell length")
    parser.add_argument("--json", dest="json_path", type=Path, default=None, help="write options and cells here")
    args = parser.parse_args(argv)
    return Options(args.submissions, args.noops, args.drain, args.paced_seconds, args.json_path)


def main(argv: list[str] | None = None) -> int:
    options = parse(sys.argv[1:] if argv is None else argv)
    started, load = time.monotonic(), os.getloadavg()
    cells = run(options)
    print(report(cells))
    # The machine is shared: the load before and after says how much of it the run had.
    after = os.getloadavg()[0]
    print(f"whole run {time.monotonic() - started:.0f} s; load average {load[0]:.2f} before, {after:.2f} after")
    if options.json_path:
        payload = {"options": {**asdict(options), "json_path": None}, "cells": [asdict(cell) for cell in cells]}
        options.json_path.write_text(json.dumps(payload, indent=2))
    return 1 if any(cell.lost or cell.duplicated for cell in cells) else 0


if __name__ == "__main__":
    sys.exit(main())
