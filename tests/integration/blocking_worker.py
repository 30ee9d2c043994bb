"""Test-only worker entry point: `specgoods worker` whose screening stalls once per application before committing.

Run as `python -m tests.integration.blocking_worker worker …` with `SPECGOODS_TEST_STALL_DIR` set. The first time a
prefork child screens an application it flushes its writes (the UPDATE and the audit INSERT reach PostgreSQL,
uncommitted, holding the row lock), writes `stalled-<id>` holding its pid, and then waits, so a test can SIGKILL it
mid-task. Every later run for that application (the re-delivered message) screens normally. The hook lives only
here: production code is patched in this process before the worker starts, and forked children inherit the patch.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from cli.main import main as specgoods
from workflow.domain.commands import ScreenApplication
from workflow.service import messagebus
from workflow.service.ports import Dependencies

STALL_DIR_ENV = "SPECGOODS_TEST_STALL_DIR"
# Long enough for any test to find and kill the child; bounded so an orphan never outlives a failed test for long.
STALL_SECONDS = 120.0

_screen = messagebus.ALL_HANDLERS[ScreenApplication]


def stalled_marker(directory: Path, application_id: int) -> Path:
    """The file a stalled child writes (its pid) once its uncommitted writes are in the database."""
    return directory / f"stalled-{application_id}"


class StallBeforeCommit:
    """A unit of work that flushes, announces itself and waits before its commit; everything else is the real one."""

    def __init__(self, inner: Any, marker: Path) -> None:
        self._inner, self._marker = inner, marker

    def __enter__(self) -> StallBeforeCommit:
        self._inner.__enter__()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._inner.__exit__(exc_type, exc, tb)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def commit(self) -> None:
        # Flushed but not committed: the kill must make PostgreSQL roll these writes back.
        self._inner.session.flush()
        _announce(self._marker)
        _wait_while_parent_lives(STALL_SECONDS)
        self._inner.commit()


def _announce(marker: Path) -> None:
    """Write the pid atomically, so the test never reads a half-written marker."""
    partial = marker.with_name(f"{marker.name}.{os.getpid()}.tmp")
    partial.write_text(str(os.getpid()))
    partial.rename(marker)


def _wait_while_parent_lives(seconds: float) -> None:
    """Stall; stop early if the worker parent is gone, so a failed test leaves no sleeping orphan behind."""
    parent, deadline = os.getppid(), time.monotonic() + seconds
    while time.monotonic() < deadline and os.getppid() == parent:
        time.sleep(0.1)


def _first_run(directory: Path, application_id: int) -> bool:
    """A second marker, created exclusively, makes the stall happen once per application across all children."""
    try:
        os.close(os.open(directory / f"claimed-{application_id}", os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return False
    return True


def stalling_screen(cmd: ScreenApplication, deps: Dependencies) -> Any:
    directory = Path(os.environ[STALL_DIR_ENV])
    if _first_run(directory, cmd.application_id):
        marker = stalled_marker(directory, cmd.application_id)
        real_uow = deps.uow
        deps = dataclasses.replace(deps, uow=lambda: StallBeforeCommit(real_uow(), marker))
    return _screen(cmd, deps)


def main() -> None:
    # The bus reads this dict at dispatch time, so the container the CLI builds next uses the wrapper.
    messagebus.ALL_HANDLERS[ScreenApplication] = stalling_screen
    sys.argv[0] = "specgoods"
    specgoods()


if __name__ == "__main__":
    main()
