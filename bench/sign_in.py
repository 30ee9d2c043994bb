"""Sign-in cost: Argon2id with argon2-cffi's defaults (the old setting) against web/passwords.py's, as ratios.

Run from the repository root: `.venv/bin/python bench/sign_in.py [--seconds 3] [--load 4]`. About 30 s.
It times, in this one process:

- hashes/s:  password checks per second on one thread, old and new parameters;
- under load: `--load` threads checking at once (a web host's request threads on 2 cores), p50/p95 latency of
  one check, old and new: what a sign-in waits for while others sign in too;
- HTTP Basic: `GET /api/v1/me` through the WSGI app on a scratch SQLite database, with HTTP Basic (new parameters)
  on the first request and on the ones after it (remembered, web/passwords.py), and with an API token.

Figures go into docs/deployment.md#sign-in-cost.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

from argon2 import PasswordHasher
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from config.bootstrap import bootstrap
from config.settings import load_settings
from web import create_app
from web.passwords import HASHER
from workflow.domain.actors import Role
from workflow.store.accounts import issue_token
from workflow.store.directory import create_user
from workflow.store.migrate import upgrade

PASSWORD = "correct horse battery staple"
OLD = PasswordHasher()  # argon2-cffi's default: RFC 9106's low-memory profile, 64 MiB, 3 passes, 4 lanes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--load", type=int, default=4)
    args = parser.parse_args()
    print(f"old: {describe(OLD)}\nnew: {describe(HASHER)}\n")
    old_rate, new_rate = rate(OLD, args.seconds), rate(HASHER, args.seconds)
    print(f"hashes/s, one thread:      old {old_rate:7.1f}   new {new_rate:7.1f}   new/old {new_rate / old_rate:5.1f}x")
    old, new = under_load(OLD, args.load, args.seconds), under_load(HASHER, args.load, args.seconds)
    for name, before, after in (("p50", old[0], new[0]), ("p95", old[1], new[1])):
        ratio = before / after
        print(f"one check, {args.load} at once, {name}: old {before:7.1f} ms new {after:7.1f} ms old/new {ratio:5.1f}x")
    first, again, token = http_basic()
    print(f"\nGET /api/v1/me (p50): Basic first {first:6.1f} ms, Basic again {again:6.1f} ms, token {token:6.1f} ms")
    print(f"Basic again/token {again / token:4.1f}x; Basic first/again {first / again:5.1f}x")


def describe(hasher: PasswordHasher) -> str:
    return f"{hasher.memory_cost // 1024} MiB, {hasher.time_cost} passes, {hasher.parallelism} lanes"


def rate(hasher: PasswordHasher, seconds: float) -> float:
    stored, done, started = hasher.hash(PASSWORD), 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        hasher.verify(stored, PASSWORD)
        done += 1
    return done / (time.perf_counter() - started)


def under_load(hasher: PasswordHasher, threads: int, seconds: float) -> tuple[float, float]:
    """argon2-cffi releases the GIL while hashing, so threads contend for the cores as request threads do."""
    stored, times, deadline = hasher.hash(PASSWORD), [], time.perf_counter() + seconds

    def work() -> None:
        while time.perf_counter() < deadline:
            times.append(timed(lambda: hasher.verify(stored, PASSWORD)))

    running = [threading.Thread(target=work) for _ in range(threads)]
    for thread in running:
        thread.start()
    for thread in running:
        thread.join()
    return statistics.median(times), statistics.quantiles(times, n=20)[-1]


def timed(call: Callable[[], object]) -> float:
    started = time.perf_counter()
    call()
    return (time.perf_counter() - started) * 1000


def http_basic() -> tuple[float, float, float]:
    """First Basic request per fresh password (pays Argon2), then the same again (remembered), then a token."""
    with tempfile.TemporaryDirectory() as scratch:
        url = f"sqlite:///{scratch}/bench.sqlite3"
        upgrade(url)
        container = bootstrap(load_settings(database_url=url, instance_path=Path(scratch), log_level="WARNING"))
        client = create_app(container).test_client()
        now = datetime.now(UTC)
        with container.sessions() as session, session.begin():
            users = [_user(session, f"bench{n}", now) for n in range(20)]
            token = issue_token(session, users[0], "bench", now, timedelta(days=1)).token
        me = "/api/v1/me"
        first = [timed(partial(client.get, me, auth=(f"bench{n}", PASSWORD))) for n in range(len(users))]
        again = [timed(lambda: client.get(me, auth=("bench0", PASSWORD))) for _ in range(50)]
        bearer = [timed(lambda: client.get(me, headers={"Authorization": f"Bearer {token}"})) for _ in range(50)]
        container.dispose()
    return statistics.median(first), statistics.median(again), statistics.median(bearer)


def _user(session: Session, name: str, now: datetime) -> int:
    row = create_user(session, username=name, role=Role.AUDITOR, password_hash=HASHER.hash(PASSWORD), now=now)
    return int(row.id)


if __name__ == "__main__":
    main()
