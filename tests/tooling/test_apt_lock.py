"""The set-up scripts' apt handling (scripts/lib/apt.sh): dpkg-query before apt-get, a held lock waited for visibly
and then reported with its holder and what to run, an optional step that never aborts the demo.

No root and no real apt-get: the lock is a file of the test's held by `flock` or by an fcntl lock (the kind dpkg
takes), `SPECGOODS_APT_GET` points at a recorder, and a stand-in `dpkg-query` on PATH makes packages missing.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LIB = ROOT / "scripts" / "lib" / "apt.sh"
# Holds the lock the way dpkg and apt do (fcntl), or the way flock(1) does; says "held" once it has it.
HOLDERS = {
    "fcntl": [sys.executable, "-c", "import fcntl,sys;f=open(sys.argv[1],'w');fcntl.lockf(f,fcntl.LOCK_EX);"
              "print('held',flush=True);sys.stdin.read()"],
    "flock": ["flock", "{lock}", "sh", "-c", "echo held; cat"],
}  # fmt: skip


@pytest.fixture(params=sorted(HOLDERS))
def held_lock(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Path, subprocess.Popen[str]]]:
    lock = tmp_path / "lock-frontend"
    lock.touch()
    args = [arg.replace("{lock}", str(lock)) for arg in HOLDERS[request.param]]
    if request.param == "fcntl":
        args.append(str(lock))
    holder = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    yield lock, holder
    release(holder)


def release(holder: subprocess.Popen[str]) -> None:
    if holder.poll() is None:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=10)
    if holder.stdout is not None:
        holder.stdout.close()


def env(tmp_path: Path, lock: Path, wait: int, **extra: str) -> dict[str, str]:
    recorder = tmp_path / "apt-get"
    recorder.write_text(f'#!/bin/sh\necho "$*" >> {tmp_path / "apt-get.calls"}\necho "Setting up fake (1.0) ..."\n')
    recorder.chmod(0o755)
    return {
        **os.environ,
        "SPECGOODS_APT_LOCKS": str(lock),
        "SPECGOODS_APT_LOCK_WAIT": str(wait),
        "SPECGOODS_APT_GET": str(recorder),
        **extra,
    }


def apt_calls(tmp_path: Path) -> list[str]:
    calls = tmp_path / "apt-get.calls"
    return calls.read_text().splitlines() if calls.exists() else []


def nothing_installed(tmp_path: Path) -> str:
    """A PATH whose dpkg-query knows no package: every package asked for is missing."""
    fake = tmp_path / "bin"
    fake.mkdir(exist_ok=True)
    (fake / "dpkg-query").write_text("#!/bin/sh\nexit 1\n")
    (fake / "dpkg-query").chmod(0o755)
    return f"{fake}:{os.environ['PATH']}"


def bash(snippet: str, environment: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", f'source "{LIB}"; {snippet}'], env=environment, capture_output=True, text=True, timeout=timeout
    )


def test_a_lock_held_past_the_bound_is_reported_with_its_holder_and_what_to_run(
    held_lock: tuple[Path, subprocess.Popen[str]], tmp_path: Path
) -> None:
    lock, holder = held_lock
    started = time.monotonic()
    result = bash("apt_wait_for_locks", env(tmp_path, lock, wait=1))
    assert result.returncode == 1
    assert time.monotonic() - started < 15
    assert f"waiting for {lock}, held by pid {holder.pid}" in result.stderr
    assert f"is held by pid {holder.pid}" in result.stderr
    assert f"ps -o pid,etime,args -p {holder.pid}" in result.stderr
    assert "SPECGOODS_APT_LOCK_WAIT=900" in result.stderr


def test_the_wait_ends_as_soon_as_the_holder_lets_go(
    held_lock: tuple[Path, subprocess.Popen[str]], tmp_path: Path
) -> None:
    lock, holder = held_lock
    waiting = subprocess.Popen(
        ["bash", "-c", f'source "{LIB}"; apt_wait_for_locks'],
        env=env(tmp_path, lock, wait=120),
        stderr=subprocess.PIPE,
        text=True,
    )
    assert waiting.stderr is not None
    with waiting.stderr:
        assert f"held by pid {holder.pid}" in waiting.stderr.readline()
        release(holder)
        assert waiting.wait(timeout=30) == 0


def test_apt_get_is_not_called_when_every_package_is_present(tmp_path: Path) -> None:
    result = bash("apt_ensure bash coreutils", env(tmp_path, tmp_path / "no-lock", wait=1))
    assert result.returncode == 0, result.stderr
    assert apt_calls(tmp_path) == []
    assert result.stdout == ""


def test_a_missing_package_is_installed_after_one_update(tmp_path: Path) -> None:
    environment = env(tmp_path, tmp_path / "no-lock", wait=1, PATH=nothing_installed(tmp_path))
    result = bash("apt_ensure fonts-noto-cjk fontconfig", environment)
    assert result.returncode == 0, result.stderr
    update, install = apt_calls(tmp_path)
    assert update.endswith("update -qq")
    assert install.endswith("install -y -q fonts-noto-cjk fontconfig")
    assert "  Setting up fake (1.0) ..." in result.stdout


def test_the_optional_pdf_packages_step_never_aborts_the_demo_while_the_lock_stays_held(
    held_lock: tuple[Path, subprocess.Popen[str]], tmp_path: Path
) -> None:
    lock, holder = held_lock
    environment = env(tmp_path, lock, wait=1, PATH=nothing_installed(tmp_path))
    optional = subprocess.run(
        [ROOT / "scripts" / "pdf-packages", "--optional"], env=environment, capture_output=True, text=True, timeout=60
    )
    assert optional.returncode == 0
    assert f"held by pid {holder.pid}" in optional.stderr
    assert "warning: going on without them" in optional.stderr
    assert apt_calls(tmp_path) == []
    required = subprocess.run(
        [ROOT / "scripts" / "pdf-packages"], env=environment, capture_output=True, text=True, timeout=60
    )
    assert required.returncode == 1
    assert "error: the tests need fonts-noto-cjk" in required.stderr
