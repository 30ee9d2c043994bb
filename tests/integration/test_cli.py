"""The `specgoods` command line as a user runs it: real subprocesses, exit codes and one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select

from workflow.store.tables import ApplicationRow, AuditEventRow, UserRow

COMMANDS = [
    ["serve"],
    ["worker"],
    ["beat"],
    ["db"],
    ["db", "upgrade"],
    ["demo"],
    ["users"],
    ["users", "create"],
    ["precheck"],
    ["diagrams"],
]


def run(args: list[str], instance: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {key: value for key, value in os.environ.items() if not key.startswith("SPECGOODS_")}
    environment |= {"SPECGOODS_INSTANCE_PATH": str(instance), **env}
    return subprocess.run(
        [sys.executable, "-m", "cli", *args],
        capture_output=True,
        text=True,
        env=environment,
        timeout=180,
        check=False,
    )


@pytest.mark.parametrize("command", COMMANDS, ids=["-".join(c) for c in COMMANDS])
def test_every_command_has_help(command: list[str], tmp_path: Path) -> None:
    result = run([*command, "--help"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Usage:" in result.stdout


def test_demo_loads_once_and_a_second_run_changes_nothing(tmp_path: Path) -> None:
    first = run(["demo"], tmp_path)
    assert first.returncode == 0, first.stderr
    engine = create_engine(f"sqlite:///{tmp_path / 'specgoods.sqlite3'}")

    def counts() -> tuple[int, int, int]:
        with engine.connect() as connection:
            return tuple(
                connection.scalar(select(func.count()).select_from(table))  # type: ignore[return-value]
                for table in (ApplicationRow, UserRow, AuditEventRow)
            )

    before = counts()
    assert before[0] >= 9 and before[1] >= 37 and before[2] > before[0]
    second = run(["demo"], tmp_path)
    assert second.returncode == 0, second.stderr
    assert "already loaded" in second.stdout
    assert counts() == before
    with engine.connect() as connection:
        states = set(connection.scalars(select(ApplicationRow.state)))
    assert {
        "draft",
        "submitted",
        "accepted",
        "under_review",
        "risk_assessment",
        "granted",
        "not_accepted",
        "correction_requested",
    } <= states
    engine.dispose()


def test_precheck_prints_the_decisions_with_rule_ids(tmp_path: Path) -> None:
    example = Path("docs/examples/precheck")
    files = sorted(example.glob("*.json"))
    assert files, "docs/examples/precheck has the documented examples"
    result = run(["precheck", str(files[0]), "--district", "xiamen", "--date", "2016-06-01"], tmp_path)
    assert result.returncode == 0, result.stderr
    output = json.loads(result.stdout)
    assert "xiamen-2016" in json.dumps(output)
    assert "rule_ids" in json.dumps(output)


@pytest.mark.parametrize(
    ("content", "field"),
    [
        ('{"direction": "sideways", "applicant": {}, "lines": []}', "direction"),
        (
            '{"direction": "entry", "applicant": {}, "lines": [{"name_zh": "x", "unit": "支", "quantity": -1}]}',
            "lines.0.quantity",
        ),
        ("not json", "FILE"),
    ],
    ids=["unknown-direction", "negative-quantity", "not-json"],
)
def test_precheck_bad_input_exits_2_naming_the_field_without_a_traceback(
    tmp_path: Path, content: str, field: str
) -> None:
    request = tmp_path / "request.json"
    request.write_text(content, encoding="utf-8")
    result = run(["precheck", str(request)], tmp_path)
    assert result.returncode == 2
    assert field in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_worker_refuses_to_start_in_embedded_mode_with_one_line(tmp_path: Path) -> None:
    result = run(["worker"], tmp_path)
    assert result.returncode == 2
    assert "SPECGOODS_REDIS_URL" in result.stderr and "Traceback" not in result.stderr


def test_an_unreachable_database_is_one_line_and_exit_1(tmp_path: Path) -> None:
    result = run(
        ["db", "upgrade"],
        tmp_path,
        SPECGOODS_DATABASE_URL="postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=2",
    )
    assert result.returncode == 1
    assert result.stderr.startswith("specgoods: error: database unreachable") and "Traceback" not in result.stderr


def test_users_create_makes_an_officer_and_refuses_a_duplicate(tmp_path: Path) -> None:
    assert run(["db", "upgrade"], tmp_path).returncode == 0
    args = [
        "users",
        "create",
        "--username",
        "xm.reviewer2",
        "--role",
        "reviewer",
        "--district",
        "xiamen",
        "--password",
        "pw-123456",
    ]
    assert run(args, tmp_path).returncode == 0
    again = run(args, tmp_path)
    assert again.returncode == 2 and "already exists" in again.stderr


def test_production_without_secret_key_refuses_to_start(tmp_path: Path) -> None:
    result = run(["db", "upgrade"], tmp_path, SPECGOODS_ENV="production")
    assert result.returncode == 2
    assert "SPECGOODS_SECRET_KEY" in result.stderr and "Traceback" not in result.stderr


def test_diagrams_check_passes_on_the_committed_docs(tmp_path: Path) -> None:
    result = run(["diagrams", "--check"], tmp_path)
    assert result.returncode == 0, result.stderr


def test_a_malformed_policy_profile_stops_start_up_naming_file_key_and_reason(tmp_path: Path) -> None:
    policies = tmp_path / "policies"
    policies.mkdir()
    for source in Path("config/policies").glob("*.toml"):
        (policies / source.name).write_text(source.read_text(encoding="utf-8"), encoding="utf-8")
    broken = policies / "xiamen-2016.toml"
    broken.write_text(broken.read_text(encoding="utf-8").replace("A = 3", "A = -3", 1), encoding="utf-8")
    result = run(["db", "upgrade"], tmp_path, SPECGOODS_POLICIES_DIR=str(policies))
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "xiamen-2016.toml" in result.stderr and "validity_months.A" in result.stderr
