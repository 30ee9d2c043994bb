"""Long command-line work shows progress on stderr, and stdout stays what a script reads (`--json` stays one document).

Real subprocesses on an embedded (SQLite) instance loaded with the demo; the terminal case runs stderr on a pty.
"""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select

from workflow.store.migrate import pending_revisions
from workflow.store.tables import CertificateRow

REPO_ROOT = Path(__file__).resolve().parents[2]
COUNT_LINE = re.compile(r"^specgoods: verifying the audit chain: (\d+)/(\d+)$")


def environment(instance: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("SPECGOODS_")}
    return env | {"SPECGOODS_INSTANCE_PATH": str(instance)}


def run(instance: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "cli", *args]
    return subprocess.run(command, capture_output=True, text=True, env=environment(instance), timeout=180, check=False)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An instance with the demo loaded and its audit events sealed, so the chain has something to verify."""
    instance = tmp_path_factory.mktemp("progress") / "instance"
    for args in (["demo"], ["audit", "seal"]):
        result = run(instance, *args)
        assert result.returncode == 0, result.stderr
    return instance


def test_db_upgrade_announces_each_pending_revision_on_stderr_before_it_runs(tmp_path: Path) -> None:
    first = run(tmp_path, "db", "upgrade", "--revision", "0003")
    assert first.returncode == 0, first.stderr
    assert first.stderr.splitlines() == [
        "specgoods: migration 0001 (1/3): initial schema",
        "specgoods: migration 0002 (2/3): statutory clock on the application (R19-R22)",
        "specgoods: migration 0003 (3/3): write-off ledger",
    ]
    assert first.stdout.startswith("database at 0003: sqlite:")

    rest = run(tmp_path, "db", "upgrade")
    announced = [line.split()[2] for line in rest.stderr.splitlines()]
    assert rest.returncode == 0 and announced[0] == "0004" and len(announced) > 10
    assert pending_revisions(f"sqlite:///{tmp_path / 'specgoods.sqlite3'}") == []
    assert run(tmp_path, "db", "upgrade").stderr == ""  # nothing pending, nothing announced


def test_chain_verification_counts_to_the_total_on_stderr_and_keeps_its_table_on_stdout(demo: Path) -> None:
    result = run(demo, "audit", "verify", "--jobs", "1")
    assert result.returncode == 0, result.stderr
    counts = [COUNT_LINE.fullmatch(line) for line in result.stderr.splitlines()]
    assert counts and all(counts), result.stderr
    pairs = [(int(match.group(1)), int(match.group(2))) for match in counts if match]
    assert pairs[0][0] == 0 and pairs[-1][0] == pairs[-1][1] > 0
    assert "audit trail OK" in result.stdout and "verifying" not in result.stdout


def test_json_output_is_one_document_and_progress_lines_are_held_back_off_a_terminal(demo: Path) -> None:
    result = run(demo, "audit", "verify", "--json", "--jobs", "1")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["ok"] is True
    assert result.stderr == ""


def test_on_a_terminal_the_bar_draws_on_stderr_while_json_on_stdout_stays_pure(demo: Path) -> None:
    reader, writer = pty.openpty()
    command = [sys.executable, "-m", "cli", "audit", "verify", "--json", "--jobs", "1"]
    env = environment(demo) | {"COLUMNS": "120", "TERM": "xterm"}
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=writer, env=env, cwd=REPO_ROOT) as process:
        os.close(writer)
        drawn = _read_all(reader)
        stdout = process.stdout.read() if process.stdout else b""
    assert process.returncode == 0
    assert json.loads(stdout)["ok"] is True
    assert "verifying the audit chain" in drawn and "\x1b[" in drawn  # a redrawn bar, not plain lines
    assert "specgoods: verifying" not in drawn


def test_evidence_export_names_each_phase_on_stderr_and_writes_one_line_on_stdout(demo: Path, tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{demo / 'specgoods.sqlite3'}")
    with engine.connect() as connection:
        number = connection.scalar(select(CertificateRow.certificate_no).limit(1))
    engine.dispose()
    pack = tmp_path / "pack.zip"
    result = run(demo, "audit", "export", "--certificate", str(number), "--output", str(pack))
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines()[:3] == [
        "specgoods: sealing waiting audit events and signing a checkpoint",
        "specgoods: collecting the events, the chain segment and the receipts",
        "specgoods: collecting the inspection draws",
    ]
    assert re.fullmatch(r"specgoods: zipping \d+ files", result.stderr.splitlines()[3])
    assert result.stdout.count("\n") == 1 and pack.exists()


def _read_all(reader: int) -> str:
    """What the child wrote to its terminal, until it closes it (EIO on Linux once the last writer is gone)."""
    chunks = []
    while True:
        try:
            chunk = os.read(reader, 4096)
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(reader)
    return b"".join(chunks).decode("utf-8", errors="replace")


def test_an_unknown_or_earlier_revision_is_bad_input_named_on_one_line(tmp_path: Path) -> None:
    assert run(tmp_path, "db", "upgrade", "--revision", "0002").returncode == 0
    for revision in ("0001", "no-such-revision"):
        result = run(tmp_path, "db", "upgrade", "--revision", revision)
        assert result.returncode == 2 and "Traceback" not in result.stderr
        assert result.stderr.startswith(f"specgoods: error: --revision: no upgrade to {revision}: "), result.stderr
