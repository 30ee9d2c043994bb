"""The documented client (docs/api/example_client.py) runs as a separate process against a live server."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from tests.api.conftest import PASSWORD, World
from web.context import HASHER
from workflow.store.tables import UserRow

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "api" / "example_client.py"


@pytest.fixture
def live_url(world: World) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, world.client.application, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)


def test_the_python_example_files_an_application_and_follows_it_to_a_write_off(world: World, live_url: str) -> None:
    with world.container.sessions() as session, session.begin():
        for user in session.query(UserRow).filter(UserRow.username.like("xiamen.%")):
            user.password_hash = HASHER.hash(PASSWORD)
    command = [sys.executable, str(EXAMPLE), "--base-url", live_url, "--password", PASSWORD, "--run", "run1"]
    finished = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert finished.returncode == 0, finished.stderr
    result = json.loads(finished.stdout.strip().splitlines()[-1])
    assert result["certificate"]["grade"] == "C"
    assert result["declaration"]["state"] in ("released", "follow_up_pending")
    assert result["remaining"]["lines"][0]["remaining_qty"] == "70"
    assert [entry["kind"] for entry in result["write_offs"]][:2] == ["commit", "reserve"]
    again = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert again.returncode == 0, again.stderr  # the same run's keys replay: nothing is filed or drawn twice
    assert json.loads(again.stdout.strip().splitlines()[-1])["remaining"]["lines"][0]["remaining_qty"] == "70"
