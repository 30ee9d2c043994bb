"""`POST /api/v1/declarations` with a bearer token under gunicorn, against a bare Flask app doing the raw write-off.

Run from the repository root: `.venv/bin/python bench/http_writeoff.py [--clients 8] [--seconds 6] [--json out.json]`.
It makes a scratch PostgreSQL database (bench/writeoff.py's certificates: one hot line, and 10,000 spread ones with
`--layouts hot,spread`), its own `redis-server`, and two gunicorns with the same settings (`gthread`, `--workers 2
--threads 4` as the Dockerfile runs the app; neither logs access lines): the project's `web.wsgi:app`, and a bare
Flask endpoint at the same path that reads the same JSON body and runs the raw write-off of bench/writeoff.py (one
guarded UPDATE, one ledger INSERT, per-thread psycopg connection, no token). Client processes post declarations over
keep-alive connections (`http.client`), the baseline's cell first, then the project's, so both share the noise.
After every cell the ledger is checked: no line over-drawn, balances equal to the ledger, one commit per released
declaration, and the committed total equal to the quantities the clients saw released; the exit status is 1 otherwise.
"""

from __future__ import annotations

import argparse
import functools
import http.client
import json
import os
import random
import secrets
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg

# Run as a script, only bench/ is on the path; the repository root holds the tests' set-up helpers we reuse.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.report import ledger_line, print_cells, rate_against_baseline, ratio_line
from bench.scratch import CellTask, SpawnedClients, Window, percentile, plain_dsn, scratch_database
from bench.writeoff import (
    BASELINE_INSERT,
    BASELINE_UPDATE,
    LAYOUTS,
    RELEASED,
    UNITS,
    Invariants,
    Target,
    check_ledger,
    make_container,
    probe,
    reset,
)
from bench.writeoff import seed as seed_certificates
from config.local_time import local_today
from workflow.domain.policy import DEFAULT_TIME_ZONE
from workflow.store.accounts import issue_token
from workflow.store.tables import QUANTITY_SCALE

REPO_ROOT = Path(__file__).resolve().parents[1]
SIDES = ("baseline", "project")
TARGET_RATIO = 0.5  # the issue: the API at least half of a bare Flask endpoint doing the raw write-off
PATH = "/api/v1/declarations"
BOOT_TIMEOUT = 60.0
# What the baseline app reads from its environment (gunicorn passes it on to the workers).
BASELINE_ENV = ("BENCH_BASELINE_DSN", "BENCH_BASELINE_ACTOR_ID", "BENCH_BASELINE_ACTOR_ROLE")


# -- the baseline: a bare Flask app that gunicorn builds in each worker ------------------------------------------------


def baseline_app() -> Any:
    """gunicorn's `bench.http_writeoff:baseline_app()`: the raw write-off behind the same path and body as the API."""
    from flask import Flask, request

    dsn, actor_id, actor_role = (os.environ[name] for name in BASELINE_ENV)
    book = _line_book(dsn)
    local = threading.local()
    app = Flask("bench_baseline")

    @app.post(PATH)
    def declare() -> tuple[dict[str, str], int]:
        body = request.get_json()
        line = body["lines"][0]
        certificate_id, line_id, unit, policy_id = book[(body["certificate_no"], line["line_no"])]
        qty = int(Decimal(line["qty"]) * QUANTITY_SCALE)
        conn = _thread_connection(local, dsn)
        with conn.cursor() as cursor:
            cursor.execute(BASELINE_UPDATE, (qty, line_id, qty))
            if cursor.rowcount != 1:
                conn.rollback()
                return {"declaration_no": body["declaration_no"], "state": "held"}, 409
            cursor.execute(BASELINE_INSERT, (certificate_id, line_id, qty, unit, actor_id, actor_role, policy_id))
        conn.commit()
        return {"declaration_no": body["declaration_no"], "state": "released"}, 201

    return app


def _line_book(dsn: str) -> dict[tuple[str, int], tuple[int, int, str, str]]:
    """(certificate number, line number) → what the raw statements need, read once per worker."""
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT c.certificate_no, l.line_no, c.id, l.id, l.unit, c.policy_id "
            "FROM certificate_lines l JOIN certificates c ON c.id = l.certificate_id"
        )
        return {(number, line_no): (certificate_id, line_id, unit, policy) for number, line_no, certificate_id,
                line_id, unit, policy in rows}  # fmt: skip


def _thread_connection(local: threading.local, dsn: str) -> psycopg.Connection[Any]:
    if getattr(local, "conn", None) is None:
        local.conn = psycopg.connect(dsn)
    conn: psycopg.Connection[Any] = local.conn
    return conn


# -- the servers ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ServerSettings:
    workers: int = 2
    threads: int = 4


@dataclass
class Server:
    """One gunicorn this bench started; stopped with SIGTERM (a graceful stop) on the way out."""

    side: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def free_port() -> int:
    with socket.socket() as probe_socket:
        probe_socket.bind(("127.0.0.1", 0))
        return int(probe_socket.getsockname()[1])


def start_server(side: str, app: str, env: dict[str, str], settings: ServerSettings, scratch: Path) -> Server:
    port, log = free_port(), scratch / f"gunicorn-{side}.log"
    args = [sys.executable, "-m", "gunicorn", "--worker-class", "gthread", "--workers", str(settings.workers)]
    args += ["--threads", str(settings.threads), "--bind", f"127.0.0.1:{port}", "--worker-tmp-dir", "/dev/shm", app]
    with log.open("wb") as out:
        process = subprocess.Popen(args, cwd=REPO_ROOT, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT)
    server = Server(side, port, process, log)
    _wait_until_serving(server, settings.workers)
    return server


def _wait_until_serving(server: Server, workers: int) -> None:
    """Every worker forked and one of them answering; the unmeasured warm-up cell then loads all of them."""
    deadline = time.monotonic() + BOOT_TIMEOUT
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"gunicorn ({server.side}) exited:\n{server.log.read_text()[-3000:]}")
        if _answers(server.port) and len(_children(server.process.pid)) >= workers:
            return
        time.sleep(0.1)
    raise RuntimeError(f"gunicorn ({server.side}) did not answer within {BOOT_TIMEOUT:g} s")


def _answers(port: int) -> bool:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", "/bench-ping")  # any status will do: the server is up
        conn.getresponse().read()
        return True
    except OSError:
        return False
    finally:
        conn.close()


def _children(parent: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == parent:
                    found.append(int(entry.name))
            except (FileNotFoundError, ProcessLookupError):
                continue
    return found


@contextmanager
def servers(
    url: str, instance: str, applicant_id: int, role: str, settings: ServerSettings
) -> Iterator[dict[str, Server]]:
    """Its own Redis (the project publishes outbox rows there, as in production), then both gunicorns."""
    from tests.integration.test_reliability import RedisServer

    with tempfile.TemporaryDirectory(prefix="specgoods-http-") as scratch:
        redis_server = RedisServer(Path(scratch) / "redis")
        redis_server.start()
        started: dict[str, Server] = {}
        try:
            project_env = {
                "SPECGOODS_DATABASE_URL": url,
                "SPECGOODS_REDIS_URL": redis_server.url,
                "SPECGOODS_INSTANCE_PATH": instance,
                "SPECGOODS_ENV": "production",
                "SPECGOODS_SECRET_KEY": secrets.token_urlsafe(32),
            }
            baseline_env = dict(zip(BASELINE_ENV, (plain_dsn(url), str(applicant_id), role), strict=True))
            started["baseline"] = start_server(
                "baseline", "bench.http_writeoff:baseline_app()", baseline_env, settings, Path(scratch)
            )
            started["project"] = start_server("project", "web.wsgi:app", project_env, settings, Path(scratch))
            yield started
        finally:
            for server in started.values():
                server.stop()
            redis_server.stop()


# -- fixture and one client ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fixture:
    """What a client process needs: where each side listens, the token, and the lines to draw on."""

    ports: dict[str, int]
    token: str
    layouts: dict[str, tuple[Target, ...]]


def issue_bench_token(url: str, instance: str, user_id: int) -> str:
    container = make_container(url, instance)
    try:
        with container.sessions() as session, session.begin():
            return issue_token(session, user_id, "bench", container.deps.clock.now(), timedelta(days=1)).token
    finally:
        container.dispose()


@dataclass(frozen=True)
class Task(CellTask):
    layout: str
    cell: int


@dataclass
class Tally:
    """One client's requests: outcomes and released quantity over the whole run, latencies inside the window."""

    outcomes: Counter[str] = field(default_factory=Counter)
    released_qty: int = 0  # ten-thousandths the client saw released: the ledger must have committed exactly this
    latencies_ms: list[float] = field(default_factory=list)
    window_requests: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)


class HttpClient:
    """A client process: one keep-alive connection per cell, a fresh declaration number per request."""

    def __init__(self, fixture: Fixture, index: int) -> None:
        self.fixture, self.index, self.sequence = fixture, index, 0
        self.rng = random.Random(index)
        self.conn: http.client.HTTPConnection | None = None
        self.port = 0

    def prepare(self, task: Task) -> None:
        self.rng = random.Random(task.cell * 1000 + self.index)
        self.port = self.fixture.ports[task.side]
        self._connect()

    def _connect(self) -> None:
        if self.conn is not None:
            self.conn.close()
        self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        self.conn.connect()

    def finish(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def run(self, task: Task, start_at: float) -> Tally:
        """Requests back to back until the window closes; only those started inside it are timed and counted."""
        targets, tally = self.fixture.layouts[task.layout], Tally()
        window = Window(task, start_at)
        for began in window:
            target, units = self.rng.choice(targets), self.rng.randint(*UNITS)
            outcome = self.declare(task, target, units, tally)
            tally.outcomes[outcome] += 1
            if outcome == "released":
                tally.released_qty += units * QUANTITY_SCALE
            if window.measuring:
                tally.latencies_ms.append((time.time() - began) * 1000)
                tally.window_requests += 1
        return tally

    def declare(self, task: Task, target: Target, units: int, tally: Tally) -> str:
        self.sequence += 1
        body = {
            "declaration_no": f"H{self.index:03d}C{task.cell:03d}N{self.sequence:09d}",
            "certificate_no": target.certificate_no,
            "declared_on": local_today(DEFAULT_TIME_ZONE).isoformat(),  # the district's date, not the host's UTC one
            "direction": "entry",
            "lines": [{"line_no": 1, "qty": str(units)}],
        }
        headers = {"Authorization": f"Bearer {self.fixture.token}", "Content-Type": "application/json"}
        assert self.conn is not None
        try:
            self.conn.request("POST", PATH, body=json.dumps(body).encode(), headers=headers)
            response = self.conn.getresponse()
            payload = response.read()
        except (OSError, http.client.HTTPException) as exc:
            self._connect()  # a dropped keep-alive connection: open another and count the request as failed
            tally.examples.append(f"{type(exc).__name__}: {exc}")
            return "error"
        tally.statuses[response.status] += 1
        return _outcome(response.status, payload, tally)


def _outcome(status: int, payload: bytes, tally: Tally) -> str:
    if status in (201, 409):
        state = json.loads(payload).get("state", "")
        return "released" if state in RELEASED else "inspected" if state == "inspection" else "held"
    if len(tally.examples) < 3:
        tally.examples.append(f"HTTP {status}: {payload[:300]!r}")
    return "error"


# -- cells ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LedgerCheck:
    """bench/writeoff.py's check, and the committed total against what the clients saw released."""

    invariants: Invariants
    committed: int
    released: int

    @property
    def ok(self) -> bool:
        return self.invariants.ok and self.committed == self.released


def check(dsn: str, side: str, outcomes: Counter[str], released: int) -> LedgerCheck:
    invariants = check_ledger(dsn, "baseline" if side == "baseline" else "service", outcomes)
    with psycopg.connect(dsn) as conn:
        committed = conn.execute("SELECT COALESCE(SUM(committed_qty), 0) FROM certificate_lines").fetchone()
    return LedgerCheck(invariants, int(committed[0]) if committed else -1, released)


@dataclass
class Cell:
    layout: str
    clients: int
    side: str
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    server_cpu_ms_per_request: float
    outcomes: dict[str, int]
    statuses: dict[int, int]
    ledger: LedgerCheck
    ratio: float | None = None
    examples: list[str] = field(default_factory=list)


class ServerCpu:
    """The gunicorn master's and its workers' CPU seconds across the measured window, sampled on a thread."""

    def __init__(self, pid: int, task: Task) -> None:
        self.pid, self.task, self.spent = pid, task, 0.0
        self.thread: threading.Thread | None = None

    def start(self, start_at: float) -> None:
        self.thread = threading.Thread(target=self._sample, args=(start_at,), daemon=True)
        self.thread.start()

    def _sample(self, start_at: float) -> None:
        from bench.pipeline import worker_cpu

        window = Window(self.task, start_at)
        time.sleep(max(0.0, window.measure_from - time.time()))
        before = worker_cpu(self.pid)
        time.sleep(max(0.0, window.stop_at - time.time()))
        self.spent = worker_cpu(self.pid) - before

    def seconds(self) -> float:
        if self.thread is not None:
            self.thread.join()
        return self.spent


def run_cell(pool: SpawnedClients, dsn: str, server: Server, task: Task, clients: int) -> Cell:
    cpu = ServerCpu(server.process.pid, task)
    tallies: list[Tally] = pool.run(task, clients, on_start=cpu.start)
    outcomes = sum((tally.outcomes for tally in tallies), Counter[str]())
    ledger = check(dsn, task.side, outcomes, sum(tally.released_qty for tally in tallies))
    reset(dsn)
    latencies = sorted(ms for tally in tallies for ms in tally.latencies_ms)
    requests = sum(tally.window_requests for tally in tallies)
    return Cell(
        task.layout,
        clients,
        task.side,
        requests_per_s=requests / task.seconds,
        p50_ms=percentile(latencies, 0.50),
        p99_ms=percentile(latencies, 0.99),
        server_cpu_ms_per_request=cpu.seconds() * 1000 / max(1, requests),
        outcomes=dict(outcomes),
        statuses=dict(sum((tally.statuses for tally in tallies), Counter[int]())),
        ledger=ledger,
        examples=[example for tally in tallies for example in tally.examples][:5],
    )


@dataclass(frozen=True)
class Options:
    clients: tuple[int, ...] = (8,)
    layouts: tuple[str, ...] = ("hot",)
    seconds: float = 6.0
    warmup: float = 1.0
    server: ServerSettings = ServerSettings()
    boot_warmup: float = 2.0  # unmeasured seconds per side before the first cell, so every worker has loaded


def run(
    options: Options,
    report: Callable[[Cell], None] = lambda cell: None,
    conditions: Callable[[dict[str, float]], None] = lambda probed: None,
) -> list[Cell]:
    """Seed, start both servers, warm every worker, then per (clients, layout) the baseline's cell and the project's."""
    with scratch_database("http") as url, tempfile.TemporaryDirectory() as instance:
        seeded = seed_certificates(url, instance, spread="spread" in options.layouts)
        token = issue_bench_token(url, instance, seeded.applicant.user_id or 0)
        conditions(probe(seeded.dsn))
        role = seeded.applicant.role.value
        with servers(url, instance, seeded.applicant.user_id or 0, role, options.server) as started:
            fixture = Fixture({side: server.port for side, server in started.items()}, token, seeded.layouts)
            with SpawnedClients(functools.partial(HttpClient, fixture), max(options.clients)) as pool:
                return measure(pool, seeded.dsn, started, options, report)


def measure(
    pool: SpawnedClients, dsn: str, started: dict[str, Server], options: Options, report: Callable[[Cell], None]
) -> list[Cell]:
    for side in SIDES:  # unmeasured: every worker imports, connects and compiles before the first cell
        pool.run(Task(side, 0.0, options.boot_warmup, options.layouts[0], 0), max(options.clients))
        reset(dsn)
    cells: list[Cell] = []
    for clients in options.clients:
        for layout in options.layouts:
            tasks = [Task(side, options.warmup, options.seconds, layout, len(cells) + 1) for side in SIDES]
            pair = [run_cell(pool, dsn, started[task.side], task, clients) for task in tasks]
            cells.extend(rate_against_baseline(pair, lambda cell: cell.requests_per_s, report))
    return cells


# -- the table and the command -------------------------------------------------------------------------------------

HEADER = (
    f"{'layout':<7}{'clients':>8} {'side':<9}{'req/s':>8}{'p50 ms':>8}{'p99 ms':>8}{'ratio':>7}{'srv cpu ms':>11}"
    f"{'released':>9}{'inspected':>10}{'held':>5}{'err':>5}{'overdrawn':>10}{'mismatch':>9}{'lost':>5}{'dup':>4}"
    f"{'committed':>10}"
)


def format_row(cell: Cell) -> str:
    inv, out = cell.ledger.invariants, cell.outcomes
    ratio = f"{cell.ratio:.3f}" if cell.ratio is not None else "-"
    inspected = str(out.get("inspected", 0)) if cell.side != "baseline" else "-"
    committed = "= seen" if cell.ledger.committed == cell.ledger.released else "DIFFERS"
    row = (
        f"{cell.layout:<7}{cell.clients:>8} {cell.side:<9}{cell.requests_per_s:>8.0f}{cell.p50_ms:>8.2f}"
        f"{cell.p99_ms:>8.2f}{ratio:>7}{cell.server_cpu_ms_per_request:>11.2f}{out.get('released', 0):>9}"
        f"{inspected:>10}{out.get('held', 0):>5}{out.get('error', 0):>5}{inv.overdrawn:>10}{inv.mismatched:>9}"
        f"{inv.lost:>5}{inv.duplicated:>4}{committed:>10}"
    )
    return "\n".join([row, *(f"    {example}" for example in cell.examples)])


def summary(cells: list[Cell]) -> list[str]:
    lines = []
    for layout in dict.fromkeys(cell.layout for cell in cells):
        ratios = [cell.ratio for cell in cells if cell.layout == layout and cell.ratio is not None]
        if ratios:
            lines.append(ratio_line(f"{layout}: project/baseline", ratios, TARGET_RATIO))
    lines.append(ledger_line(sum(not cell.ledger.ok for cell in cells)))
    failed = sum(cell.outcomes.get("error", 0) for cell in cells)
    if failed:
        lines.append(f"requests: {failed} failed (see the examples under their rows)")
    return lines


def parse_args(argv: list[str]) -> tuple[Options, str | None]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", default="8", help="comma-separated client counts (default 8)")
    parser.add_argument("--layouts", default="hot", help="hot, spread or both (default hot)")
    parser.add_argument("--seconds", type=float, default=6.0, help="measured seconds per cell (default 6)")
    parser.add_argument("--warmup", type=float, default=1.0, help="unmeasured seconds before each (default 1)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers, both servers (default 2)")
    parser.add_argument("--threads", type=int, default=4, help="threads per gunicorn worker (default 4)")
    parser.add_argument("--json", help="also write options, conditions and cells to this file")
    args = parser.parse_args(argv)
    layouts = tuple(name for name in args.layouts.split(",") if name)
    if not layouts or set(layouts) - set(LAYOUTS):
        parser.error(f"layouts are {', '.join(LAYOUTS)}")
    clients = tuple(int(n) for n in args.clients.split(",") if n)
    server = ServerSettings(args.workers, args.threads)
    return Options(clients, layouts, args.seconds, args.warmup, server), args.json


def main(argv: list[str] | None = None) -> int:
    options, json_path = parse_args(sys.argv[1:] if argv is None else argv)
    print(
        f"{options.warmup:g} s warm-up + {options.seconds:g} s measured per cell; gunicorn gthread"
        f" --workers {options.server.workers} --threads {options.server.threads} for both sides;"
        " grade C, regular credit (rate 0.1); srv cpu = gunicorn processes' CPU per request"
    )
    cells = print_cells(functools.partial(run, options), options, HEADER, format_row, summary, json_path)
    return 0 if all(cell.ledger.ok for cell in cells) else 1


if __name__ == "__main__":
    sys.exit(main())
