"""The set-up scripts pass shellcheck (scripts/services installs it, so a missing shellcheck fails, never skips)."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_script_the_quick_start_and_ci_run_is_shellcheck_clean() -> None:
    scripts = [*sorted(path for path in (ROOT / "scripts").rglob("*") if path.is_file()), ROOT / ".ci" / "run"]
    result = subprocess.run(
        ["shellcheck", "-x", *[str(path.relative_to(ROOT)) for path in scripts]],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert {path.name for path in scripts} >= {"demo", "install", "services", "pdf-packages", "test", "apt.sh"}
