"""The demo serves through gunicorn (one process: its in-memory broker, worker and beat live there), never through
Flask's development server, and stops cleanly on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

from tests.conftest import wait_for
from tests.private_services import free_port


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return int(response.status)
    except OSError:
        return 0


def test_the_embedded_demo_is_served_by_gunicorn_with_one_worker_process_and_no_development_server(
    tmp_path: Path,
) -> None:
    environment = {key: value for key, value in os.environ.items() if not key.startswith("SPECGOODS_")}
    environment |= {"SPECGOODS_INSTANCE_PATH": str(tmp_path / "instance"), "HOME": str(tmp_path)}
    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("wb") as handle:
        server = subprocess.Popen(
            [sys.executable, "-m", "cli", "serve", "--port", str(port)],
            env=environment,
            stdout=handle,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for(
            lambda: server.poll() is not None or _status(f"http://127.0.0.1:{port}/healthz") == 200,
            timeout=120,
            interval=0.2,
            what="the demo server's /healthz",
        )
        assert server.poll() is None, log.read_text()[-3000:]
    finally:
        server.send_signal(signal.SIGTERM)
        code = server.wait(timeout=60)
    output = log.read_text()
    assert code == 0, output[-3000:]
    assert "gunicorn" in output and "Using worker: gthread" in output
    assert output.count("Booting worker") == 1
    assert "development server" not in output
    assert not (tmp_path / ".gunicorn").exists(), "no control socket in the user's home"
