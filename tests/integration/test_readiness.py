"""Liveness and readiness (#18): /healthz answers from the process alone; /readyz reads the workers' heartbeats.

A private redis-server is killed under the app, a real worker process writes its heartbeat and then stops cleanly
or is killed, and a PostgreSQL URL where nothing listens stands for a database that is down. No assertion is timed:
how fast /readyz answers is measured by the command in docs/monitoring.md.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
from flask.testing import FlaskClient

from config.bootstrap import Container
from config.celery_config import QUEUES
from config.readiness import readiness, utc_now
from tasks.heartbeats import FORGET_AFTER, HeartbeatWriter
from tests.conftest import WorkerProcess, _empty_tables, wait_for
from tests.private_services import PrivateRedis
from web import create_app
from workflow.store.heartbeats import beat, heartbeats


@pytest.fixture
def killable_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis.start(tmp_path / "redis")
    yield server
    server.stop()


def _connections_received(client: redis.Redis) -> int:
    return int(client.info("stats")["total_connections_received"])


def test_healthz_never_touches_the_broker_and_answers_while_it_is_killed_when_readyz_says_the_broker_is_down(
    make_container: Callable[..., Container], postgres_url: str, killable_redis: PrivateRedis
) -> None:
    client = create_app(make_container(postgres_url, redis_url=killable_redis.url)).test_client()
    assert client.get("/readyz").json["checks"]["broker"] == {"up": True}
    with redis.Redis.from_url(killable_redis.url) as observer:
        before = _connections_received(observer)
        for _ in range(5):
            assert client.get("/healthz").json == {"status": "up"}
        assert _connections_received(observer) == before  # not one connection reached Redis
    killable_redis.process.kill()
    killable_redis.process.wait(timeout=20)
    assert client.get("/healthz").status_code == 200
    response = client.get("/readyz")
    assert response.status_code == 503 and response.json["status"] == "not_ready"
    assert response.json["checks"]["broker"] == {"up": False, "reason": "unreachable"}


def test_readyz_says_the_database_is_unreachable_and_the_workers_unknown_when_nothing_listens(
    make_container: Callable[..., Container],
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    container = make_container(f"postgresql+psycopg://postgres@127.0.0.1:{port}/specgoods")
    client = create_app(container).test_client()
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json["checks"]["database"] == {"up": False, "reason": "unreachable"}
    assert response.json["checks"]["workers"] == {"up": False, "reason": "unknown"}
    assert client.get("/healthz").status_code == 200


@pytest.fixture
def heartbeat_setup(
    make_container: Callable[..., Container], postgres_url: str, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> tuple[Container, FlaskClient]:
    """Workers that beat twice a second, and a web that calls a worker gone after two seconds of silence."""
    _empty_tables(postgres_url)
    monkeypatch.setenv("SPECGOODS_WORKER_HEARTBEAT_SECONDS", "0.5")
    container = make_container(postgres_url, redis_url=redis_url, worker_stale_seconds=2)
    return container, create_app(container).test_client()


def _readiness(client: FlaskClient, status: int) -> Callable[[], Any]:
    return lambda: (response := client.get("/readyz")).status_code == status and response.json


def _rows(container: Container) -> list[str]:
    with container.engine.connect() as connection:
        return [row.hostname for row in heartbeats(connection)]


def test_readyz_is_ready_from_a_workers_heartbeat_and_not_ready_once_it_stops_or_its_heartbeat_goes_stale(
    heartbeat_setup: tuple[Container, FlaskClient], start_worker: Callable[..., WorkerProcess], postgres_url: str,
    redis_url: str,
) -> None:  # fmt: skip
    container, client = heartbeat_setup
    assert wait_for(_readiness(client, 503), timeout=10)["checks"]["workers"]["reason"] == "no_worker"
    first = start_worker(postgres_url, redis_url, pool="solo")
    ready = wait_for(_readiness(client, 200), timeout=60, what="the worker's first heartbeat")
    assert ready["status"] == "ready" and ready["checks"]["workers"] == {"up": True}
    assert _rows(container) == [first.hostname]
    first.stop()  # a clean stop removes the row: the worker is gone, not stale
    assert _rows(container) == []
    assert client.get("/readyz").json["checks"]["workers"]["reason"] == "no_worker"
    second = start_worker(postgres_url, redis_url, pool="solo")
    wait_for(_readiness(client, 200), timeout=60, what="the second worker's heartbeat")
    second.process.kill()  # no clean stop: the row stays and ages
    second.process.wait(timeout=20)
    stale = wait_for(_readiness(client, 503), timeout=30, what="the heartbeat to go stale")
    assert stale["checks"]["workers"] == {"up": False, "reason": "stale"}
    assert _rows(container) == [second.hostname]


def test_readyz_names_the_queues_no_fresh_worker_consumes_to_an_admin(
    heartbeat_setup: tuple[Container, FlaskClient],
) -> None:
    container, _client = heartbeat_setup
    with container.engine.begin() as connection:
        beat(connection, "only-outbox@test", ["outbox"], 1, utc_now())
    workers = readiness(container.settings, container.engine)["workers"]
    assert workers["up"] is False and workers["reason"] == "queues_without_worker"
    assert workers["detail"]["uncovered"] == sorted(set(QUEUES) - {"outbox"})


def test_a_heartbeat_removes_the_rows_of_workers_silent_for_an_hour_and_keeps_the_recently_stale(
    heartbeat_setup: tuple[Container, FlaskClient],
) -> None:
    container, _client = heartbeat_setup
    now = utc_now()
    with container.engine.begin() as connection:
        beat(connection, "killed-long-ago@old", QUEUES, 1, now - FORGET_AFTER - timedelta(minutes=1))
        beat(connection, "killed-just-now@old", QUEUES, 2, now - timedelta(minutes=5))
    HeartbeatWriter(container, "alive@new", list(QUEUES)).write()
    assert sorted(_rows(container)) == ["alive@new", "killed-just-now@old"]
