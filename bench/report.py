"""What the benchmarks print and how they judge it: the machine's conditions, a table row per cell as it is
measured, each cell's ratio to the baseline measured beside it, the summary lines, and the run as JSON when asked."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

CellT = TypeVar("CellT", bound="DataclassInstance")


class Rated(Protocol):
    """A cell that holds its rate over the baseline's, measured beside it in the same run."""

    ratio: float | None


RatedT = TypeVar("RatedT", bound=Rated)
Conditions = Callable[[dict[str, float]], None]
# A benchmark's run once its options are bound: it reports each cell as measured and the conditions once, up front.
BoundRun = Callable[[Callable[[CellT], None], Conditions], list[CellT]]


def conditions_line(found: dict[str, float]) -> str:
    """The probe's numbers (bench/writeoff.py `probe`): the machine is shared, so each run says how busy it was."""
    return (
        f"machine now: round trip {found['round_trip_ms']:.3f} ms,"
        f" durable UPDATE+COMMIT {found['update_commit_ms']:.3f} ms (1 connection)"
    )


def rate_against_baseline(
    cells: list[RatedT], rate: Callable[[RatedT], float], report: Callable[[RatedT], None]
) -> list[RatedT]:
    """The cells of one setting, the baseline's first: each other gets its rate over the baseline's as `ratio` (None
    if the baseline did nothing), then each is reported, in order. They are returned for the caller to keep."""
    baseline = rate(cells[0])
    for cell in cells[1:]:
        cell.ratio = rate(cell) / baseline if baseline else None
    for cell in cells:
        report(cell)
    return cells


def ratio_line(subject: str, ratios: Sequence[float], target: float, digits: int = 3, shown_target: str = "") -> str:
    """`<subject> 0.61, 0.58 -> meets the >= 0.5 target`: the lowest ratio decides."""
    verdict = "meets" if min(ratios) >= target else "misses"
    shown = ", ".join(f"{ratio:.{digits}f}" for ratio in ratios)
    return f"{subject} {shown} -> {verdict} the >= {shown_target or target} target"


def ledger_line(broken_cells: int) -> str:
    """The write-off benchmarks' verdict on their ledger checks, one line for the whole run."""
    return "ledger: every cell consistent" if not broken_cells else f"ledger: {broken_cells} cell(s) BROKE AN INVARIANT"


def write_json(path: str, document: dict[str, Any]) -> None:
    Path(path).write_text(json.dumps(document, indent=2))


def print_cells(
    run: BoundRun[CellT],
    options: DataclassInstance,
    header: str,
    format_row: Callable[[CellT], str],
    summary: Callable[[list[CellT]], list[str]],
    json_path: str | None,
) -> list[CellT]:
    """Run, printing the conditions and the header once probed, each row as its cell ends, then the summary; write
    options, conditions and cells to `json_path` if given. The cells, for the caller's exit status."""
    probed: dict[str, float] = {}

    def show_conditions(found: dict[str, float]) -> None:
        probed.update(found)
        print(conditions_line(found))
        print(header, flush=True)

    cells = run(lambda cell: print(format_row(cell), flush=True), show_conditions)
    print("\n".join(summary(cells)))
    if json_path:
        cell_rows = [asdict(cell) for cell in cells]
        write_json(json_path, {"options": asdict(options), "conditions": probed, "cells": cell_rows})
    return cells
