"""The approval flow, submit → screen → accept → review → grant, through the bus against bare `transitions` + SQL.

Run from the repository root: `.venv/bin/python bench/flow.py [--clients 2] [--seconds 6] [--history 1000]`.
It makes a scratch PostgreSQL database, then measures two things and drops it:

- *throughput*: client processes each take applications of their own enterprise through the five steps, one command
  per step through the service bus (screening handled inline, as the worker would; each commit relays its outbox
  rows as the service does, here to Celery's in-memory transport), beside a baseline in the same run: one shared
  bare `transitions` machine with the same states and steps, and one raw UPDATE per step on a plain table. It
  reports instances/s and the ratio project/baseline (the issue's target: at least 0.3).
- *cost versus history*: the p50 latency of each step for an enterprise at its 10th application and for one at its
  Nth (`--history`), measured alternately so both share the machine's noise; the issue's target is Nth/10th ≤ 1.2.
  The history is copies of a granted application (with its lines, documents, certificate and certificate lines),
  each copy's product a different one, made by set-based INSERTs; the bench checks the service sees them.

Every instance a client started must end granted with exactly one audit event per step (and the baseline's row
granted after exactly five guarded UPDATEs): the exit status is 1 otherwise. docs/performance.md says how to read it.
"""

from __future__ import annotations

import argparse
import functools
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import event, text
from transitions import Machine

# Run as a script, only bench/ is on the path; the repository root holds the tests' set-up helpers we reuse.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.report import conditions_line, rate_against_baseline, ratio_line, write_json
from bench.scratch import CellTask, SpawnedClients, Window, clone_rows, percentile, plain_dsn, scratch_database
from config.bootstrap import Container, bootstrap
from config.settings import load_settings
from workflow.domain import commands as c
from workflow.domain.actors import SYSTEM_ACTOR, Actor
from workflow.domain.errors import DomainError
from workflow.domain.goods import GoodsLine

STEPS = ("submit", "screen", "accept", "start_review", "grant")
HISTORY_STEPS = ("submit", "screen", "grant")  # the steps whose first-time check reads the enterprise's history
SIDES = ("baseline", "project")
TARGET_RATIO = 0.3  # the issue: the flow at least 0.3 of bare transitions + 1 UPDATE per step
TARGET_GROWTH = 1.2  # the issue: each step at the Nth application within 1.2x of the 10th
SMALL_HISTORY = 10
StepMs = dict[str, float]  # milliseconds per step of the flow, by step name
# Drafts made ready per client and measured second, far above today's rates; a client that runs out says so.
PROJECT_DRAFTS_PER_SECOND = 150
BASELINE_ROWS_PER_SECOND = 2000

BASELINE_TABLE = """
CREATE TABLE bench_flow (id bigserial PRIMARY KEY, state text NOT NULL, version integer NOT NULL DEFAULT 0)
"""
# One guarded UPDATE per step, optimistic like the service's version guard: the row count is the check.
BASELINE_STEP = "UPDATE bench_flow SET state = %s, version = version + 1 WHERE id = %s AND state = %s AND version = %s"
BASELINE_TRANSITIONS = (
    {"trigger": "submit", "source": "draft", "dest": "submitted"},
    {"trigger": "screen", "source": "submitted", "dest": None},  # internal: screening changes no state
    {"trigger": "accept", "source": "submitted", "dest": "accepted"},
    {"trigger": "start_review", "source": "accepted", "dest": "under_review"},
    {"trigger": "grant", "source": "under_review", "dest": "granted"},
)


# -- fixture: one enterprise per client, drafts ready for it, and the baseline's rows -------------------------------


@dataclass(frozen=True)
class Crew:
    """The actors of one enterprise's flow (picklable, unlike tests' Cast)."""

    applicant: Actor
    acceptor: Actor
    reviewer: Actor
    decider: Actor


@dataclass(frozen=True)
class Fixture:
    """Everything a client process needs: it bootstraps its own container from `url`."""

    url: str
    instance_path: str
    crews: tuple[Crew, ...]
    drafts: tuple[tuple[int, ...], ...]  # per client index, the application drafts it may take through the flow
    rows: tuple[tuple[int, ...], ...]  # per client index, the baseline's draft rows

    @property
    def dsn(self) -> str:
        return plain_dsn(self.url)


def make_container(url: str, instance_path: str) -> Container:
    return bootstrap(load_settings(database_url=url, instance_path=Path(instance_path)))


def crew_of(cast: Any) -> Crew:
    return Crew(cast.applicant, cast.acceptor, cast.reviewer, cast.decider)


def seed(container: Container, url: str, instance_path: str, options: Options) -> Fixture:
    """Per client index: its own enterprise with enough cloned drafts, and as many baseline rows, for every cell."""
    from tests.conftest import make_cast

    crews, drafts, rows = [], [], []
    with psycopg.connect(plain_dsn(url)) as conn:
        conn.execute(BASELINE_TABLE)
        for index in range(max(options.clients)):
            cells = sum(1 for clients in options.clients if clients > index)
            window = (options.warmup + options.seconds) * cells
            cast = make_cast(container, suffix=f"F{index}")
            crews.append(crew_of(cast))
            drafts.append(tuple(ready_drafts(container, cast, int(window * PROJECT_DRAFTS_PER_SECOND) + 1)))
            rows.append(_baseline_rows(conn, int(window * BASELINE_ROWS_PER_SECOND) + 1))
        conn.commit()
    return Fixture(url, instance_path, tuple(crews), tuple(drafts), tuple(rows))


def ready_drafts(container: Container, cast: Any, count: int, line: GoodsLine | None = None) -> list[int]:
    """One draft filed through the bus with every document it needs, copied `count` times (tests' clone_drafts)."""
    from tests.integration.support import file_application, fx10_cytokine
    from tests.integration.test_reliability import clone_drafts

    return clone_drafts(container, file_application(container, cast, (line or fx10_cytokine(),)), count)


def _baseline_rows(conn: psycopg.Connection[Any], count: int) -> tuple[int, ...]:
    inserted = conn.execute(
        "INSERT INTO bench_flow (state) SELECT 'draft' FROM generate_series(1, %s) RETURNING id", (count,)
    )
    return tuple(sorted(row[0] for row in inserted))


# -- one client: a time-boxed loop of instances ----------------------------------------------------------------------


@dataclass
class Tally:
    """What one client did: every instance it started (the check needs them all), timings inside the window."""

    started: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)
    window_instances: int = 0
    window_cpu: float = 0.0
    window_server_cpu: float = 0.0
    statements: int = 0
    ran_out: bool = False


class Record:
    """The baseline's model: a plain object whose `state` the shared machine moves."""

    state: str


def bare_machine() -> Machine:
    """One machine for every baseline instance (models are added and removed), as the project shares its own."""
    states = ["draft", "submitted", "accepted", "under_review", "granted"]
    return Machine(model=None, states=states, transitions=list(BASELINE_TRANSITIONS), auto_transitions=False)


class FlowClient:
    """A client process: the project's flow through its own container, or the baseline on a psycopg connection."""

    def __init__(self, fixture: Fixture, index: int) -> None:
        self.fixture, self.index = fixture, index
        self.crew = fixture.crews[index]
        self.drafts, self.rows = iter(fixture.drafts[index]), iter(fixture.rows[index])
        self.container = make_container(fixture.url, fixture.instance_path)
        self.statements = 0
        event.listen(self.container.engine, "before_cursor_execute", self._count_statement)
        self.backends: set[int] = set()  # the server processes of this client's connections, for their CPU
        event.listen(self.container.engine, "connect", self._note_backend)
        self.machine = bare_machine()
        self.conn: psycopg.Connection[Any] | None = None

    def _count_statement(self, *_args: Any) -> None:
        self.statements += 1

    def _note_backend(self, dbapi_connection: Any, _record: Any) -> None:
        self.backends.add(dbapi_connection.info.backend_pid)

    def prepare(self, task: CellTask) -> None:
        """Connect before the clock starts; only the side being measured holds a connection."""
        if task.side == "baseline":
            self.conn = psycopg.connect(self.fixture.dsn)
            self.backends.add(self.conn.info.backend_pid)
        else:
            with self.container.engine.connect() as conn:
                conn.execute(text("SELECT 1"))

    def finish(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None
        self.container.engine.dispose()

    def run(self, task: CellTask, start_at: float) -> Tally:
        """Instances back to back until the window closes; only those started inside it are timed and counted."""
        baseline = task.side == "baseline"
        one: Callable[[int], object] = self.baseline_instance if baseline else self.project_instance
        ids = self.rows if baseline else self.drafts
        tally = Tally()
        window = Window(task, start_at, statements=lambda: self.statements, backends=lambda: self.backends)
        for began in window:
            instance = next(ids, None)
            if instance is None:
                tally.ran_out = True
                break
            tally.started.append(instance)
            try:
                one(instance)
            except (DomainError, FlowBroken) as exc:
                tally.errors.append(f"{task.side} {instance}: {type(exc).__name__}: {exc}")
            if window.measuring:
                tally.latencies_ms.append((time.time() - began) * 1000)
                tally.window_instances += 1
        tally.window_cpu, tally.statements = window.cpu(), window.statements()
        tally.window_server_cpu = window.server_cpu()
        return tally

    def project_instance(self, application_id: int) -> StepMs:
        return run_flow(self.container, self.crew, application_id)

    def baseline_instance(self, row_id: int) -> None:
        """Each step: fire the trigger on the shared machine, then one guarded UPDATE in its own transaction."""
        assert self.conn is not None
        record = Record()
        self.machine.add_model(record, initial="draft")
        try:
            for version, step in enumerate(STEPS):
                source = record.state
                getattr(record, step)()
                updated = self.conn.execute(BASELINE_STEP, (record.state, row_id, source, version)).rowcount
                if updated != 1:
                    self.conn.rollback()
                    raise FlowBroken(f"step {step} found row {row_id} changed under it")
                self.conn.commit()
        finally:
            self.machine.remove_model(record)


class FlowBroken(Exception):
    """A step that did not do what it should (a screening that wrote nothing, a baseline UPDATE that missed)."""


def flow_commands(crew: Crew, application_id: int) -> Iterator[tuple[str, c.Command]]:
    """The five commands of one instance, each by the actor the lifecycle asks for; screening as the worker runs it."""
    yield "submit", c.SubmitApplication(crew.applicant, application_id)
    yield "screen", c.ScreenApplication(SYSTEM_ACTOR, application_id)
    yield "accept", c.AcceptApplication(crew.acceptor, application_id)
    yield "start_review", c.StartReview(crew.reviewer, application_id)
    yield "grant", c.GrantApplication(crew.decider, application_id, "granted")


def run_flow(container: Container, crew: Crew, application_id: int) -> StepMs:
    """One instance through the bus; the milliseconds of each step."""
    timings = {}
    for step, command in flow_commands(crew, application_id):
        began = time.perf_counter()
        result = container.bus.handle(command)
        timings[step] = (time.perf_counter() - began) * 1000
        if step == "screen" and result is not True:
            raise FlowBroken(f"screening application {application_id} wrote nothing")
    return timings


# -- the check after each cell: every started instance granted, one audit event per step ----------------------------

PROJECT_CHECK = """
SELECT a.id, a.state,
       (SELECT COUNT(*) FROM certificates k WHERE k.application_id = a.id) AS certificates,
       %(counts)s
  FROM applications a
  LEFT JOIN audit_events e ON e.object_type = 'application' AND e.object_id = a.id
 WHERE a.id = ANY(%%(ids)s)
 GROUP BY a.id, a.state
"""


def _project_check_sql() -> str:
    counts = ", ".join(f"COUNT(e.id) FILTER (WHERE e.trigger = '{step}')" for step in STEPS)
    return PROJECT_CHECK % {"counts": counts}


def broken_project_instances(dsn: str, ids: list[int]) -> list[str]:
    """Started instances not granted, without exactly one certificate, or with other than one event per step."""
    with psycopg.connect(dsn) as conn:
        found = {row[0]: row[1:] for row in conn.execute(_project_check_sql(), {"ids": ids})}
    broken = []
    for application_id in ids:
        state, certificates, *events = found.get(application_id, ("missing", 0, *([0] * len(STEPS))))
        if state != "granted" or certificates != 1 or any(count != 1 for count in events):
            per_step = ", ".join(f"{step} {count}" for step, count in zip(STEPS, events, strict=True))
            broken.append(f"application {application_id}: {state}, {certificates} certificate(s), events {per_step}")
    return broken


def broken_baseline_instances(dsn: str, ids: list[int]) -> list[str]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("SELECT id, state || '/' || version FROM bench_flow WHERE id = ANY(%s)", (ids,))
        found: dict[int, str] = dict(rows.fetchall())
    want = f"granted/{len(STEPS)}"
    return [f"row {row_id}: {found.get(row_id, 'missing')}" for row_id in ids if found.get(row_id) != want]


# -- throughput cells --------------------------------------------------------------------------------------------------


@dataclass
class Cell:
    clients: int
    side: str
    instances_per_s: float
    p50_ms: float
    p99_ms: float
    cpu_ms_per_instance: float
    server_cpu_ms_per_instance: float  # CPU of the clients' PostgreSQL backends, from /proc
    statements_per_instance: float
    instances: int  # every instance started, warm-up included: all of them are checked
    errors: int
    broken: int
    ran_out: bool
    ratio: float | None = None
    examples: list[str] = field(default_factory=list)  # the first few errors and broken instances, for the reader

    @property
    def ok(self) -> bool:
        return not (self.errors or self.broken or self.ran_out)


def run_cell(pool: SpawnedClients, fixture: Fixture, task: CellTask, clients: int) -> Cell:
    tallies: list[Tally] = pool.run(task, clients)
    started = [instance for tally in tallies for instance in tally.started]
    check = broken_baseline_instances if task.side == "baseline" else broken_project_instances
    broken = check(fixture.dsn, started) if started else []
    errors = [error for tally in tallies for error in tally.errors]
    latencies = sorted(ms for tally in tallies for ms in tally.latencies_ms)
    window = sum(tally.window_instances for tally in tallies)
    return Cell(
        clients,
        task.side,
        instances_per_s=window / task.seconds,
        p50_ms=percentile(latencies, 0.50),
        p99_ms=percentile(latencies, 0.99),
        cpu_ms_per_instance=sum(tally.window_cpu for tally in tallies) * 1000 / max(1, window),
        server_cpu_ms_per_instance=sum(tally.window_server_cpu for tally in tallies) * 1000 / max(1, window),
        # The baseline's statements are in plain sight: one UPDATE per step; the project's are counted by an event.
        statements_per_instance=(
            sum(tally.statements for tally in tallies) / max(1, window) if task.side == "project" else len(STEPS)
        ),
        instances=len(started),
        errors=len(errors),
        broken=len(broken),
        ran_out=any(tally.ran_out for tally in tallies),
        examples=(errors + broken)[:5],
    )


def throughput(fixture: Fixture, options: Options, report: Callable[[Cell], None]) -> list[Cell]:
    """Per client count: the baseline cell, then the project's, back to back so they share the machine's noise."""
    cells: list[Cell] = []
    with SpawnedClients(functools.partial(FlowClient, fixture), max(options.clients)) as pool:
        for clients in options.clients:
            pair = [run_cell(pool, fixture, CellTask(side, options.warmup, options.seconds), clients) for side in SIDES]
            cells.extend(rate_against_baseline(pair, lambda cell: cell.instances_per_s, report))
    return cells


# -- statements per step, counted (deterministic beside the rates) ------------------------------------------------


def statements_per_step(container: Container) -> dict[str, int]:
    """The statements each step sends, on one instance of a fresh enterprise after one unmeasured instance of it.

    The second instance's product was granted by the first, as the throughput clients' are after their first.
    """
    from tests.conftest import make_cast

    cast = make_cast(container, suffix="C")
    crew, (warm, counted) = crew_of(cast), ready_drafts(container, cast, 2)
    run_flow(container, crew, warm)
    sent: list[str] = []

    def note(*args: Any) -> None:
        sent.append(args[2])

    counts = {}
    event.listen(container.engine, "before_cursor_execute", note)
    try:
        for step, command in flow_commands(crew, counted):
            sent.clear()
            container.bus.handle(command)
            counts[step] = len(sent)
    finally:
        event.remove(container.engine, "before_cursor_execute", note)
    return counts


# -- cost versus history -------------------------------------------------------------------------------------------


@dataclass
class History:
    """p50 ms per step at the small enterprises' 10th application and at the large one's Nth..(N+samples-1)th."""

    small: int
    large: int
    samples: int
    small_p50_ms: StepMs
    large_p50_ms: StepMs
    seeded_seconds: float
    history_visible: bool
    broken: list[str]

    @property
    def growth(self) -> dict[str, float]:
        return {step: self.large_p50_ms[step] / self.small_p50_ms[step] for step in STEPS if self.small_p50_ms[step]}

    @property
    def ok(self) -> bool:
        return self.history_visible and not self.broken


def history_cost(container: Container, dsn: str, large: int, samples: int) -> History:
    """`samples` enterprises at their 10th application, and one at its `large`th, measured alternately.

    Each small enterprise is measured once, so all are at exactly their 10th; the large one goes from its Nth to its
    (N+samples-1)th, which at N = 1,000 moves its history by 2 %. Three unmeasured instances of a separate enterprise
    warm the container's caches first.
    """
    from tests.conftest import make_cast

    began = time.perf_counter()
    smalls = [_enterprise_with_history(container, dsn, make_cast(container, suffix=f"S{n}"), SMALL_HISTORY, 1)
              for n in range(samples)]  # fmt: skip
    big_cast = make_cast(container, suffix="L")
    big = _enterprise_with_history(container, dsn, big_cast, large, samples)
    visible = history_is_visible(container, big_cast, large)
    seeded = time.perf_counter() - began
    warm_cast = make_cast(container, suffix="W")
    warm = [(crew_of(warm_cast), draft, None) for draft in ready_drafts(container, warm_cast, 3)]
    small_times: dict[str, list[float]] = {step: [] for step in STEPS}
    large_times: dict[str, list[float]] = {step: [] for step in STEPS}
    rounds = [
        ((small_crew, small_drafts[0], small_times), (big[0], big_draft, large_times))
        for (small_crew, small_drafts), big_draft in zip(smalls, big[1], strict=True)
    ]
    errors = []
    for crew, draft, times in [*warm, *(instance for pair in rounds for instance in pair)]:
        try:
            timings = run_flow(container, crew, draft)
        except (DomainError, FlowBroken) as exc:
            errors.append(f"application {draft}: {type(exc).__name__}: {exc}")
            continue
        for step, ms in timings.items():
            if times is not None:
                times[step].append(ms)
    measured = [draft for _, draft, _ in warm] + [draft for pair in rounds for _, draft, _ in pair]
    broken = errors + broken_project_instances(dsn, measured)
    return History(SMALL_HISTORY, large, samples, _p50s(small_times), _p50s(large_times), seeded, visible, broken)


def _p50s(times: dict[str, list[float]]) -> StepMs:
    return {step: percentile(sorted(values), 0.5) for step, values in times.items()}


def _enterprise_with_history(
    container: Container, dsn: str, cast: Any, nth: int, drafts: int
) -> tuple[Crew, list[int]]:
    """An enterprise whose next application is its `nth`: nth-1 granted ones, each of a different product."""
    from tests.integration.support import fx10_cytokine, grant

    certificate_no = grant(container, cast, fx10_cytokine())
    if nth > 2:
        with psycopg.connect(dsn) as conn:
            clone_granted(conn, certificate_no, nth - 2)
        from workflow.store import granted_products

        with container.engine.begin() as connection:  # R60's keys are SHA-256 made in Python: keyed, not cloned
            granted_products.backfill(connection)
    return crew_of(cast), ready_drafts(container, cast, drafts)


# Per table: which rows of the granted application to copy, and the columns copy number g gets instead. A copy's
# goods line names another specification ("lot g"), so each copy is a product the enterprise had not been granted.
_SUFFIX = "'-H' || g"
_APPLICATION = "(SELECT application_id FROM certificates WHERE certificate_no = %(certificate)s)"
_COPIED_APPLICATION = (
    "(SELECT a.id FROM applications a, applications o"
    f" WHERE o.id = t.application_id AND a.reference = o.reference || {_SUFFIX})"
)
GRANTED_CLONES = (
    ("applications", f"t.id = {_APPLICATION}", {"reference": f"t.reference || {_SUFFIX}"}),
    (
        "application_lines",
        f"t.application_id = {_APPLICATION}",
        {
            "application_id": _COPIED_APPLICATION,
            "facts": "jsonb_set(t.facts, '{specification}', to_jsonb('lot ' || g))",
        },
    ),
    ("documents", f"t.application_id = {_APPLICATION}", {"application_id": _COPIED_APPLICATION}),
    (
        "certificates",
        "t.certificate_no = %(certificate)s",
        {"certificate_no": f"t.certificate_no || {_SUFFIX}", "application_id": _COPIED_APPLICATION},
    ),
    (
        "certificate_lines",
        "t.certificate_id = (SELECT id FROM certificates WHERE certificate_no = %(certificate)s)",
        {
            "certificate_id": "(SELECT k.id FROM certificates k, certificates o"
            f" WHERE o.id = t.certificate_id AND k.certificate_no = o.certificate_no || {_SUFFIX})"
        },
    ),
)


def clone_granted(conn: psycopg.Connection[Any], certificate_no: str, copies: int) -> None:
    """Copy a granted application with its lines, documents, certificate and certificate lines, set-based.

    The column lists come from the catalogue, so a new column in a migration needs no change here; a new table that
    the grant fills would, and `history_is_visible` is there to notice.
    """
    clone_rows(conn, GRANTED_CLONES, certificate_no, copies)
    conn.execute("ANALYZE applications, application_lines, documents, certificates, certificate_lines")


def history_is_visible(container: Container, cast: Any, nth: int) -> bool:
    """The screening must call a copied product known (R60) and a product never granted new, or the seed is hollow."""
    from tests.integration.support import fx10_cytokine

    known = replace(fx10_cytokine(), specification=f"lot {max(1, (nth - 2) // 2)}") if nth > 2 else fx10_cytokine()
    never = replace(fx10_cytokine(), specification="never granted")
    first_time = {}
    for name, line in (("known", known), ("never", never)):
        (draft,) = ready_drafts(container, cast, 1, line)
        container.bus.handle(c.SubmitApplication(cast.applicant, draft))
        container.bus.handle(c.ScreenApplication(SYSTEM_ACTOR, draft))
        with container.engine.connect() as conn:
            first_time[name] = conn.scalar(text("SELECT is_first_time FROM applications WHERE id = :id"), {"id": draft})
    return first_time == {"known": False, "never": True}


# -- the run, the table and the command ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    clients: tuple[int, ...] = (2,)
    seconds: float = 6.0
    warmup: float = 1.0
    history: int = 1000
    samples: int = 20
    parts: tuple[str, ...] = ("throughput", "history")


@dataclass
class Result:
    cells: list[Cell]
    history: History | None
    conditions: dict[str, float]
    statements_per_step: dict[str, int] = field(default_factory=dict)  # counted with the throughput part

    @property
    def ok(self) -> bool:
        return all(cell.ok for cell in self.cells) and (self.history is None or self.history.ok)


def run(
    options: Options,
    report: Callable[[Cell], None] = lambda cell: None,
    conditions: Callable[[dict[str, float]], None] = lambda probed: None,
) -> Result:
    """Throughput first (so its enterprises see no seeded history of others), then the cost versus history."""
    from bench.writeoff import probe

    with scratch_database("flow") as url, tempfile.TemporaryDirectory() as instance:
        container = make_container(url, instance)
        try:
            probed = probe(plain_dsn(url))
            conditions(probed)
            cells, per_step = [], {}
            if "throughput" in options.parts:
                cells = throughput(seed(container, url, instance, options), options, report)
                per_step = statements_per_step(container)
            history = None
            if "history" in options.parts:
                history = history_cost(container, plain_dsn(url), options.history, options.samples)
        finally:
            container.dispose()
    return Result(cells, history, probed, per_step)


HEADER = (
    f"{'clients':>7} {'side':<9}{'inst/s':>8}{'p50 ms':>8}{'p99 ms':>8}{'ratio':>7}{'cpu ms/inst':>12}{'server':>8}"
    f"{'stmts/inst':>11}{'started':>8}{'err':>5}{'broken':>7}"
)


def format_row(cell: Cell) -> str:
    ratio = f"{cell.ratio:.3f}" if cell.ratio is not None else "-"
    row = (
        f"{cell.clients:>7} {cell.side:<9}{cell.instances_per_s:>8.1f}{cell.p50_ms:>8.2f}{cell.p99_ms:>8.2f}"
        f"{ratio:>7}{cell.cpu_ms_per_instance:>12.2f}{cell.server_cpu_ms_per_instance:>8.2f}"
        f"{cell.statements_per_instance:>11.1f}{cell.instances:>8}"
        f"{cell.errors:>5}{cell.broken:>7}"
    )
    if cell.ran_out:
        row += "  RAN OUT OF DRAFTS: the rate is understated (raise PROJECT_DRAFTS_PER_SECOND)"
    return "\n".join([row, *(f"    {example}" for example in cell.examples)])


def format_history(history: History) -> list[str]:
    lines = [
        f"cost versus history (p50 ms per step, one client; {history.samples} enterprises at their"
        f" {ordinal(history.small)} application against one at its {ordinal(history.large)} to"
        f" {ordinal(history.large + history.samples - 1)}; seeded in {history.seeded_seconds:.1f} s)",
        f"{'step':<14}{ordinal(history.small):>9}{ordinal(history.large):>10}{'ratio':>7}",
    ]
    growth = history.growth
    for step in STEPS:
        small, large = history.small_p50_ms[step], history.large_p50_ms[step]
        lines.append(f"{step:<14}{small:>9.2f}{large:>10.2f}{growth.get(step, 0):>7.2f}")
    if not history.history_visible:
        lines.append("SEEDED HISTORY INVISIBLE: the screening called a copied product new (see clone_granted)")
    lines.extend(f"    {broken}" for broken in history.broken[:5])
    return lines


def ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n:,}{suffix}"


def summary(result: Result) -> list[str]:
    lines = []
    ratios = [cell.ratio for cell in result.cells if cell.ratio is not None]
    if ratios:
        lines.append(ratio_line("flow: project/baseline", ratios, TARGET_RATIO))
        lines.extend(cpu_ceilings(result.cells))
    if result.statements_per_step:
        counted = ", ".join(f"{step} {count}" for step, count in result.statements_per_step.items())
        lines.append(f"statements per step (one instance, counted; COMMITs aside): {counted}")
    if (history := result.history) is not None:
        growth = {step: history.growth.get(step, 0.0) for step in HISTORY_STEPS}
        verdict = "meets" if max(growth.values()) <= TARGET_GROWTH else "misses"
        shown = ", ".join(f"{step} {ratio:.2f}" for step, ratio in growth.items())
        against = f"{ordinal(history.large)}/{ordinal(history.small)}"
        lines.append(f"history: {against} {shown} -> {verdict} the <= {TARGET_GROWTH}x target")
    broken = sum(cell.broken + cell.errors for cell in result.cells)
    broken += len(result.history.broken) if result.history else 0
    lines.append(
        "invariants: every instance granted with one audit event per step"
        if result.ok
        else f"invariants: BROKEN ({broken} instance(s) not granted cleanly, or a seed or draft supply problem)"
    )
    return lines


def cpu_ceilings(cells: list[Cell]) -> list[str]:
    """Per client count, the most any client code could reach while the server does the project's statements.

    Client and server share this machine's cores, so when both sides are CPU-bound a rate is at most cores over the
    CPU one instance costs both together. With no client CPU at all, the project would still cost its server CPU:
    the ratio cannot exceed (baseline client + server CPU) / (project server CPU) per instance.
    """
    lines = []
    for baseline, project in zip(cells[::2], cells[1::2], strict=True):
        if project.server_cpu_ms_per_instance > 0:
            spent = baseline.cpu_ms_per_instance + baseline.server_cpu_ms_per_instance
            ceiling = spent / project.server_cpu_ms_per_instance
            lines.append(
                f"{project.clients} clients: CPU per instance, client + server: baseline {spent:.2f} ms, project "
                f"{project.cpu_ms_per_instance:.2f} + {project.server_cpu_ms_per_instance:.2f} ms; with no client CPU "
                f"at all the ratio could reach at most {ceiling:.2f}"
            )
    return lines


def parse_args(argv: list[str]) -> tuple[Options, str | None]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", default="2", help="comma-separated client counts (default 2)")
    parser.add_argument("--seconds", type=float, default=6.0, help="measured seconds per cell (default 6)")
    parser.add_argument("--warmup", type=float, default=1.0, help="unmeasured seconds before each (default 1)")
    parser.add_argument("--history", type=int, default=1000, help="the large enterprise's Nth application (1000)")
    parser.add_argument("--samples", type=int, default=20, help="instances per side of the history measure (20)")
    parser.add_argument("--parts", default="throughput,history", help="throughput, history or both (default)")
    parser.add_argument("--json", help="also write options, conditions, cells and history to this file")
    args = parser.parse_args(argv)
    parts = tuple(part for part in args.parts.split(",") if part)
    if not parts or set(parts) - {"throughput", "history"}:
        parser.error("parts are throughput and history")
    if args.history < SMALL_HISTORY + 1:
        parser.error(f"--history must exceed {SMALL_HISTORY}")
    clients = tuple(int(n) for n in args.clients.split(",") if n)
    return Options(clients, args.seconds, args.warmup, args.history, args.samples, parts), args.json


def main(argv: list[str] | None = None) -> int:
    options, json_path = parse_args(sys.argv[1:] if argv is None else argv)
    print(
        f"{options.warmup:g} s warm-up + {options.seconds:g} s measured per cell; one enterprise per client; "
        "goods: one grade C line (IL-6), no risk assessment; p50/p99 are per instance (five steps)",
        flush=True,
    )

    def show_conditions(found: dict[str, float]) -> None:
        print(conditions_line(found))
        if "throughput" in options.parts:
            print(HEADER, flush=True)

    result = run(options, report=lambda cell: print(format_row(cell), flush=True), conditions=show_conditions)
    if result.history is not None:
        print("\n".join(format_history(result.history)))
    print("\n".join(summary(result)))
    if json_path:
        document = {
            "options": asdict(options),
            "conditions": result.conditions,
            "cells": [asdict(cell) for cell in result.cells],
            "history": {**asdict(result.history), "growth": result.history.growth} if result.history else None,
            "statements_per_step": result.statements_per_step,
        }
        write_json(json_path, document)
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
