"""Sign-in throttling per account and source: a few free failures, then a growing wait (429 with `Retry-After`).

Failures are counted per pair (user name, client source), so nobody can lock another person out: an attacker's
guesses slow down only the attacker's own address for that name. A looser count per source over every name stops one
address spraying one password over many names. A success clears its pair. Counters live in Redis, shared by every
gunicorn worker; when Redis cannot be reached they live in this process (logged once, and once when it is back).
"""

from __future__ import annotations

import ipaddress
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

import redis

from web.outages import OutageLog
from workflow.domain.errors import DomainError

T = TypeVar("T")
KEY_PREFIX = "specgoods-sign-in"
SHARED_RETRY_SECONDS = 5.0  # while Redis is down, ask it again this often, not on every sign-in
REDIS_TIMEOUT_SECONDS = 0.5  # a sign-in must not hang on an unreachable Redis: fall back to local counts instead
SHARED = "sign-in counters (Redis)"
IPV6_GROUP = 64  # one IPv6 host owns a whole /64, so an address inside it is no new source


class TooManyAttempts(DomainError):
    """Too many failed sign-ins for this name from this source (or from this source overall): wait and retry."""

    status = 429

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many failed sign-ins; try again in {retry_after} s")
        self.retry_after = retry_after


@dataclass(frozen=True)
class ThrottlePolicy:
    """How many failures are free, and how the wait grows after them (doubling from `first_delay` to `max_delay`)."""

    free_failures: int = 10
    source_free_failures: int = 100
    first_delay: float = 30.0
    max_delay: float = 900.0
    forget_pair_after: float = 86400.0  # a pair's failures are forgotten a day after the last one (or at a success)
    forget_source_after: float = 3600.0

    def delay(self, failures: int, free: int) -> float:
        """The wait after the `failures`-th failure: none while free, then doubling up to the cap."""
        if failures < free:
            return 0.0
        doublings = min(failures - free, 32)  # bounded: the cap is reached long before, and no float overflows
        return float(min(self.first_delay * 2.0**doublings, self.max_delay))


class Counters(Protocol):
    def blocked_until(self, key: str) -> float: ...
    def fail(self, key: str, forget_after: float) -> int: ...
    def block(self, key: str, until: float) -> None: ...
    def clear(self, key: str) -> None: ...


class LocalCounters:
    """Counters in this process: the embedded mode's, and the fallback while Redis is down."""

    MAX_KEYS = 100_000  # past this, expired entries are swept; a flood of names cannot grow memory for ever

    def __init__(self) -> None:
        self._entries: dict[str, list[float]] = {}  # key -> [failures, blocked until, forget at]
        self._lock = threading.Lock()

    def blocked_until(self, key: str) -> float:
        with self._lock:
            entry = self._entries.get(key)
            return entry[1] if entry and entry[2] > time.time() else 0.0

    def fail(self, key: str, forget_after: float) -> int:
        with self._lock:
            if len(self._entries) >= self.MAX_KEYS:
                self._sweep()
            entry = self._entries.get(key)
            if entry is None or entry[2] <= time.time():
                entry = self._entries[key] = [0.0, 0.0, 0.0]
            entry[0] += 1
            entry[2] = time.time() + forget_after
            return int(entry[0])

    def block(self, key: str, until: float) -> None:
        with self._lock:
            if key in self._entries:
                self._entries[key][1] = until

    def clear(self, key: str) -> None:
        with self._lock:
            self._entries.pop(key, None)

    def _sweep(self) -> None:
        now = time.time()
        for key in [key for key, entry in self._entries.items() if entry[2] <= now]:
            del self._entries[key]


class RedisCounters:
    """Counters shared by every worker: one hash per key (failures, blocked until), expiring with its last failure."""

    def __init__(self, url: str) -> None:
        self._redis = redis.Redis.from_url(
            url, socket_connect_timeout=REDIS_TIMEOUT_SECONDS, socket_timeout=REDIS_TIMEOUT_SECONDS
        )

    def blocked_until(self, key: str) -> float:
        value = self._redis.hget(key, "until")
        return float(value) if value is not None else 0.0

    def fail(self, key: str, forget_after: float) -> int:
        pipeline = self._redis.pipeline()  # MULTI/EXEC: the count and its expiry move together
        pipeline.hincrby(key, "failures", 1)
        pipeline.expire(key, math.ceil(forget_after))
        failures, _expiry = pipeline.execute()
        return int(failures)

    def block(self, key: str, until: float) -> None:
        self._redis.hset(key, "until", repr(until))

    def clear(self, key: str) -> None:
        self._redis.delete(key)


class SignInThrottle:
    """Asked before every password check (`check`) and told its outcome (`failed`, `succeeded`)."""

    def __init__(
        self, policy: ThrottlePolicy, shared: Counters | None = None, clock: Callable[[], float] = time.time
    ) -> None:
        self.policy = policy
        self.clock = clock  # the wall clock; tests set a clock they move, to see the waits grow
        self._local = LocalCounters()
        self._shared = shared
        self._shared_retry_at = 0.0
        self._outage = OutageLog()

    def check(self, name: str, source: str) -> None:
        """TooManyAttempts while the pair or the source must wait; the password is not even looked at."""
        keys = (_pair_key(name, source), _source_key(source))
        until = max(self._each(lambda counters: max(counters.blocked_until(key) for key in keys)))
        wait = until - self.clock()
        if wait > 0:
            raise TooManyAttempts(max(1, math.ceil(wait)))

    def failed(self, name: str, source: str) -> None:
        policy = self.policy
        self._count(_pair_key(name, source), policy.free_failures, policy.forget_pair_after)
        self._count(_source_key(source), policy.source_free_failures, policy.forget_source_after)

    def succeeded(self, name: str, source: str) -> None:
        """The pair starts afresh; the source's count stays, or one valid account would reset a spray."""
        key = _pair_key(name, source)
        self._each(lambda counters: counters.clear(key))

    def _count(self, key: str, free: int, forget_after: float) -> None:
        def count(counters: Counters) -> None:
            delay = self.policy.delay(counters.fail(key, forget_after), free)
            if delay:
                counters.block(key, self.clock() + delay)

        self._one(count)

    def _each(self, operation: Callable[[Counters], T]) -> list[T]:
        """On this process's counters always (a wait begun while Redis was down still holds), and on Redis if up."""
        results = [operation(self._local)]
        if self._shared is not None and self._shared_may_answer():
            try:
                results.append(operation(self._shared))
            except redis.RedisError as error:
                self._shared_down(error)
            else:
                self._outage.up(SHARED)
        return results

    def _one(self, operation: Callable[[Counters], T]) -> T:
        """On Redis when it answers, else on this process's counters."""
        if self._shared is not None and self._shared_may_answer():
            try:
                result = operation(self._shared)
            except redis.RedisError as error:
                self._shared_down(error)
            else:
                self._outage.up(SHARED)
                return result
        return operation(self._local)

    def _shared_may_answer(self) -> bool:
        return time.monotonic() >= self._shared_retry_at

    def _shared_down(self, error: BaseException) -> None:
        self._shared_retry_at = time.monotonic() + SHARED_RETRY_SECONDS
        self._outage.down(SHARED, error, "counting failed sign-ins in this process meanwhile")


def client_source(remote_addr: str | None) -> str:
    """The client's address as the throttle counts it (after ProxyFix, so the client's, not the proxy's)."""
    try:
        address = ipaddress.ip_address(remote_addr or "")
    except ValueError:
        return remote_addr or "unknown"
    if address.version == 6:
        return str(ipaddress.ip_network(f"{address}/{IPV6_GROUP}", strict=False))
    return str(address)


def _pair_key(name: str, source: str) -> str:
    return f"{KEY_PREFIX}:pair:{source}:{name}"


def _source_key(source: str) -> str:
    return f"{KEY_PREFIX}:source:{source}"
