"""The Redis broker seen from outside Celery: a PING and the queues' lengths, each with a short socket timeout.

Readiness and the metrics scrape ask these; neither waits on Celery's own connection retries.
"""

from __future__ import annotations

from collections.abc import Iterable

import redis

SOCKET_TIMEOUT = 0.25  # a Redis that has not answered in a quarter second is, for a probe, not answering


def _client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=SOCKET_TIMEOUT, socket_connect_timeout=SOCKET_TIMEOUT)


def ping(url: str) -> None:
    """Raises when the broker does not answer PONG in time."""
    with _client(url) as client:
        client.ping()


def queue_depths(url: str, queues: Iterable[str]) -> dict[str, int]:
    """Messages waiting in each queue (kombu keeps a queue as a Redis list named after it), in one round trip."""
    names = list(queues)
    with _client(url) as client:
        pipeline = client.pipeline(transaction=False)
        for name in names:
            pipeline.llen(name)
        return {name: int(length) for name, length in zip(names, pipeline.execute(), strict=True)}
