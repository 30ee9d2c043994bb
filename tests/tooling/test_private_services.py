"""Two test runs on one machine cannot meet in Redis: each gets a redis-server of its own (private_services)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.conftest import wait_for
from tests.private_services import PrivateRedis

ROOT = Path(__file__).resolve().parents[2]
# One "run": starts its private server the way the session fixture does, says its URL and pid, waits for stdin.
RUN = """
import sys
from pathlib import Path
from tests.private_services import PrivateRedis
server = PrivateRedis.start(Path(sys.argv[1]))
print(server.url, server.process.pid, flush=True)
sys.stdin.read()
server.stop()
"""


class Run:
    def __init__(self, folder: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", RUN, str(folder)],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        url, pid = self.process.stdout.readline().split()
        self.url, self.server_pid = url, int(pid)

    def finish(self) -> None:
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                stream.close()
        self.process.wait(timeout=30)


@pytest.fixture
def two_runs(tmp_path: Path) -> Iterator[tuple[Run, Run]]:
    runs = (Run(tmp_path / "one"), Run(tmp_path / "two"))
    yield runs
    for run in runs:
        run.finish()


def test_two_runs_side_by_side_get_servers_of_their_own_and_never_see_each_others_queues(
    two_runs: tuple[Run, Run],
) -> None:
    one, two = two_runs
    assert one.url != two.url
    with redis.Redis.from_url(one.url) as first, redis.Redis.from_url(two.url) as second:
        first.lpush("screening", "task of run one")
        second.flushdb()  # what every test of the other run does before it starts
        assert first.lrange("screening", 0, -1) == [b"task of run one"]
        assert second.exists("screening") == 0
        assert int(first.info("server")["process_id"]) == one.server_pid
        assert int(second.info("server")["process_id"]) == two.server_pid


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_the_private_server_dies_with_a_run_that_is_killed(tmp_path: Path) -> None:
    run = Run(tmp_path / "killed")
    assert _alive(run.server_pid)
    run.process.send_signal(signal.SIGKILL)
    run.finish()
    wait_for(lambda: not _alive(run.server_pid), timeout=20, what="the orphaned redis-server to exit")


def test_a_port_another_server_took_first_is_never_mistaken_for_ours(tmp_path: Path) -> None:
    first = PrivateRedis.start(tmp_path / "first")
    try:
        late = PrivateRedis._launch(first.process.args[0], tmp_path / "late", first.port)
        assert late.wait_until_ready() is False
        late.stop()
        second = PrivateRedis.start(tmp_path / "second")
        assert second.port != first.port
        second.stop()
    finally:
        first.stop()
