"""kombu's Redis transport, keeping one Redis client per channel instead of building one for every command it sends.

kombu's Redis channel makes a new `redis.Redis` object for each publish, acknowledgement and QoS update that does
not bring its own (`Channel.conn_or_acquire`), and building one copies redis-py's table of response callbacks: about
as much client CPU as the command's own round trip (docs/performance.md). A client is only a handle on the
channel's connection pool, safe to share between threads, so one per channel and pool does: connections, their
retries, the visibility timeout and the redelivery of unacknowledged messages are the pool's and kombu's as before.
Named in the Celery settings as the broker transport (config/celery_config.py).
"""

from __future__ import annotations

from typing import Any

from kombu.transport import redis as kombu_redis


class Channel(kombu_redis.Channel):  # type: ignore[misc]  # kombu has no type hints
    """A channel whose plain (not asynchronous) client is built once for its current pool."""

    _kept_client: Any = None

    def _create_client(self, asynchronous: bool = False) -> Any:
        if asynchronous:
            return super()._create_client(asynchronous=True)
        kept = self._kept_client
        if kept is None or kept.connection_pool is not self.pool:  # a pool replaced after a reconnect: a new client
            kept = self._kept_client = super()._create_client()
        return kept


class Transport(kombu_redis.Transport):  # type: ignore[misc]
    """The Redis transport with that channel."""

    Channel = Channel
