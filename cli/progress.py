"""Progress of long command-line work, always on stderr, so stdout (tables, `--json` documents) stays clean.

On a terminal: rich bars redrawn in place. Elsewhere (CI logs, cron, pipes): plain lines, one per phase and one per
tenth of a long count, so a log shows where a long run is without a line per item. `quiet` (what `--json` asks for)
silences the plain lines; a terminal's bars stay, since they never reach a pipe.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

Advance = Callable[[int], None]
STEPS = 10  # plain lines per counted task: one each tenth of the way


class Reporter:
    """Phases and counted tasks, drawn as bars on a terminal or written as plain lines."""

    def __init__(self, bars: Progress | None, quiet: bool) -> None:
        self._bars, self._quiet = bars, quiet

    def phase(self, text: str) -> None:
        """One step of a longer job (a migration revision, a file of a pack)."""
        if self._bars is not None:
            self._bars.console.print(text, highlight=False, markup=False)
        elif not self._quiet:
            click.echo(f"specgoods: {text}", err=True)

    def counter(self, description: str, total: int) -> Advance:
        """A count towards `total`; call what it returns with each batch done."""
        if self._bars is not None:
            bars, task = self._bars, self._bars.add_task(description, total=total)
            return lambda done: bars.advance(task, done)
        return _PlainCounter(description, total, self.phase)


class _PlainCounter:
    """Writes `description: done/total` at the start and each time another tenth is done."""

    def __init__(self, description: str, total: int, write: Callable[[str], None]) -> None:
        self.description, self.total, self.done, self.write = description, total, 0, write
        self.next_step = 1
        write(f"{description}: 0/{total}")

    def __call__(self, done: int) -> None:
        self.done += done
        reached = self.done * STEPS // self.total if self.total else STEPS
        if reached >= self.next_step:
            self.next_step = reached + 1
            self.write(f"{self.description}: {self.done}/{self.total}")


@contextmanager
def reporting(quiet: bool = False) -> Iterator[Reporter]:
    """A reporter for the duration of the block; on a terminal, the bars stop (and stay drawn) when it ends."""
    console = Console(stderr=True)
    if not console.is_terminal:
        yield Reporter(None, quiet)
        return
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console) as bars:
        yield Reporter(bars, quiet)
