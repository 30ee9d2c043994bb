"""Delivery under failure, end to end: real worker and beat subprocesses, real Redis, PostgreSQL.

A worker child killed mid-task, Redis stopped and restarted under a burst, 1,000 submissions, and a rolled-back
submit: in each, every committed submission is screened exactly once and nothing else is. Every wait polls a
condition against a deadline; "exactly once" is checked only after Redis holds no queued or unacknowledged
message, so no late re-delivery can still add an event.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
import redis
from sqlalchemy import TextClause, func, select, text

from config.bootstrap import Container
from config.celery_config import QUEUES
from tests.conftest import WorkerProcess, _empty_tables, make_cast, wait_for, wait_for_worker
from tests.integration.blocking_worker import STALL_DIR_ENV, stalled_marker
from tests.integration.support import file_application
from workflow.domain import commands as c
from workflow.store import api_reads, queries
from workflow.store.repositories import SqlOutbox
from workflow.store.tables import ApplicationLineRow, ApplicationRow, AuditEventRow, DocumentRow, OutboxRow

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.worker]

REPO_ROOT = Path(__file__).resolve().parents[2]
SCREENING_QUEUE = "screening"
# kombu's Redis transport keeps delivered-but-unacknowledged messages in this hash until the ack.
UNACKED_KEY = "unacked"


# -- processes the tests own -------------------------------------------------------------------------------------


def spawn_specgoods(
    tmp_path: Path, args: list[str], env: dict[str, str], module: str = "cli", name: str = ""
) -> WorkerProcess:
    """`python -m <module> <args>` from the repository root, its output in a log under tmp_path."""
    hostname = name or f"test-{uuid.uuid4().hex[:6]}@localhost"
    log = tmp_path / f"{hostname}.log"
    handle = log.open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", module, *args],
        cwd=REPO_ROOT,
        env={**os.environ, "SPECGOODS_INSTANCE_PATH": str(tmp_path / "instance"), **env},
        stdout=handle,
        stderr=subprocess.STDOUT,
    )
    return WorkerProcess(process, log, hostname, handle)


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Callable[..., WorkerProcess]]:
    started: list[WorkerProcess] = []

    def start(args: list[str], env: dict[str, str], module: str = "cli", name: str = "") -> WorkerProcess:
        started.append(spawn_specgoods(tmp_path, args, env, module, name))
        return started[-1]

    yield start
    for process in reversed(started):
        process.stop()


def start_worker_process(
    spawn: Callable[..., WorkerProcess], env: dict[str, str], module: str = "cli", concurrency: int = 2
) -> WorkerProcess:
    """A prefork `specgoods worker` (or a test entry module wrapping it), named so a ping can find it."""
    hostname = f"reliability-{uuid.uuid4().hex[:6]}@localhost"
    args = ["worker", "--pool", "prefork", "--concurrency", str(concurrency), "--hostname", hostname]
    return spawn(args, env, module, hostname)


def service_env(database_url: str, redis_url: str, **extra: str) -> dict[str, str]:
    return {"SPECGOODS_DATABASE_URL": database_url, "SPECGOODS_REDIS_URL": redis_url, **extra}


class RedisServer:
    """A `redis-server` this test owns on a free port, configured like docker-compose's (AOF, no eviction)."""

    def __init__(self, directory: Path, persistent: bool = True) -> None:
        self.directory, self.port, self.persistent = directory, _free_port(), persistent
        self.process: subprocess.Popen[bytes] | None = None
        directory.mkdir(parents=True, exist_ok=True)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        # Production's persistence (AOF, fsync every second): a clean stop keeps the queued messages.
        args = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.directory)]
        # Without persistence (a broker run as a pure cache, or one whose disk was lost) a restart empties it.
        appendonly = "yes" if self.persistent else "no"
        args += [
            "--save",
            "",
            "--appendonly",
            appendonly,
            "--appendfsync",
            "everysec",
            "--maxmemory-policy",
            "noeviction",
        ]
        log = (self.directory / "redis.log").open("ab")
        self.process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        wait_for(self._answers, timeout=20, what=f"redis-server on port {self.port}")

    def stop(self) -> None:
        """SIGTERM: Redis refuses new connections at once and exits after flushing its AOF."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=20)
        self.process = None

    def _answers(self) -> bool:
        client = redis.Redis(port=self.port, socket_connect_timeout=0.5)
        try:
            return bool(client.ping())
        except redis.ConnectionError:
            return False
        finally:
            client.close()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis")
    server.start()
    yield server
    server.stop()


# -- reading the outcome -----------------------------------------------------------------------------------------


def screen_counts(container: Container) -> dict[int, int]:
    """Application id -> number of 'screen' audit events it has."""
    with container.sessions() as session:
        rows = session.execute(
            select(AuditEventRow.object_id, func.count())
            .where(AuditEventRow.object_type == "application", AuditEventRow.trigger == "screen")
            .group_by(AuditEventRow.object_id)
        )
        return {object_id: count for object_id, count in rows}


def screened_count(container: Container) -> int:
    """Applications with at least one 'screen' event (the `screening` column holds JSON null before, not NULL)."""
    with container.sessions() as session:
        return (
            session.scalar(
                select(func.count(func.distinct(AuditEventRow.object_id))).where(
                    AuditEventRow.object_type == "application", AuditEventRow.trigger == "screen"
                )
            )
            or 0
        )


def unpublished_outbox(container: Container) -> list[OutboxRow]:
    with container.sessions() as session:
        return list(session.scalars(select(OutboxRow).where(OutboxRow.published_at.is_(None)).order_by(OutboxRow.id)))


def broker_idle(redis_url: str) -> bool:
    """Nothing queued for screening and nothing delivered but unacknowledged: no delivery is still to come."""
    client = redis.Redis.from_url(redis_url)
    try:
        return client.llen(SCREENING_QUEUE) == 0 and client.hlen(UNACKED_KEY) == 0
    finally:
        client.close()


def screening_rows(container: Container) -> dict[int, OutboxRow]:
    """Application id -> its screening outbox row."""
    with container.sessions() as session:
        rows = session.scalars(select(OutboxRow).where(OutboxRow.task == "screen_application")).all()
        session.expunge_all()
        return {row.payload["application_id"]: row for row in rows}


def outbox_outcomes(container: Container) -> dict[int, str]:
    """Application id -> the outcome of its screening row ('' while no task has completed it)."""
    return {application_id: row.outcome for application_id, row in screening_rows(container).items()}


def assert_screened_exactly_once(container: Container, redis_url: str, application_ids: list[int]) -> None:
    wait_for(lambda: broker_idle(redis_url), timeout=60, what="the broker to hold no queued or unacked message")
    counts = screen_counts(container)
    assert sorted(counts) == sorted(application_ids)
    assert set(counts.values()) == {1}, {k: v for k, v in counts.items() if v != 1}
    assert unpublished_outbox(container) == []
    # The mark follows the effect in its own transaction: wait for it, then every row is done and none is open.
    wait_for(lambda: set(outbox_outcomes(container).values()) == {"done"}, timeout=30, what="every row to complete")
    assert sorted(outbox_outcomes(container)) == sorted(application_ids)


# -- setting up many drafts ----------------------------------------------------------------------------------------


def clone_drafts(container: Container, template_id: int, copies: int) -> list[int]:
    """Copies of one filed draft (application, lines, documents) in three set-based INSERTs (PostgreSQL only).

    Filing a draft through the bus costs a create and one command per document; the copies are the same rows, and
    each is then submitted through the bus, so the submit and outbox path is still what runs.
    """
    params = {"template": template_id, "copies": copies}
    with container.engine.begin() as connection:
        template = connection.scalar(select(ApplicationRow.reference).where(ApplicationRow.id == template_id))
        connection.execute(_clone(ApplicationRow, {"reference": f"t.reference || {COPY_SUFFIX}"}, "t.id"), params)
        for table in (ApplicationLineRow, DocumentRow):
            connection.execute(_clone(table, {"application_id": COPY_ID}, "t.application_id"), params)
        ids = connection.scalars(
            select(ApplicationRow.id).where(ApplicationRow.reference.like(f"{template}-C%")).order_by(ApplicationRow.id)
        )
        return list(ids)


COPY_SUFFIX = "'-C' || g"
# The copy numbered g of the template's row belongs to the application copy numbered g.
COPY_ID = (
    "(SELECT a.id FROM applications a"
    f" WHERE a.reference = (SELECT reference FROM applications WHERE id = :template) || {COPY_SUFFIX})"
)


def _clone(table: Any, overrides: dict[str, str], template_column: str) -> TextClause:
    """INSERT … SELECT of the template's rows × generate_series; the column list comes from the table model."""
    columns = [column.name for column in table.__table__.columns if column.name != "id"]
    values = ", ".join(overrides.get(name, f"t.{name}") for name in columns)
    return text(
        f"INSERT INTO {table.__tablename__} ({', '.join(columns)}) SELECT {values} "
        f"FROM {table.__tablename__} t, generate_series(1, :copies) g WHERE {template_column} = :template"
    )


def submit(container: Container, applicant: Any, application_id: int) -> None:
    container.bus.handle(c.SubmitApplication(applicant, application_id))


@pytest.fixture
def pg(postgres_url: str) -> str:
    _empty_tables(postgres_url)
    return postgres_url


# -- a. a worker child SIGKILLed mid-task ----------------------------------------------------------------------------


def _parent_pid(pid: int) -> int:
    # /proc/<pid>/stat: "pid (comm) state ppid …"; comm may hold spaces, so split after its closing parenthesis.
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[1])


def test_a_worker_child_killed_mid_task_still_screens_exactly_once(
    make_container: Callable[..., Container],
    pg: str,
    own_redis: RedisServer,
    spawn: Callable[..., WorkerProcess],
    tmp_path: Path,
) -> None:
    redis_url = own_redis.url
    container = make_container(pg, redis_url=redis_url, relay_after_commit=True)
    stall_dir = tmp_path / "stall"
    stall_dir.mkdir()
    env = service_env(pg, redis_url, **{STALL_DIR_ENV: str(stall_dir)})
    worker = start_worker_process(spawn, env, "tests.integration.blocking_worker")
    wait_for_worker(container, worker)
    cast = make_cast(container)
    application_id = file_application(container, cast)
    submit(container, cast.applicant, application_id)

    marker = stalled_marker(stall_dir, application_id)
    child = int(wait_for(lambda: marker.exists() and marker.read_text(), timeout=60, what="the child to stall"))
    assert _parent_pid(child) == worker.process.pid  # a prefork child of our worker, not the worker itself
    assert screen_counts(container) == {}  # its writes are flushed but not committed
    os.kill(child, signal.SIGKILL)

    wait_for(lambda: screen_counts(container), timeout=60, what="a new child to screen the re-queued message")
    assert_screened_exactly_once(container, redis_url, [application_id])
    with container.sessions() as session:
        trail = api_reads.audit_trail(session, "application", application_id)
    assert [event["trigger"] for event in trail] == ["submit", "screen"]
    assert worker.process.poll() is None  # the parent survived and re-queued the message
    assert "signal 9 (SIGKILL)" in worker.log.read_text()


# -- b. Redis stopped and restarted during a burst -------------------------------------------------------------------

BURST = 60
RELAY_SECONDS = "1"
# Seconds before Redis hands a dead consumer's unacknowledged message to another: short, so the test is bounded.
VISIBILITY_SECONDS = "4"
SLOWEST_SUBMIT_WITHOUT_BROKER = 5.0


def timed(action: Callable[[], object]) -> float:
    started = time.monotonic()
    action()
    return time.monotonic() - started


class Supervisor:
    """What compose's `restart: unless-stopped` does for the worker: start a new one whenever it exits."""

    def __init__(self, start: Callable[[], WorkerProcess]) -> None:
        self._start, self.restarts = start, 0
        self.worker = start()

    def keep_running(self) -> None:
        if self.worker.process.poll() is not None:
            self.restarts += 1
            self.worker = self._start()


def test_b_redis_stopped_and_restarted_during_a_burst_loses_no_submission(
    make_container: Callable[..., Container],
    pg: str,
    own_redis: RedisServer,
    spawn: Callable[..., WorkerProcess],
) -> None:
    """Submit half a burst, stop Redis, submit the rest (each commits; its relay fails), restart Redis.

    Beat's relay then publishes the stranded rows. Celery 5.7 / kombu 5.7 workers exit ("Unrecoverable error:
    AttributeError … 'hostname'") when the broker goes away while they hold an unacknowledged message, so, as in
    production, a supervisor restarts the worker, and the messages it held come back after the visibility timeout.
    """
    container = make_container(pg, redis_url=own_redis.url, relay_after_commit=True)
    env = service_env(
        pg,
        own_redis.url,
        SPECGOODS_OUTBOX_RELAY_SECONDS=RELAY_SECONDS,
        SPECGOODS_BROKER_VISIBILITY_TIMEOUT=VISIBILITY_SECONDS,
    )
    supervisor = Supervisor(lambda: start_worker_process(spawn, env))
    spawn(["beat"], env, name="beat")
    wait_for_worker(container, supervisor.worker)
    cast = make_cast(container)
    ids = clone_drafts(container, file_application(container, cast), BURST)

    half = BURST // 2
    for application_id in ids[:half]:
        submit(container, cast.applicant, application_id)
    own_redis.stop()
    slowest = max(timed(lambda i=i: submit(container, cast.applicant, i)) for i in ids[half:])
    # Each submit still commits; only its relay fails, after Celery's publish retries (about 0.6 s here).
    assert slowest < SLOWEST_SUBMIT_WITHOUT_BROKER, f"a submit took {slowest:.1f} s with Redis down"
    stranded = [row for row in unpublished_outbox(container) if row.task == "screen_application"]
    # Every submission made without Redis is stranded: each submit's relay tried its own rows right after the commit
    # and, refused, wrote them back as unsent with the refusal, for beat's sweep.
    assert set(ids[half:]) <= {row.payload["application_id"] for row in stranded}
    assert all(row.attempts >= 1 and "Connection refused" in row.last_error for row in stranded)
    own_redis.start()

    def all_screened() -> bool:
        supervisor.keep_running()
        return screened_count(container) == BURST

    wait_for(all_screened, timeout=60, what=f"all {BURST} submissions to be screened")
    assert_screened_exactly_once(container, own_redis.url, ids)


# -- c. a thousand submissions ---------------------------------------------------------------------------------------

THOUSAND = 1_000


def test_c_a_thousand_submissions_are_all_screened_by_two_worker_processes(
    make_container: Callable[..., Container],
    pg: str,
    own_redis: RedisServer,
    spawn: Callable[..., WorkerProcess],
) -> None:
    container = make_container(pg, redis_url=own_redis.url, relay_after_commit=True)
    worker = start_worker_process(spawn, service_env(pg, own_redis.url), concurrency=2)
    wait_for_worker(container, worker)
    cast = make_cast(container)
    ids = clone_drafts(container, file_application(container, cast), THOUSAND)
    assert len(ids) == THOUSAND

    for application_id in ids:  # each through the bus: state, audit event and outbox row, then the relay
        submit(container, cast.applicant, application_id)
    wait_for(lambda: screened_count(container) == THOUSAND, timeout=180, what=f"all {THOUSAND} to be screened")
    assert_screened_exactly_once(container, own_redis.url, ids)


# -- d. a rolled-back submit sends nothing ---------------------------------------------------------------------------


def test_d_a_rolled_back_submit_leaves_no_outbox_row_no_message_and_nothing_to_screen(
    make_container: Callable[..., Container],
    pg: str,
    own_redis: RedisServer,
    spawn: Callable[..., WorkerProcess],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    container = make_container(pg, redis_url=own_redis.url, relay_after_commit=True)
    cast = make_cast(container)
    failed, sentinel = file_application(container, cast), file_application(container, cast)

    real_add, added = SqlOutbox.add_requests, []

    def add_then_fail(outbox: SqlOutbox, requests: Any) -> None:
        real_add(outbox, requests)
        # The outbox INSERT reaches PostgreSQL, inside the still open transaction, the row written as sent.
        added.append(len(outbox.insert()))
        raise RuntimeError("connection lost before COMMIT")

    monkeypatch.setattr(SqlOutbox, "add_requests", add_then_fail)
    with pytest.raises(RuntimeError, match="before COMMIT"):
        submit(container, cast.applicant, failed)
    # the row (the screening, which also tells the acceptors) was written, then rolled back with the state change
    assert added == [1]
    monkeypatch.undo()
    with container.sessions() as session:
        assert session.scalar(select(func.count()).select_from(OutboxRow)) == 0
    client = redis.Redis.from_url(own_redis.url)
    try:
        # No worker runs yet, so nothing could have consumed a message: every queue is simply empty.
        assert {queue: client.llen(queue) for queue in QUEUES} == dict.fromkeys(QUEUES, 0)
    finally:
        client.close()

    # A worker, then a good submission behind it: once that one is screened, anything queued before it would be too.
    worker = start_worker_process(spawn, service_env(pg, own_redis.url))
    wait_for_worker(container, worker)
    submit(container, cast.applicant, sentinel)
    wait_for(lambda: screened_count(container) == 1, timeout=60, what="the sentinel submission to be screened")
    assert_screened_exactly_once(container, own_redis.url, [sentinel])
    with container.sessions() as session:
        view = queries.application_view(session, failed)
        assert (view["state"], view["version"]) == ("draft", 0)
        assert api_reads.audit_trail(session, "application", failed) == []


# -- e. a whole worker SIGKILLed mid-burst, the messages it held lost ---------------------------------------------

# Production's order of magnitude: Redis would hand a dead worker's messages to another only after an hour.
PRODUCTION_VISIBILITY_SECONDS = "3600"
REDELIVER_SECONDS = "3"


def sweeping_env(database_url: str, redis_url: str, **extra: str) -> dict[str, str]:
    """Beat relays every second and sends again, after 3 s, any row no task has completed."""
    return service_env(
        database_url,
        redis_url,
        SPECGOODS_OUTBOX_RELAY_SECONDS=RELAY_SECONDS,
        SPECGOODS_OUTBOX_REDELIVER_SECONDS=REDELIVER_SECONDS,
        **extra,
    )


def forget_unacknowledged(redis_url: str) -> int:
    """Drop what Redis keeps for a consumer's unacknowledged messages: they are as lost as the issue found them."""
    with closing(redis.Redis.from_url(redis_url)) as client:
        held = int(client.hlen(UNACKED_KEY))
        client.delete(UNACKED_KEY, f"{UNACKED_KEY}_index")
        return held


def deliveries(container: Container) -> dict[int, int]:
    return {application_id: row.deliveries for application_id, row in screening_rows(container).items()}


def test_e_a_whole_worker_killed_mid_burst_holding_messages_still_screens_everything_exactly_once(
    make_container: Callable[..., Container],
    pg: str,
    own_redis: RedisServer,
    spawn: Callable[..., WorkerProcess],
    tmp_path: Path,
) -> None:
    """The worker parent and both its children die by SIGKILL while each child is mid-task; with a production
    visibility timeout Redis would not hand their messages on for an hour, and here they are dropped outright. Only
    the outbox's own sweep can bring them back, and it does: each row stays incomplete until a task completes it."""
    container = make_container(pg, redis_url=own_redis.url, relay_after_commit=True)
    stall_dir = tmp_path / "stall"
    stall_dir.mkdir()
    env = sweeping_env(
        pg,
        own_redis.url,
        SPECGOODS_BROKER_VISIBILITY_TIMEOUT=PRODUCTION_VISIBILITY_SECONDS,
        **{STALL_DIR_ENV: str(stall_dir)},
    )
    doomed = start_worker_process(spawn, env, "tests.integration.blocking_worker")
    spawn(["beat"], env, name="beat")
    wait_for_worker(container, doomed)
    cast = make_cast(container)
    ids = clone_drafts(container, file_application(container, cast), BURST)
    half = BURST // 2
    for application_id in ids[:half]:
        submit(container, cast.applicant, application_id)

    markers = lambda: [m for m in stall_dir.glob("stalled-*") if not m.name.endswith(".tmp")]  # noqa: E731
    stalled = wait_for(lambda: len(found := markers()) == 2 and found, timeout=60, what="both children to stall")
    children = [int(marker.read_text()) for marker in stalled]
    os.kill(doomed.process.pid, signal.SIGKILL)
    for child in children:
        os.kill(child, signal.SIGKILL)
    doomed.process.wait(timeout=20)
    assert forget_unacknowledged(own_redis.url) >= 2  # at least the two messages the children were running
    for application_id in ids[half:]:  # the rest of the burst, while no worker runs
        submit(container, cast.applicant, application_id)

    worker = start_worker_process(spawn, sweeping_env(pg, own_redis.url))
    wait_for_worker(container, worker)
    wait_for(lambda: screened_count(container) == BURST, timeout=120, what=f"all {BURST} to be screened")
    assert_screened_exactly_once(container, own_redis.url, ids)
    killed_mid_task = [int(marker.name.removeprefix("stalled-")) for marker in stalled]
    assert all(deliveries(container)[application_id] >= 2 for application_id in killed_mid_task)


# -- f. the broker restarted empty mid-burst ------------------------------------------------------------------------


def test_f_a_broker_restarted_empty_mid_burst_loses_no_submission(
    make_container: Callable[..., Container], pg: str, tmp_path: Path, spawn: Callable[..., WorkerProcess]
) -> None:
    """Every submission is published and queued, then Redis restarts with nothing: no worker will ever see those
    messages. The sweep sends every incomplete row again, and each is screened once."""
    broker = RedisServer(tmp_path / "volatile-redis", persistent=False)
    broker.start()
    try:
        container = make_container(pg, redis_url=broker.url, relay_after_commit=True)
        cast = make_cast(container)
        ids = clone_drafts(container, file_application(container, cast), BURST)
        for application_id in ids:
            submit(container, cast.applicant, application_id)
        assert unpublished_outbox(container) == []  # all of them reached the broker
        broker.stop()
        broker.start()
        assert broker_idle(broker.url)  # and all of them are gone from it

        env = sweeping_env(pg, broker.url)
        worker = start_worker_process(spawn, env)
        spawn(["beat"], env, name="beat")
        wait_for_worker(container, worker)
        wait_for(lambda: screened_count(container) == BURST, timeout=120, what=f"all {BURST} to be screened")
        assert_screened_exactly_once(container, broker.url, ids)
        assert min(deliveries(container).values()) >= 2
    finally:
        broker.stop()
