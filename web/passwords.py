"""Password hashing: the Argon2id parameters for this class of machine, rehashing, and a short memory of checks.

Parameters (docs/deployment.md#sign-in-cost, measured by bench/sign_in.py): OWASP's Argon2id setting of 19 MiB,
2 passes, 1 lane. argon2-cffi's default (64 MiB, 3 passes, 4 lanes) costs several times more per check, and on a
2-core web host 4 lanes only queue behind each other, so under load a sign-in waited for its turn seconds long.
A stored hash with other parameters is replaced at the next sign-in (`fresh_hash`).

HTTP Basic on every API call would pay one hash per request. `RecentChecks` remembers, for two minutes, that a
password matched a stored hash: keyed by a keyed hash (HMAC-SHA256 with a key made at process start and kept
nowhere) of the stored hash and the password. A new password means a new stored hash, so the old entry can never
match again; a disabled account is not found before the password is checked at all; a failure is never
remembered. API clients should still use tokens (`POST /api/v1/tokens`): they cost one database read.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from argon2 import PasswordHasher

TIME_COST, MEMORY_KIB, LANES = 2, 19 * 1024, 1
HASHER = PasswordHasher(time_cost=TIME_COST, memory_cost=MEMORY_KIB, parallelism=LANES)
REMEMBER_SECONDS = 120.0
REMEMBER_AT_MOST = 4096  # entries, 32 bytes each: a bounded memory whatever the clients do


def fresh_hash(stored: str, password: str) -> str | None:
    """A new hash of a password that just matched `stored`, when `stored` is not Argon2id with today's parameters."""
    stale = not stored.startswith("$argon2") or HASHER.check_needs_rehash(stored)
    return HASHER.hash(password) if stale else None


class RecentChecks:
    """Which (stored hash, password) pairs matched within `ttl` seconds, in this process only; thread-safe."""

    def __init__(
        self, ttl: float = REMEMBER_SECONDS, size: int = REMEMBER_AT_MOST, now: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl, self.size, self.now = ttl, size, now
        self._key = os.urandom(32)
        self._seen: OrderedDict[bytes, float] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0

    def matched(self, stored: str, password: str) -> bool:
        """True when this pair matched within `ttl`: the password need not be hashed again."""
        digest, now = self._digest(stored, password), self.now()
        with self._lock:
            until = self._seen.get(digest)
            if until is None or until < now:
                self._seen.pop(digest, None)
                return False
            self.hits += 1
            return True

    def remember(self, stored: str, password: str) -> None:
        """Only ever after Argon2 said the password matches `stored`."""
        digest = self._digest(stored, password)
        with self._lock:
            self._seen[digest] = self.now() + self.ttl
            self._seen.move_to_end(digest)
            while len(self._seen) > self.size:
                self._seen.popitem(last=False)

    def _digest(self, stored: str, password: str) -> bytes:
        message = stored.encode() + b"\0" + password.encode("utf-8", "surrogatepass")
        return hmac.new(self._key, message, hashlib.sha256).digest()


RECENT = RecentChecks()
