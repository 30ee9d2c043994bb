"""Services private to one test run: a `redis-server` of its own on a free port, so two runs on one machine (two
people, or CI beside a developer) never flush or consume each other's queues. PostgreSQL test databases are private
by name instead (tests/conftest.py: every name carries the run's id, and each is dropped when its fixture ends).

The server keeps nothing on disk, lives in the run's temporary folder and dies with the process that started it.
"""

from __future__ import annotations

import ctypes
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import redis

START_ATTEMPTS = 5
START_TIMEOUT = 20.0
_PR_SET_PDEATHSIG = 1
# Looked up before any fork: the child between fork and exec should do as little as it can.
_prctl = ctypes.CDLL(None, use_errno=True).prctl if sys.platform.startswith("linux") else None


class PrivateRedisError(RuntimeError):
    """The private Redis server could not be started: the run fails, it never falls back to a shared server."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now (someone may take it before we do: check after)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def stop_process(process: subprocess.Popen[bytes], timeout: float = 20) -> None:
    """SIGTERM, then SIGKILL if it is still there after `timeout` seconds."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _die_with_parent() -> None:
    """Linux: the server gets SIGTERM when the test process dies, even by SIGKILL (no orphan keeps the port)."""
    if _prctl is not None:
        _prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class PrivateRedis:
    """One `redis-server` owned by this process; `url` is database 0 of it."""

    process: subprocess.Popen[bytes]
    port: int
    folder: Path

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @classmethod
    def start(cls, folder: Path) -> PrivateRedis:
        """Start on a free port; another run may grab the same port first, so a lost race tries a new one."""
        executable = shutil.which("redis-server")
        if executable is None:
            raise PrivateRedisError(
                "redis-server is not installed: run scripts/services (apt-get install redis-server)"
            )
        for _ in range(START_ATTEMPTS):
            server = cls._launch(executable, folder, free_port())
            if server.wait_until_ready():
                return server
            server.stop()
        raise PrivateRedisError(f"redis-server did not start on a free port; see {folder / 'redis.log'}")

    @classmethod
    def _launch(cls, executable: str, folder: Path, port: int) -> PrivateRedis:
        folder.mkdir(parents=True, exist_ok=True)
        args = [executable, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(folder)]
        args += ["--save", "", "--appendonly", "no", "--protected-mode", "yes"]
        with (folder / "redis.log").open("ab") as log:
            process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent)
        return cls(process, port, folder)

    def wait_until_ready(self) -> bool:
        """True once the server on our port is *this* process (a lost port race answers with another's pid)."""
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline and self.process.poll() is None:
            if self._serving_pid() == self.process.pid:
                return True
            time.sleep(0.05)
        return False

    def _serving_pid(self) -> int | None:
        client = redis.Redis(port=self.port, socket_connect_timeout=0.5, socket_timeout=2)
        try:
            return int(client.info("server")["process_id"])
        except redis.RedisError:
            return None
        finally:
            client.close()

    def stop(self) -> None:
        stop_process(self.process)
