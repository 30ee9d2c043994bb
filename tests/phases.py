"""A pytest plugin for `scripts/test` (loaded with `-p tests.phases`): the long run says where it is.

A line when the run enters each test directory (tests/api, tests/e2e, tests/integration, …) with the time so far
and how many tests are done, and at the end the time each directory took. The whole suite is ~20 minutes on two
cores; with this and `console_output_style=count` it is never silent for long without saying what it is doing.
"""

from __future__ import annotations

import time

import pytest


def _phase_of(nodeid: str) -> str:
    """`tests/integration/test_x.py::test_y` -> `tests/integration`; a top-level test file is its own phase."""
    path = nodeid.split("::", 1)[0]
    parts = path.split("/")
    return "/".join(parts[:2]) if len(parts) > 2 else path


def _minutes(seconds: float) -> str:
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes} min {rest:02d} s" if minutes else f"{rest} s"


class Phases:
    """Tracks the directory the run is in; reports through pytest's terminal reporter."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.started = time.monotonic()
        self.current = ""
        self.current_started = self.started
        self.took: dict[str, float] = {}
        self.done = 0
        self.total = 0

    def _write(self, line: str) -> None:
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is None:
            return
        # Pytest writes a file's [done/total] only when the next file starts; finish that line first. Private API,
        # hence getattr: a pytest without it loses that one count, never the run.
        fill = getattr(reporter, "_write_progress_information_filling_space", None)
        if reporter.currentfspath is not None and getattr(reporter, "_show_progress_info", False) and fill:
            fill()
        reporter.ensure_newline()
        reporter.write_line(line, bold=True)

    def _close_current(self) -> None:
        if self.current:
            self.took[self.current] = self.took.get(self.current, 0.0) + time.monotonic() - self.current_started

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.total = len(session.items)
        self.started = time.monotonic()

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logstart(self, nodeid: str) -> None:
        phase = _phase_of(nodeid)
        if phase == self.current:
            return
        self._close_current()
        self.current, self.current_started = phase, time.monotonic()
        elapsed = _minutes(self.current_started - self.started)
        self._write(f"== pytest: {phase} (at {elapsed}; {self.done} of {self.total} tests done)")

    def pytest_runtest_logfinish(self) -> None:
        self.done += 1

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        self._close_current()
        self.current = ""
        if not self.took:
            return
        terminalreporter.section("time per test directory")
        for phase, seconds in self.took.items():
            terminalreporter.write_line(f"{phase:<24} {_minutes(seconds):>12}")
        terminalreporter.write_line(f"{'all':<24} {_minutes(time.monotonic() - self.started):>12}")


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(Phases(config), "specgoods-phases")
