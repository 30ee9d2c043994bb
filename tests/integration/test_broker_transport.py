"""The Redis transport keeps one client per channel and pool (config/broker_transport.py): every message still
arrives, a replaced pool gets a client of its own, and the embedded default's in-memory broker is left as it is."""

from __future__ import annotations

import redis
from celery import Celery

from config.broker_transport import Channel
from config.celery_config import celery_settings
from config.settings import load_settings
from tests.integration.support import celery_on

QUEUE = "transport_test"


def _app(redis_url: str) -> Celery:
    return celery_on(redis_url, "transport-test")


def test_publishes_share_one_client_and_every_message_arrives(redis_url: str) -> None:
    app = _app(redis_url)
    with app.connection_for_write() as connection:
        channel = connection.default_channel
        assert isinstance(channel, Channel)
        first = channel._create_client()
        assert channel._create_client() is first  # kombu's own channel builds a new one each time
        with app.producer_or_acquire() as producer:
            for number in range(5):
                app.send_task("specgoods.nothing", kwargs={"number": number}, queue=QUEUE, producer=producer)
    assert redis.Redis.from_url(redis_url).llen(QUEUE) == 5


def test_a_replaced_pool_gets_a_client_of_its_own(redis_url: str) -> None:
    with _app(redis_url).connection_for_write() as connection:
        channel = connection.default_channel
        before = channel._create_client()
        channel._pool = None  # as after the channel's connection was lost and a new pool is made
        after = channel._create_client()
        assert after is not before and after.connection_pool is channel.pool
        assert after.ping()


def test_the_in_memory_broker_keeps_its_own_transport() -> None:
    settings = celery_settings(load_settings(redis_url=""))
    assert "broker_transport" not in settings and settings["broker_url"].startswith("memory://")
