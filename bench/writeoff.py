"""Write-off throughput: the service layer, one declaration or a batch per request, against a raw psycopg write-off.

Run from the repository root: `.venv/bin/python bench/writeoff.py [--clients 2,8,32] [--batch 50] [--json out.json]`.
Beside the raw write-off and the service, the floor side replays the service's own statements raw (bench/floor.py):
the most any Python above them could reach. Each cell also gives the CPU its clients' server processes spent per
write-off. It makes a scratch PostgreSQL database, races client processes on one hot line and on 10,000 lines,
checks the ledger after every cell (exit 1 on any over-draw, lost or duplicated write-off) and drops the database.
The machine is shared and noisy, so the service/baseline ratio of adjacent runs is the number to read
(docs/performance.md).
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import pstats
import random
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import event, text

# Run as a script, only bench/ is on the path; the repository root holds the tests' set-up helpers we reuse.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.floor import Recorder, Replay
from bench.report import ledger_line, print_cells, rate_against_baseline, ratio_line
from bench.scratch import (
    CellTask,
    SpawnedClients,
    Window,
    clone_rows,
    percentile,
    plain_dsn,
    process_cpu,
    scratch_database,
)
from config.bootstrap import Container, bootstrap
from config.settings import load_settings
from workflow.domain import commands as c
from workflow.domain.actors import Actor
from workflow.domain.errors import DomainError
from workflow.domain.goods import Direction
from workflow.store.receipt_sequencer import seal_receipts
from workflow.store.tables import QUANTITY_SCALE

SPREAD_LINES = 10_000
APPROVED_UNITS = 10**9  # 10^13 ten-thousandths per line: far below BIGINT, never used up in a run
UNITS = (1, 5)  # each write-off draws a random 1–5 units
# raw SQL; the service's own statements replayed raw (bench/floor.py); one declaration per request; a batch per request
SIDES = ("baseline", "floor", "service", "batch")
BATCH = 50  # declarations per batch request: a port feed's burst
LAYOUTS = ("hot", "spread")
TARGET_RATIO = 0.5  # the issue asks the service layer for at least half the raw rate, hot and spread
RELEASED = ("released", "follow_up_pending")

BASELINE_UPDATE = """
UPDATE certificate_lines SET committed_qty = committed_qty + %s
 WHERE id = %s AND approved_qty - committed_qty - reserved_qty >= %s
"""
BASELINE_INSERT = """
INSERT INTO ledger_entries
       (certificate_id, certificate_line_id, kind, qty, unit, reason, actor_id, actor_role, at, policy_id)
VALUES (%s, %s, 'commit', %s, %s, '', %s, %s, now(), %s)
"""


# -- fixture: a scratch database with one hot line and 10,000 spread ones ------------------------------------------


@dataclass(frozen=True)
class Target:
    """One certificate line a client may draw on."""

    certificate_id: int
    certificate_no: str
    line_id: int


@dataclass(frozen=True)
class Fixture:
    """Everything a client process needs, picklable: it bootstraps its own container from `url`."""

    url: str
    instance_path: str
    applicant: Actor
    unit: str
    policy_id: str
    layouts: dict[str, tuple[Target, ...]]

    @property
    def dsn(self) -> str:
        return plain_dsn(self.url)


def make_container(url: str, instance_path: str) -> Container:
    return bootstrap(load_settings(database_url=url, instance_path=Path(instance_path)))


def seed(url: str, instance_path: str, spread: bool = True) -> Fixture:
    """Grant two grade C certificates through the service; the spread layout clones the second 10,000 times.

    Spread means 10,000 certificates of one line each, not one certificate of 10,000 lines: the service locks the
    certificate row and reads all its lines on every write-off, so lines of one certificate would still be hot.
    """
    from tests.conftest import make_cast
    from tests.integration.support import fx10_cytokine, grant

    container = make_container(url, instance_path)
    try:
        cast = make_cast(container, suffix="B")
        hot, template = (grant(container, cast, fx10_cytokine(APPROVED_UNITS)) for _ in range(2))
    finally:
        container.dispose()
    with psycopg.connect(plain_dsn(url)) as conn:
        if spread:
            clone_rows(conn, CLONES, template, SPREAD_LINES)
        layouts = {"hot": _targets(conn, "= %s", hot), "spread": _targets(conn, "LIKE %s", f"{template}-S%")}
        unit, policy_id = conn.execute(
            "SELECT l.unit, c.policy_id FROM certificate_lines l JOIN certificates c ON c.id = l.certificate_id "
            "WHERE c.certificate_no = %s",
            (hot,),
        ).fetchone()
    return Fixture(url, instance_path, cast.applicant, unit, policy_id, layouts)


# A granted certificate's copies (its application, itself, its lines), in three set-based INSERTs: granting 10,000
# through the service would take minutes, and copies of a granted one are the same rows. Per table: which row of the
# granted certificate to copy, and the columns a copy numbered g gets instead.
_COPY = "|| '-S' || g"
CLONES = (
    (
        "applications",
        "t.id = (SELECT application_id FROM certificates WHERE certificate_no = %(certificate)s)",
        {"reference": f"t.reference {_COPY}"},
    ),
    (
        "certificates",
        "t.certificate_no = %(certificate)s",
        {
            "certificate_no": f"t.certificate_no {_COPY}",
            "application_id": "(SELECT a.id FROM applications a, applications o"
            f" WHERE o.id = t.application_id AND a.reference = o.reference {_COPY})",
        },
    ),
    (
        "certificate_lines",
        "t.certificate_id = (SELECT id FROM certificates WHERE certificate_no = %(certificate)s)",
        {
            "certificate_id": "(SELECT k.id FROM certificates k, certificates o"
            f" WHERE o.id = t.certificate_id AND k.certificate_no = o.certificate_no {_COPY})",
        },
    ),
)


def _targets(conn: psycopg.Connection[Any], match: str, pattern: str) -> tuple[Target, ...]:
    rows = conn.execute(
        "SELECT c.id, c.certificate_no, l.id FROM certificates c JOIN certificate_lines l ON l.certificate_id = c.id "
        f"WHERE c.certificate_no {match} ORDER BY l.id",
        (pattern,),
    )
    return tuple(Target(*row) for row in rows)


# -- one client: a time-boxed loop of write-offs -------------------------------------------------------------------


@dataclass(frozen=True)
class Task(CellTask):
    layout: str
    seed: int
    batch: int = BATCH


@dataclass
class Tally:
    """What one client did: outcomes over the whole run (the ledger check needs them all), timings in the window."""

    outcomes: Counter[str] = field(default_factory=Counter)
    latencies_ms: list[float] = field(default_factory=list)
    window_ops: int = 0
    window_cpu: float = 0.0
    window_server_cpu: float = 0.0
    statements: int = 0


WriteOff = Callable[[tuple[Target, ...]], list[str]]


class Client:
    """A client process's three ways to write off: a raw psycopg transaction, or a command through the bus for one
    declaration or for a batch of them. Each returns the outcome of every write-off it made."""

    def __init__(self, fixture: Fixture, index: int) -> None:
        self.fixture, self.index, self.sequence = fixture, index, 0
        self.rng = random.Random(index)
        self.container = make_container(fixture.url, fixture.instance_path)
        self.statements = 0
        event.listen(self.container.engine, "before_cursor_execute", self._count_statement)
        self.backends: set[int] = set()  # the server processes of this client's connections, for their CPU
        event.listen(self.container.engine, "connect", self._note_backend)
        self.conn: psycopg.Connection[Any] | None = None
        self.write_off: WriteOff = self.declare
        self.recorded_outcomes: Counter[str] = Counter()  # the floor's recorded declarations, for the ledger check

    def _count_statement(self, *_args: Any) -> None:
        self.statements += 1

    def _note_backend(self, dbapi_connection: Any, _record: Any) -> None:
        self.backends.add(dbapi_connection.info.backend_pid)

    def prepare(self, task: Task) -> None:
        """Connect before the clock starts; the other side's connection is closed so only clients ever connect.

        Each client of a cell draws its own random sequence, and the same one whenever that cell is run again.
        """
        self.rng, self.batch = random.Random(task.seed * 1000 + self.index), task.batch
        if task.side in ("baseline", "floor"):
            self.conn = psycopg.connect(self.fixture.dsn)
            self.backends.add(self.conn.info.backend_pid)
            self.write_off = self.raw_write_off if task.side == "baseline" else self._replaying(task)
            return
        with self.container.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        self.write_off = self.declare if task.side == "service" else self.declare_batch

    def _replaying(self, task: Task) -> WriteOff:
        """The floor: one real declaration recorded (until one is released), then its statements replayed raw."""
        assert self.conn is not None
        targets = self.fixture.layouts[task.layout]
        recorded = None
        while recorded is None:
            with Recorder(self.container.engine) as recorder:
                self.recorded_outcomes.update(self.declare(targets))
            recorded = recorder.recorded()
        replay = Replay(recorded, self.conn, f"{self.index:03d}")

        def write_off(targets: tuple[Target, ...]) -> list[str]:
            target, _ = self._pick(targets)
            return [replay.write_off(target.certificate_id, target.certificate_no, target.line_id)]

        return write_off

    def finish(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None
        self.container.engine.dispose()

    def _pick(self, targets: tuple[Target, ...]) -> tuple[Target, int]:
        return self.rng.choice(targets), self.rng.randint(*UNITS)

    def raw_write_off(self, targets: tuple[Target, ...]) -> list[str]:
        """The baseline: one guarded UPDATE (its row count is the check) and one ledger INSERT, committed."""
        return [self._raw(*self._pick(targets))]

    def _raw(self, target: Target, units: int) -> str:
        assert self.conn is not None
        qty = units * QUANTITY_SCALE
        with self.conn.cursor() as cursor:
            cursor.execute(BASELINE_UPDATE, (qty, target.line_id, qty))
            if cursor.rowcount != 1:
                self.conn.rollback()
                return "held"
            actor, fixture = self.fixture.applicant, self.fixture
            entry = (target.certificate_id, target.line_id, qty, fixture.unit, actor.user_id, actor.role.value)
            cursor.execute(BASELINE_INSERT, (*entry, fixture.policy_id))
        self.conn.commit()
        return "released"

    def declare(self, targets: tuple[Target, ...]) -> list[str]:
        """The service, one declaration per request: a fresh number, declared today on a target's certificate."""
        return [_outcome(self.container.bus.handle(self._shipment(*self._pick(targets)))["state"])]

    def declare_batch(self, targets: tuple[Target, ...]) -> list[str]:
        """The service, `batch` declarations per request (each on its own random target), filed in one transaction."""
        shipments = tuple(self._shipment(*self._pick(targets)) for _ in range(self.batch))
        result = self.container.bus.handle(c.DeclareShipments(self.fixture.applicant, shipments))
        return [_outcome(view["state"]) for view in result["declarations"]]

    def _shipment(self, target: Target, units: int) -> c.DeclareShipment:
        self.sequence += 1
        return c.DeclareShipment(
            self.fixture.applicant,
            f"BENCH{self.index:03d}{self.sequence:010d}",
            target.certificate_no,
            self.container.deps.clock.today(),
            Direction.ENTRY,
            ((1, Decimal(units)),),
        )

    def run(self, task: Task, start_at: float) -> Tally:
        """Write off until the window closes; only requests started inside the window are timed and counted."""
        targets, tally = self.fixture.layouts[task.layout], Tally()
        tally.outcomes.update(self.recorded_outcomes)
        self.recorded_outcomes.clear()
        window = Window(task, start_at, statements=lambda: self.statements, backends=lambda: self.backends)
        for began in window:
            outcomes = self._one(self.write_off, targets)
            tally.outcomes.update(outcomes)
            if window.measuring:
                tally.latencies_ms.append((time.time() - began) * 1000)
                tally.window_ops += len(outcomes)
        tally.window_cpu, tally.statements = window.cpu(), window.statements()
        tally.window_server_cpu = window.server_cpu()
        return tally

    @staticmethod
    def _one(write_off: WriteOff, targets: tuple[Target, ...]) -> list[str]:
        try:
            return write_off(targets)
        except DomainError:
            return ["error"]  # rolled back by the unit of work: it wrote nothing, and the ledger check shows it


def _outcome(state: str) -> str:
    return "released" if state in RELEASED else "inspected" if state == "inspection" else "held"


# -- the ledger check after each cell ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Invariants:
    """All expected 0: over-drawn lines, balances that disagree with the ledger, lost and duplicated entries."""

    overdrawn: int
    mismatched: int
    lost: int
    duplicated: int

    @property
    def ok(self) -> bool:
        return not (self.overdrawn or self.mismatched or self.lost or self.duplicated)


LINE_CHECK = """
WITH totals AS (
    SELECT certificate_line_id AS line_id,
           COALESCE(SUM(qty) FILTER (WHERE kind = 'commit'), 0) AS commits,
           COALESCE(SUM(qty) FILTER (WHERE kind = 'reverse'), 0) AS reverses,
           COALESCE(SUM(qty) FILTER (WHERE kind = 'reserve'), 0) AS reserves,
           COALESCE(SUM(qty) FILTER (WHERE kind = 'release'), 0) AS releases
      FROM ledger_entries GROUP BY certificate_line_id
), derived AS (
    SELECT l.approved_qty, l.committed_qty, l.reserved_qty,
           COALESCE(t.commits - t.reverses, 0) AS d_committed,
           -- the baseline writes commits without reservations, so its lines never hold a reserved balance
           CASE WHEN %(reservations)s THEN COALESCE(t.reserves - t.releases - t.commits, 0) ELSE 0 END AS d_reserved
      FROM certificate_lines l LEFT JOIN totals t ON t.line_id = l.id
)
SELECT COUNT(*) FILTER (WHERE committed_qty + reserved_qty > approved_qty OR d_committed + d_reserved > approved_qty
                           OR committed_qty < 0 OR reserved_qty < 0),
       COUNT(*) FILTER (WHERE committed_qty <> d_committed OR reserved_qty <> d_reserved)
  FROM derived
"""
ENTRY_COUNTS = """
SELECT COUNT(*) FILTER (WHERE kind = 'commit'), COUNT(*) FILTER (WHERE kind = 'reserve'),
       (SELECT COUNT(*) FROM (SELECT 1 FROM ledger_entries WHERE declaration_id IS NOT NULL
                               GROUP BY declaration_id, certificate_line_id, kind HAVING COUNT(*) > 1) twice)
  FROM ledger_entries
"""


def check_ledger(dsn: str, side: str, outcomes: Counter[str]) -> Invariants:
    """Every line within quota and equal to its ledger; one commit per write-off a client saw released."""
    service = side != "baseline"
    with psycopg.connect(dsn) as conn:
        overdrawn, mismatched = conn.execute(LINE_CHECK, {"reservations": service}).fetchone()
        commits, reserves, repeated = conn.execute(ENTRY_COUNTS).fetchone()
    expected = {"commit": (outcomes["released"], commits)}
    if service:  # every routed declaration reserved first, released or not
        expected["reserve"] = (outcomes["released"] + outcomes["inspected"], reserves)
    # Counted in write-offs: a release missing both its reserve and its commit entry is one lost write-off.
    lost = max(max(0, want - got) for want, got in expected.values())
    extra = max(max(0, got - want) for want, got in expected.values())
    return Invariants(overdrawn, mismatched, lost, max(extra, repeated))


@dataclass(frozen=True)
class Sealing:
    """The receipt sequencer's run over what a cell queued, as beat runs it after the commits (not in the cell)."""

    receipts: int
    unreceipted: int  # commits left without exactly one receipt: expected 0
    cpu_ms_per_receipt: float
    server_cpu_ms_per_receipt: float


def seal_cell(fixture: Fixture) -> Sealing:
    """Sign the receipts the cell's write-offs queued, in this process on one connection; its CPU, and the check."""
    container = make_container(fixture.url, fixture.instance_path)
    try:
        with container.engine.connect() as conn:
            backend = int(conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one())
            cpu, server = time.process_time(), process_cpu(backend)
            count = seal_receipts(conn, container.sequencer.sign, container.sequencer.now())
            conn.commit()
            cpu, server = time.process_time() - cpu, process_cpu(backend) - server
            unreceipted = conn.exec_driver_sql(UNRECEIPTED).scalar_one()
    finally:
        container.dispose()
    per = 1000 / max(count, 1)
    return Sealing(count, int(unreceipted), cpu * per, server * per)


# Commits with no receipt or more than one, once the sequencer has run (a receipt is unique per entry).
UNRECEIPTED = """
SELECT COUNT(*) FROM ledger_entries e
 WHERE e.kind = 'commit' AND NOT EXISTS (SELECT 1 FROM writeoff_receipts r WHERE r.ledger_entry_id = e.id)
"""


def reset(dsn: str) -> None:
    """Empty the write-off tables and balances, so each cell starts from the same rows and the same dead tuples."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            "TRUNCATE writeoff_receipts, receipt_queue, receipt_heads, reversals, pending_inspections, ledger_entries, "
            "declaration_lines, declarations, idempotency_keys"
        )
        conn.execute("DELETE FROM audit_events WHERE object_type = 'declaration'")
        conn.execute("UPDATE certificate_lines SET committed_qty = 0, reserved_qty = 0")
        conn.execute("VACUUM (ANALYZE) certificate_lines, certificates, audit_events, writeoff_receipts")


# -- cells, the table and the command ------------------------------------------------------------------------------


@dataclass
class Cell:
    layout: str
    clients: int
    side: str
    writes_per_s: float
    p50_ms: float
    p99_ms: float
    cpu_ms_per_op: float
    server_cpu_ms_per_op: float
    statements_per_op: float
    outcomes: dict[str, int]
    invariants: Invariants
    ratio: float | None = None
    sealing: Sealing | None = None  # the service's and the batch's cells: their receipts, signed after the cell

    @property
    def ok(self) -> bool:
        """The ledger's checks, and every commit with exactly one receipt once the sequencer ran."""
        return self.invariants.ok and (self.sealing is None or self.sealing.unreceipted == 0)


PLAIN_STATEMENTS = {"baseline": 2.0, "floor": 2.0}


def run_cell(pool: SpawnedClients, fixture: Fixture, task: Task, clients: int) -> Cell:
    tallies: list[Tally] = pool.run(task, clients)
    outcomes = sum((tally.outcomes for tally in tallies), Counter[str]())
    invariants = check_ledger(fixture.dsn, task.side, outcomes)
    sealing = seal_cell(fixture) if task.side in ("service", "batch") else None
    reset(fixture.dsn)
    latencies = sorted(ms for tally in tallies for ms in tally.latencies_ms)
    ops = sum(tally.window_ops for tally in tallies) or 1
    return Cell(
        task.layout,
        clients,
        task.side,
        writes_per_s=sum(tally.window_ops for tally in tallies) / task.seconds,
        p50_ms=percentile(latencies, 0.50),
        p99_ms=percentile(latencies, 0.99),
        cpu_ms_per_op=sum(tally.window_cpu for tally in tallies) * 1000 / ops,
        server_cpu_ms_per_op=sum(tally.window_server_cpu for tally in tallies) * 1000 / ops,
        # The baseline's two statements and the floor's two are in plain sight; the service's are counted by an
        # engine event.
        statements_per_op=PLAIN_STATEMENTS.get(task.side) or sum(tally.statements for tally in tallies) / ops,
        outcomes=dict(outcomes),
        invariants=invariants,
        sealing=sealing,
    )


@dataclass(frozen=True)
class Options:
    clients: tuple[int, ...] = (2, 8, 32)
    layouts: tuple[str, ...] = LAYOUTS
    seconds: float = 6.0
    warmup: float = 1.0
    batch: int = BATCH
    sides: tuple[str, ...] = SIDES


def probe(dsn: str, rounds: int = 200) -> dict[str, float]:
    """This moment's machine: one round trip, and one durable commit of a one-row UPDATE (the WAL flush)."""
    with psycopg.connect(dsn) as conn:
        # A logged table: a temporary one writes no WAL, so its commit would not wait for the flush.
        conn.execute("CREATE TABLE bench_probe (id int PRIMARY KEY, n bigint)")
        conn.execute("INSERT INTO bench_probe VALUES (1, 0)")
        conn.commit()
        began = time.perf_counter()
        for _ in range(rounds):
            conn.execute("SELECT 1")
        round_trip = time.perf_counter() - began
        began = time.perf_counter()
        for _ in range(rounds):
            conn.execute("UPDATE bench_probe SET n = n + 1 WHERE id = 1")
            conn.commit()
        commit = time.perf_counter() - began
        conn.execute("DROP TABLE bench_probe")
    return {"round_trip_ms": round_trip * 1000 / rounds, "update_commit_ms": commit * 1000 / rounds}


def run(
    options: Options,
    report: Callable[[Cell], None] = lambda cell: None,
    conditions: Callable[[dict[str, float]], None] = lambda probed: None,
) -> list[Cell]:
    """Every (layout, clients) pair as a baseline cell then a service cell, back to back so they share the noise."""
    cells: list[Cell] = []
    with scratch_database("writeoff") as url, tempfile.TemporaryDirectory() as instance:
        fixture = seed(url, instance, spread="spread" in options.layouts)
        conditions(probe(fixture.dsn))
        with SpawnedClients(functools.partial(Client, fixture), max(options.clients)) as pool:
            for clients in options.clients:
                for layout in options.layouts:
                    pair = run_pair(pool, fixture, options, layout, clients, seed=len(cells))
                    cells.extend(rate_against_baseline(pair, lambda cell: cell.writes_per_s, report))
    return cells


def run_pair(
    pool: SpawnedClients, fixture: Fixture, options: Options, layout: str, clients: int, seed: int
) -> list[Cell]:
    tasks = [Task(side, options.warmup, options.seconds, layout, seed, options.batch) for side in options.sides]
    return [run_cell(pool, fixture, task, clients) for task in tasks]


HEADER = (
    f"{'layout':<7}{'clients':>8} {'side':<9}{'writes/s':>9}{'p50 ms':>8}{'p99 ms':>8}{'ratio':>7}"
    f"{'cpu ms/op':>10}{'server':>7}{'stmts':>6}{'released':>9}{'inspected':>10}{'held':>5}{'err':>4}"
    f"{'overdrawn':>10}{'mismatch':>9}{'lost':>5}{'dup':>4}"
)


def format_row(cell: Cell) -> str:
    inv, out = cell.invariants, cell.outcomes
    ratio = f"{cell.ratio:.2f}" if cell.ratio is not None else "-"
    inspected = str(out.get("inspected", 0)) if cell.side != "baseline" else "-"
    return (
        f"{cell.layout:<7}{cell.clients:>8} {cell.side:<9}{cell.writes_per_s:>9.0f}{cell.p50_ms:>8.2f}"
        f"{cell.p99_ms:>8.2f}{ratio:>7}{cell.cpu_ms_per_op:>10.3f}{cell.server_cpu_ms_per_op:>7.3f}"
        f"{cell.statements_per_op:>6.1f}"
        f"{out.get('released', 0):>9}{inspected:>10}{out.get('held', 0):>5}{out.get('error', 0):>4}"
        f"{inv.overdrawn:>10}{inv.mismatched:>9}{inv.lost:>5}{inv.duplicated:>4}"
    )


def summary(cells: list[Cell]) -> list[str]:
    lines = []
    for side in SIDES[1:]:
        for layout in dict.fromkeys(cell.layout for cell in cells):
            ratios = [cell.ratio for cell in cells if (cell.layout, cell.side) == (layout, side) and cell.ratio]
            if ratios and side == "floor":  # not a target: the most any code above these statements could reach
                shown = ", ".join(f"{ratio:.2f}" for ratio in ratios)
                lines.append(f"{layout}: floor/baseline {shown} (the service's own statements, no Python above them)")
            elif ratios:
                subject, shown_target = f"{layout}: {side}/baseline", f"{TARGET_RATIO:.0%}"
                lines.append(ratio_line(subject, ratios, TARGET_RATIO, digits=2, shown_target=shown_target))
    sealed = [cell.sealing for cell in cells if cell.sealing is not None and cell.sealing.receipts]
    if sealed:
        receipts = sum(sealing.receipts for sealing in sealed)
        cpu = sum(sealing.cpu_ms_per_receipt * sealing.receipts for sealing in sealed) / receipts
        server = sum(sealing.server_cpu_ms_per_receipt * sealing.receipts for sealing in sealed) / receipts
        lines.append(
            f"receipt sequencer, after each cell: {receipts} receipts, {cpu:.3f} ms of its CPU and {server:.3f} ms of"
            " the server's per receipt (beat's run, not in the cells' rates)"
        )
    lines.append(ledger_line(sum(not cell.ok for cell in cells)))
    return lines


def profile_one_client(seconds: float, top: int = 15) -> None:
    """Where one service client's time goes on the hot line: a statement timeline, then cProfile by layer."""
    with scratch_database("writeoff") as url, tempfile.TemporaryDirectory() as instance:
        fixture = seed(url, instance, spread=False)
        client = Client(fixture, 0)
        warm, task = Task("service", 0.0, 1.0, "hot", 0), Task("service", 0.0, seconds, "hot", 1)
        client.prepare(warm)
        client.run(warm, time.time())  # first compilations and connections stay unmeasured
        print_timeline(client, fixture.layouts["hot"][0])
        profiler = cProfile.Profile()
        profiler.enable()
        client.prepare(task)
        tally = client.run(task, time.time())
        profiler.disable()
        client.finish()
    stats = pstats.Stats(profiler)
    total = sum(row[2] for row in stats.stats.values())
    ops = sum(tally.outcomes.values())
    print(f"cProfile: {ops} write-offs, {total / ops * 1000:.2f} ms (wall) per write-off, by layer (own time):")
    for layer, spent in sorted(_by_layer(stats).items(), key=lambda item: -item[1]):
        print(f"  {layer:<48}{spent / ops * 1000:>8.3f} ms  {spent / total:>6.1%}")
    stats.sort_stats("tottime").print_stats(top)


def print_timeline(client: Client, target: Target, ops: int = 120) -> None:
    """Median time from each statement of a released write-off to the next: its round trip plus the Python after."""
    marks: list[tuple[str, float]] = []

    def mark(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        locks = " ... FOR UPDATE" if "FOR UPDATE" in statement else ""
        marks.append((" ".join(statement.split()[:3])[:44] + locks, time.perf_counter()))

    def mark_commit(_conn: Any) -> None:
        marks.append(("COMMIT (round trip + WAL flush)", time.perf_counter()))

    engine = client.container.engine
    event.listen(engine, "before_cursor_execute", mark)
    event.listen(engine, "commit", mark_commit)
    runs = []
    for _ in range(ops):
        marks.clear()
        began = time.perf_counter()
        if client.declare((target,)) == ["released"]:  # an inspected one stops after the reservation
            runs.append([("command in, before the first statement", began), *marks, ("", time.perf_counter())])
    event.remove(engine, "before_cursor_execute", mark)
    event.remove(engine, "commit", mark_commit)
    _print_gaps(runs)


def _print_gaps(runs: list[list[tuple[str, float]]]) -> None:
    shape = Counter(tuple(name for name, _ in run) for run in runs).most_common(1)[0][0]
    same = [run for run in runs if tuple(name for name, _ in run) == shape]
    gaps = [statistics.median(run[i + 1][1] - run[i][1] for run in same) * 1000 for i in range(len(shape) - 1)]
    locked_from = next((i for i, name in enumerate(shape) if name.endswith("FOR UPDATE")), 0)
    print(f"timeline of {len(same)} released write-offs, median ms from each step to the next:")
    for name, gap in zip(shape, gaps, strict=False):
        print(f"  {name:<60}{gap:>8.2f}")
    print(f"  total {sum(gaps):.2f} ms, of which under the certificate row lock {sum(gaps[locked_from:]):.2f} ms")


LAYERS = (
    ("psycopg/connection.py", "waiting for PostgreSQL (psycopg wait)"),
    ("psycopg", "psycopg (send, adapt, fetch)"),
    ("sqlalchemy/orm", "SQLAlchemy ORM (session, bulk, loading)"),
    ("sqlalchemy", "SQLAlchemy Core (compile, cache keys, result)"),
    ("transitions", "transitions (state machines)"),
    ("/workflow/", "specgoods service + domain + store"),
    ("/config/", "specgoods config"),
)


def _by_layer(stats: pstats.Stats) -> dict[str, float]:
    spent: dict[str, float] = {}
    for (filename, _line, _name), row in stats.stats.items():
        layer = next((name for marker, name in LAYERS if marker in filename), "other (stdlib, builtins, json, ...)")
        spent[layer] = spent.get(layer, 0.0) + row[2]
    return spent


def parse_args(argv: list[str]) -> tuple[Options, str | None, bool]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", default="2,8,32", help="comma-separated client counts (default 2,8,32)")
    parser.add_argument("--layouts", default=",".join(LAYOUTS), help="hot, spread or both (default)")
    parser.add_argument("--seconds", type=float, default=6.0, help="measured seconds per cell (default 6)")
    parser.add_argument("--warmup", type=float, default=1.0, help="unmeasured seconds before each (default 1)")
    parser.add_argument("--sides", default=",".join(SIDES), help="baseline,floor,service,batch (baseline first)")
    parser.add_argument("--batch", type=int, default=BATCH, help=f"declarations per batch request (default {BATCH})")
    parser.add_argument("--json", help="also write the cells to this file")
    parser.add_argument("--profile", action="store_true", help="cProfile one service client on the hot line instead")
    args = parser.parse_args(argv)
    layouts = tuple(name for name in args.layouts.split(",") if name)
    if set(layouts) - set(LAYOUTS):
        parser.error(f"layouts are {', '.join(LAYOUTS)}")
    clients = tuple(int(n) for n in args.clients.split(",") if n)
    sides = tuple(name for name in args.sides.split(",") if name)
    if sides[:1] != ("baseline",) or set(sides) - set(SIDES):
        parser.error(f"sides are {', '.join(SIDES)}, baseline first (the ratios are against it)")
    return Options(clients, layouts, args.seconds, args.warmup, args.batch, sides), args.json, args.profile


def main(argv: list[str] | None = None) -> int:
    options, json_path, profile = parse_args(sys.argv[1:] if argv is None else argv)
    if profile:
        profile_one_client(options.seconds)
        return 0
    print(
        f"{options.warmup:g} s warm-up + {options.seconds:g} s measured per cell; grade C, regular credit (rate 0.1);"
        f" batch side: {options.batch} declarations per request; p50/p99 are per request"
    )
    cells = print_cells(functools.partial(run, options), options, HEADER, format_row, summary, json_path)
    return 0 if all(cell.ok for cell in cells) else 1


if __name__ == "__main__":
    sys.exit(main())
