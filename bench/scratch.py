"""The benchmarks' scratch PostgreSQL database (created and migrated for one run, dropped even after a failure),
the set-based copies of granted rows that give it volume, and the spawned client processes that race on it."""

from __future__ import annotations

import multiprocessing
import os
import time
import traceback
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Protocol

import psycopg

from workflow.store.migrate import upgrade

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


@contextmanager
def scratch_database(prefix: str) -> Iterator[str]:
    """A migrated database of our own (`specgoods_bench_<prefix>_<random>`), as a SQLAlchemy URL."""
    name = f"specgoods_bench_{prefix}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
        upgrade(url)
        yield url
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def plain_dsn(url: str) -> str:
    """The SQLAlchemy URL without its driver name, as psycopg itself takes it."""
    return url.replace("postgresql+psycopg://", "postgresql://")


# -- copies of granted rows, made in SQL: granting thousands through the service would take minutes ----------------

# One table to copy: its name, which rows (a condition on alias `t` that may name `%(certificate)s`), and the
# expressions that copy number `g` takes for some columns instead of the original's values.
CloneStep = tuple[str, str, dict[str, str]]


def table_columns(conn: psycopg.Connection[Any], table: str) -> list[str]:
    """A table's columns but `id`, in order, from the catalogue: a new column in a migration needs no change here."""
    rows = conn.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = %s AND column_name <> 'id' "
        "ORDER BY ordinal_position",
        (table,),
    )
    return [name for (name,) in rows]


def clone_rows(conn: psycopg.Connection[Any], steps: Sequence[CloneStep], certificate_no: str, copies: int) -> None:
    """`copies` copies of the rows each step picks for `certificate_no`, one INSERT per table in order, committed.

    Later steps find the earlier steps' copies by the columns those copies changed (a reference with a suffix).
    """
    for table, where, overrides in steps:
        columns = table_columns(conn, table)
        values = ", ".join(overrides.get(name, f"t.{name}") for name in columns)
        conn.execute(
            f"INSERT INTO {table} ({', '.join(columns)}) "
            f"SELECT {values} FROM {table} t, generate_series(1, %(copies)s) g WHERE {where}",
            {"certificate": certificate_no, "copies": copies},
        )
    conn.commit()


# -- client processes, shared by the benchmarks that race several clients ------------------------------------------


@dataclass(frozen=True)
class CellTask:
    """What every client of a cell is told: which side to drive, for how long unmeasured, then measured.

    A benchmark adds what its clients also need (a layout, a seed); its fields come after these three.
    """

    side: str
    warmup: float
    seconds: float


class Window:
    """One client's clock in a cell: wait for the common start, work until the end, measure after the warm-up.

    Iterating sleeps until `start_at`, then gives the start time of each request until the window closes; from the
    first request started after the warm-up on, `measuring` is true, and `cpu()` and `statements()` count from there.
    """

    def __init__(
        self,
        task: CellTask,
        start_at: float,
        statements: Callable[[], int] = lambda: 0,
        backends: Callable[[], Iterable[int]] = tuple,
    ) -> None:
        self.start_at = start_at
        self.measure_from = start_at + task.warmup
        self.stop_at = self.measure_from + task.seconds
        self.measuring = False
        self._count_statements, self._backends = statements, backends
        self._cpu_start, self._statements_start = 0.0, 0
        self._server_start: dict[int, float] = {}

    def __iter__(self) -> Iterator[float]:
        time.sleep(max(0.0, self.start_at - time.time()))
        while (began := time.time()) < self.stop_at:
            if not self.measuring and began >= self.measure_from:
                self._cpu_start, self._statements_start = time.process_time(), self._count_statements()
                self._server_start = {pid: process_cpu(pid) for pid in self._backends()}
                self.measuring = True
            yield began

    def cpu(self) -> float:
        """This process's CPU seconds since measuring began (0 if it never did)."""
        return time.process_time() - self._cpu_start if self.measuring else 0.0

    def statements(self) -> int:
        """Statements counted since measuring began (0 if it never did)."""
        return self._count_statements() - self._statements_start if self.measuring else 0

    def server_cpu(self) -> float:
        """CPU seconds the server's backends of this client spent since measuring began (0 if it never did).

        A backend first seen after the start counts from its birth: the warm-up opens every connection a client
        uses, so in practice none is.
        """
        if not self.measuring:
            return 0.0
        return sum(process_cpu(pid) - self._server_start.get(pid, 0.0) for pid in self._backends())


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def process_cpu(pid: int) -> float:
    """A local process's user + system CPU seconds from /proc (the server runs on this machine); 0 once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime and stime, fields 14 and 15 of stat(5)


class BenchClient(Protocol):
    """What a client process runs for each cell: connect before the clock starts, work from `start_at`, let go."""

    def prepare(self, task: Any) -> None: ...

    def run(self, task: Any, start_at: float) -> Any: ...

    def finish(self) -> None: ...


@dataclass(frozen=True)
class ClientFailure:
    """A client process's exception, sent to the parent so it fails loudly instead of waiting for an answer."""

    index: int
    trace: str


def _serve_client(factory: Callable[[int], BenchClient], index: int, pipe: Connection) -> None:
    """One client process: build its client (never a connection inherited from the parent), then obey the parent."""
    try:
        client = factory(index)
        pipe.send("up")
        while (task := pipe.recv()) is not None:
            client.prepare(task)
            pipe.send("ready")
            result = client.run(task, pipe.recv())
            client.finish()
            pipe.send(result)
    except Exception:  # noqa: BLE001 - whatever broke, the parent must hear of it rather than wait forever
        pipe.send(ClientFailure(index, traceback.format_exc()))
    finally:
        pipe.close()


class SpawnedClients:
    """Client processes started with `spawn` (no connection crosses a fork), reused by every cell.

    A cell with n clients drives the first n; they start together at a time the parent sends once all are ready.
    `factory(index)` runs in the child and must be picklable (a top-level class or a `functools.partial` of one).
    Used as a context manager, it tells them to stop on the way out.
    """

    def __init__(self, factory: Callable[[int], BenchClient], size: int) -> None:
        context = multiprocessing.get_context("spawn")
        self.pipes: list[Connection] = []
        self.processes: list[Any] = []
        for index in range(size):
            parent, child = context.Pipe()
            process = context.Process(target=_serve_client, args=(factory, index, child), daemon=True)
            process.start()
            child.close()
            self.pipes.append(parent)
            self.processes.append(process)
        for pipe in self.pipes:
            _answer(pipe, "up")

    def __enter__(self) -> SpawnedClients:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def run(self, task: Any, clients: int, on_start: Callable[[float], None] = lambda start_at: None) -> list[Any]:
        pipes = self.pipes[:clients]
        for pipe in pipes:
            pipe.send(task)
        for pipe in pipes:
            _answer(pipe, "ready")
        start_at = time.time() + 0.1  # everyone is connected; start together
        on_start(start_at)
        for pipe in pipes:
            pipe.send(start_at)
        return [_answer(pipe) for pipe in pipes]

    def close(self) -> None:
        for pipe in self.pipes:
            with suppress(OSError):  # a client that died already has nothing to be told
                pipe.send(None)
        for process in self.processes:
            process.join(timeout=30)
        for pipe in self.pipes:
            pipe.close()


def _answer(pipe: Connection, expected: str | None = None) -> Any:
    answer = pipe.recv()
    if isinstance(answer, ClientFailure):
        raise RuntimeError(f"client process {answer.index} failed:\n{answer.trace}")
    if expected is not None and answer != expected:
        raise RuntimeError(f"a client process said {answer!r} instead of {expected!r}")
    return answer


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The value at fraction `q` of an ascending list (nearest rank); 0 for an empty one."""
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))] if sorted_values else 0.0
