"""Task messages on a kept producer (config/task_publisher.py), on a real Redis: Celery's own messages, every one
arrives, a queue is declared by the first publish on a connection and again on a new one, each thread and each
forked process publishes on a connection of its own, and a failed publish does not keep its connection."""

from __future__ import annotations

import base64
import json
import multiprocessing
import threading
from collections.abc import Callable
from typing import Any

import pytest
import redis
from celery import Celery

from config.bootstrap import Container
from config.celery_config import celery_settings
from config.settings import load_settings
from config.task_publisher import TaskPublisher
from tasks.app import create_celery_app
from tests.integration.support import celery_on
from tests.private_services import free_port

TASK = "specgoods.screen_application"  # routed to the `screening` queue (config/celery_config.py)
QUEUE = "screening"
BINDING = f"_kombu.binding.{QUEUE}"  # what declaring the queue writes on Redis
RETRY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.05, "interval_max": 0.05}


def _app(redis_url: str) -> Celery:
    return celery_on(redis_url, "publisher-test")


def _messages(redis_url: str) -> list[dict[str, Any]]:
    """The queue's messages, oldest first (kombu LPUSHes, workers BRPOP from the right)."""
    client = redis.Redis.from_url(redis_url)
    try:
        return [json.loads(raw) for raw in reversed(client.lrange(QUEUE, 0, -1))]
    finally:
        client.close()


def _publish(publisher: TaskPublisher, number: int) -> None:
    publisher.send(TASK, {"application_id": number}, f"task-{number}", headers={"x-request-id": f"req-{number}"})


def test_the_message_is_the_one_celerys_send_task_makes_and_each_arrives_in_order(redis_url: str) -> None:
    app = _app(redis_url)
    publisher = TaskPublisher(app)
    for number in range(3):
        _publish(publisher, number)
    app.send_task(TASK, kwargs={"application_id": 3}, task_id="task-3", headers={"x-request-id": "req-3"})
    publisher.close()
    *ours, celerys = _messages(redis_url)
    assert [message["headers"]["id"] for message in ours] == ["task-0", "task-1", "task-2"]
    assert [message["headers"]["x-request-id"] for message in ours] == ["req-0", "req-1", "req-2"]
    assert [json.loads(_body(message)) for message in ours] == [
        [[], {"application_id": n}, {"callbacks": None, "errbacks": None, "chain": None, "chord": None}]
        for n in range(3)
    ]
    for message in ours:  # the same headers, properties and routing as Celery's own publish, but for the ids
        assert _without_ids(message["headers"]) == _without_ids(celerys["headers"])
        assert _without_ids(message["properties"]) == _without_ids(celerys["properties"])
        assert message["content-type"] == celerys["content-type"] == "application/json"


def test_sent_from_inside_a_task_it_names_the_task_as_its_parent_and_root_as_send_task_does(
    redis_url: str,
) -> None:
    app = _app(redis_url)
    publisher = TaskPublisher(app)

    @app.task(name="specgoods.test_parent", shared=False)
    def parent_task() -> None:
        _publish(publisher, 1)
        app.send_task(TASK, kwargs={"application_id": 2}, task_id="task-2")

    parent_task.apply(task_id="the-parent")
    publisher.close()
    ours, celerys = _messages(redis_url)
    assert (ours["headers"]["parent_id"], ours["headers"]["root_id"]) == ("the-parent", "the-parent")
    assert (celerys["headers"]["parent_id"], celerys["headers"]["root_id"]) == ("the-parent", "the-parent")


def test_no_task_of_ours_has_options_of_its_own_which_send_task_would_add(
    make_container: Callable[..., Container], sqlite_url: str
) -> None:
    app = create_celery_app(make_container(sqlite_url))
    ours = {name: task for name, task in app.tasks.items() if name.startswith("specgoods.")}
    assert len(ours) > 10
    settings = celery_settings(load_settings())
    own = {name: options for name, task in ours.items() if (options := _set(task._get_exec_options(), settings))}
    assert own == {}  # but the serializer, which is the settings' own: the one `send_task_message` uses anyway
    assert app.conf.task_ignore_result and app.conf.result_backend is None  # the result object is not needed


def _set(options: dict[str, Any], settings: dict[str, Any]) -> dict[str, Any]:
    """The options a task sets of its own: neither unset nor the settings' value."""
    return {key: value for key, value in options.items() if value is not None and value != settings.get(f"task_{key}")}


def _body(message: dict[str, Any]) -> str:
    assert message["properties"]["body_encoding"] == "base64"
    return base64.b64decode(message["body"]).decode()


IDS = {"id", "root_id", "correlation_id", "delivery_tag", "x-request-id", "kwargsrepr"}  # each message's own


def _without_ids(fields: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in fields.items() if key not in IDS}


def test_a_queue_is_declared_by_the_first_publish_on_a_connection_and_by_the_first_on_a_new_one(
    redis_url: str,
) -> None:
    client = redis.Redis.from_url(redis_url)
    publisher = TaskPublisher(_app(redis_url))
    _publish(publisher, 1)
    assert client.exists(BINDING)
    client.delete(BINDING)  # as a broker that lost it would; kombu's record of the connection still holds it
    _publish(publisher, 2)
    assert not client.exists(BINDING), "declared again on a connection that had declared it"
    publisher.close()  # the next publish is on a new connection, whose record is empty
    _publish(publisher, 3)
    assert client.exists(BINDING)
    assert [message["headers"]["id"] for message in _messages(redis_url)] == ["task-1", "task-2", "task-3"]
    publisher.close()
    client.close()


def test_each_thread_publishes_on_a_connection_of_its_own_and_no_message_is_lost(redis_url: str) -> None:
    publisher = TaskPublisher(_app(redis_url))
    connections: list[Any] = []

    def publish_many(first: int) -> None:
        for number in range(first, first + 200):
            _publish(publisher, number)
        connections.append(publisher._threads.kept.connection)
        publisher.close()

    threads = [threading.Thread(target=publish_many, args=(first,)) for first in (0, 1000, 2000)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len({id(connection) for connection in connections}) == 3
    published = [message["headers"]["id"] for message in _messages(redis_url)]
    assert sorted(published) == sorted(f"task-{n}" for first in (0, 1000, 2000) for n in range(first, first + 200))


def _publish_in_child(publisher: TaskPublisher, inherited_id: int, answers: Any) -> None:
    _publish(publisher, 2)
    answers.put(id(publisher._threads.kept.connection) != inherited_id)
    publisher.close()


def test_a_forked_child_publishes_on_a_connection_of_its_own(redis_url: str) -> None:
    publisher = TaskPublisher(_app(redis_url))
    _publish(publisher, 1)
    inherited = publisher._threads.kept.connection
    context = multiprocessing.get_context("fork")
    answers = context.Queue()
    child = context.Process(target=_publish_in_child, args=(publisher, id(inherited), answers))
    child.start()
    child.join(timeout=60)
    assert child.exitcode == 0 and answers.get(timeout=5) is True
    _publish(publisher, 3)  # the parent's connection is still its own and still works
    assert publisher._threads.kept.connection is inherited
    assert [message["headers"]["id"] for message in _messages(redis_url)] == ["task-1", "task-2", "task-3"]
    publisher.close()


def test_a_failed_publish_raises_and_does_not_keep_its_connection() -> None:
    publisher = TaskPublisher(_app(f"redis://127.0.0.1:{free_port()}/0"))  # nothing listens there
    with pytest.raises(Exception) as raised:
        publisher.send(TASK, {"application_id": 1}, "task-1", retry=True, retry_policy=RETRY)
    assert "connect" in str(raised.value).lower() or "refused" in str(raised.value).lower()
    assert getattr(publisher._threads, "kept", None) is None
