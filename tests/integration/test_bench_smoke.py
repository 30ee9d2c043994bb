"""The write-off benchmark's own ledger check on a short run: two clients on the hot line, no timing asserted."""

from __future__ import annotations

import importlib

import pytest

writeoff = importlib.import_module("bench.writeoff")  # bench/ is a script folder, not an installed package


@pytest.mark.postgres
def test_two_clients_racing_on_one_hot_line_leave_no_over_draw_and_no_lost_or_duplicated_write_off() -> None:
    options = writeoff.Options(clients=(2,), layouts=("hot",), seconds=1.0, warmup=0.2)
    cells = writeoff.run(options)
    clean = writeoff.Invariants(overdrawn=0, mismatched=0, lost=0, duplicated=0)
    assert [(cell.side, cell.invariants) for cell in cells] == [("baseline", clean), ("service", clean)]
    assert all(cell.outcomes.get("released", 0) > 0 for cell in cells)  # the check saw real write-offs
