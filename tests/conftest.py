"""Shared fixtures: real databases (SQLite files and PostgreSQL test databases made by the migrations), containers,
demo actors, and a real Celery worker subprocess on Redis. Nothing here skips: a missing service fails the test."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import IO, Any
from zoneinfo import ZoneInfo

import psycopg
import pytest
import redis
from sqlalchemy import func, select, text

from config.bootstrap import Container, bootstrap
from config.settings import load_settings
from tests.private_services import PrivateRedis, stop_process
from workflow.domain import commands as c
from workflow.domain import rules
from workflow.domain.actors import Actor, Role
from workflow.domain.assessment import Opinion
from workflow.domain.local_days import EVERY_DISTRICT, DistrictScope
from workflow.domain.policy import DEFAULT_TIME_ZONE
from workflow.store.directory import create_user, ensure_enterprise
from workflow.store.migrate import upgrade
from workflow.store.tables import Base, UserRow

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
# Every PostgreSQL database this run makes carries RUN_ID in its name and is dropped when its fixture ends, so runs
# side by side on one machine never meet there; Redis is a private server per run (`private_redis`).
RUN_ID = uuid.uuid4().hex[:8]


@dataclass
class FixedClock:
    """A clock the test sets: statutory dates are deterministic, timestamps still move forward."""

    today_value: date

    def today(self, district: str | None = None) -> date:
        return self.today_value

    def local_days(self) -> list[tuple[date, DistrictScope]]:
        return [(self.today_value, EVERY_DISTRICT)]

    def now(self) -> datetime:
        """`today` at the real time of day in the districts' zone, as naive UTC like every stored time.

        The local date of `now()` is then always `today()`, the date the rules read: with UTC's time of day it was
        the next day from 16:00 UTC on, and a decision timed by its event fell a day later than the one counted.
        """
        zone = ZoneInfo(DEFAULT_TIME_ZONE)
        local = datetime.combine(self.today_value, datetime.now(zone).time(), tzinfo=zone)
        return local.astimezone(UTC).replace(tzinfo=None)


def wait_for(condition: Callable[[], Any], timeout: float = 30.0, interval: float = 0.05, what: str = "") -> Any:
    """Poll until `condition()` is truthy; fail with `what` after the deadline. Never a bare sleep."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout:g} s waiting for {what or condition}")


def _create_pg_database(name: str) -> str:
    with psycopg.connect(PG_ADMIN, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')
    return f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"


def _drop_pg_database(name: str) -> None:
    with psycopg.connect(PG_ADMIN, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    name = f"specgoods_test_{RUN_ID}"
    url = _create_pg_database(name)
    upgrade(url)
    yield url
    _drop_pg_database(name)


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'specgoods.sqlite3'}"
    upgrade(url)
    return url


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest) -> str:
    """Integration tests run once per engine; tables are emptied before each test."""
    url: str = request.getfixturevalue(f"{request.param}_url")
    _empty_tables(url)
    return url


def _empty_tables(url: str) -> None:
    container = bootstrap(load_settings(database_url=url))
    tables = [table.name for table in reversed(Base.metadata.sorted_tables)]
    if container.engine.dialect.name == "postgresql":
        with container.engine.begin() as connection:
            connection.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
    else:
        _empty_sqlite(container, tables)
    container.dispose()


def _empty_sqlite(container: Container, tables: list[str]) -> None:
    """Foreign keys off first: SQLite checks them row by row, which makes emptying a big ledger quadratic."""
    raw = container.engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute("PRAGMA foreign_keys=OFF")
        cursor.execute("BEGIN IMMEDIATE")
        for table in tables:
            cursor.execute(f"DELETE FROM {table}")
        cursor.execute("COMMIT")
        cursor.execute("PRAGMA foreign_keys=ON")
    finally:
        raw.close()


@pytest.fixture(params=["sqlite", "postgres"])
def own_migrated_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database of the test's own, at the newest revision: the test may migrate it down and up again."""
    from workflow.store.migrate import upgrade

    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'own.sqlite3'}"
        upgrade(url)
        yield url
        return
    name = f"specgoods_own_{RUN_ID}_{uuid.uuid4().hex[:6]}"
    url = _create_pg_database(name)
    upgrade(url)
    yield url
    _drop_pg_database(name)


@pytest.fixture
def clock() -> FixedClock:
    """A date inside the xiamen-2016 era, so the reform's profile governs by default."""
    return FixedClock(date(2016, 6, 1))


@pytest.fixture
def make_container(tmp_path: Path, clock: FixedClock) -> Iterator[Callable[..., Container]]:
    made: list[Container] = []

    def make(database_url: str, redis_url: str = "", relay_after_commit: bool = False, **settings: Any) -> Container:
        container = bootstrap(
            load_settings(
                database_url=database_url, redis_url=redis_url, instance_path=tmp_path / "instance", **settings
            ),
            clock=clock,
            relay_after_commit=relay_after_commit,
        )
        made.append(container)
        return container

    yield make
    for container in made:
        container.dispose()


@pytest.fixture
def container(make_container: Callable[..., Container], database_url: str) -> Container:
    return make_container(database_url)


@pytest.fixture
def pg_container(make_container: Callable[..., Container], postgres_url: str) -> Container:
    """PostgreSQL only, emptied: the production engine, where statements, plans and costs are measured."""
    _empty_tables(postgres_url)
    return make_container(postgres_url)


@dataclass
class Cast:
    """One enterprise with its applicant, and one officer per customs post, all in the Xiamen district."""

    applicant: Actor
    officers: dict[Role, Actor]
    enterprise_id: int

    def __getattr__(self, name: str) -> Actor:
        return self.officers[Role(name)]


def make_cast(container: Container, district: str = "xiamen", suffix: str = "") -> Cast:
    now = container.deps.clock.now()
    with container.sessions() as session, session.begin():
        enterprise = ensure_enterprise(
            session, name=f"测试企业{suffix}", uscc=f"91350200TEST{suffix:0>5}X"[:18], district=district, now=now
        )
        officers = {}
        for role in (
            Role.ACCEPTOR,
            Role.REVIEWER,
            Role.DECIDER,
            Role.HEAD,
            Role.EXPERT,
            Role.PORT_OFFICER,
            Role.AUDITOR,
        ):
            user = create_user(
                session,
                username=f"{district}{suffix}.{role.value}",
                role=role,
                password_hash="",
                now=now,
                district=district,
            )
            officers[role] = Actor(user.id, role, user.username, district=district)
        user = create_user(
            session,
            username=f"{district}{suffix}.applicant",
            role=Role.APPLICANT,
            password_hash="",
            now=now,
            enterprise_id=enterprise.id,
        )
        applicant = Actor(user.id, Role.APPLICANT, user.username, enterprise_id=enterprise.id)
        return Cast(applicant, officers, enterprise.id)


@pytest.fixture
def cast(container: Container) -> Cast:
    return make_cast(container)


def ensure_experts(container: Container, district: str, count: int) -> None:
    """R61: enough active experts in the district for the profile's panel."""
    with container.sessions() as session, session.begin():
        have = session.scalar(
            select(func.count())
            .select_from(UserRow)
            .where(UserRow.role == Role.EXPERT.value, UserRow.district == district)
        )
        for _ in range(count - int(have or 0)):
            username = f"{district}.panel-{uuid.uuid4().hex[:8]}"
            create_user(
                session, username=username, role=Role.EXPERT, password_hash="", now=container.deps.clock.now(),
                district=district,
            )  # fmt: skip


def assessment_required(container: Container, application_id: int) -> bool:
    """R32: whether the grade the goods suggest needs a risk assessment under the file's policy."""
    with container.deps.uow() as uow:
        application = uow.applications.get(application_id)
    policy = container.deps.policies.policy_for(application.district, application.received_on or date.today())
    grade = rules.grade_application(application.lines, application.direction, policy).result
    return rules.risk_assessment_route(grade, policy).result.required


def pass_risk_assessment(container: Container, reviewer: Actor, application_id: int) -> None:
    """Refer the file under review and let the panel pass it (or reuse an entity-level pass, R63)."""
    ensure_experts(container, reviewer.district or "xiamen", 5)
    started = container.bus.handle(c.ReferAssessment(reviewer, application_id, "R32: risk assessment"))
    for expert_id in started.get("panel", []):
        opinion = c.SubmitOpinion(Actor(expert_id, Role.EXPERT), started["assessment_id"], Opinion.PASS)
        if container.bus.handle(opinion)["concluded"]:
            return


def assess_if_required(container: Container, reviewer: Actor, application_id: int) -> None:
    if assessment_required(container, application_id):
        pass_risk_assessment(container, reviewer, application_id)


@pytest.fixture(scope="session")
def private_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateRedis]:
    """This run's own redis-server on a free port: another run's tests can never flush or consume its queues."""
    server = PrivateRedis.start(tmp_path_factory.mktemp("redis"))
    yield server
    server.stop()


@pytest.fixture
def redis_url(private_redis: PrivateRedis) -> str:
    client = redis.Redis.from_url(private_redis.url)
    client.flushdb()
    client.close()
    return private_redis.url


@dataclass
class WorkerProcess:
    process: subprocess.Popen[bytes]
    log: Path
    hostname: str
    log_handle: IO[bytes]

    def stop(self) -> None:
        stop_process(self.process)
        self.log_handle.close()


@pytest.fixture
def start_worker(tmp_path: Path) -> Iterator[Callable[..., WorkerProcess]]:
    """A real `specgoods worker` subprocess; the test says which database and broker it serves."""
    started: list[WorkerProcess] = []

    def start(database_url: str, redis_url: str, pool: str = "prefork", concurrency: int = 2) -> WorkerProcess:
        hostname = f"test-{uuid.uuid4().hex[:6]}@localhost"
        log = tmp_path / f"{hostname}.log"
        env = {
            **os.environ,
            "SPECGOODS_DATABASE_URL": database_url,
            "SPECGOODS_REDIS_URL": redis_url,
            "SPECGOODS_INSTANCE_PATH": str(tmp_path / "worker-instance"),
        }
        handle = log.open("wb")
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "cli",
                "worker",
                "--pool",
                pool,
                "--concurrency",
                str(concurrency),
                "--hostname",
                hostname,
            ],
            env=env,
            stdout=handle,
            stderr=subprocess.STDOUT,
        )
        worker = WorkerProcess(process, log, hostname, handle)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


def wait_for_worker(container: Container, worker: WorkerProcess, timeout: float = 60.0) -> None:
    def answers() -> bool:
        if worker.process.poll() is not None:
            pytest.fail(f"worker exited with {worker.process.returncode}:\n{worker.log.read_text()[-3000:]}")
        replies = container.celery.control.ping(destination=[worker.hostname], timeout=1.0)
        return bool(replies)

    wait_for(answers, timeout=timeout, what=f"worker {worker.hostname} to answer a ping")


def days(n: int) -> timedelta:
    return timedelta(days=n)
