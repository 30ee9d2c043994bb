"""The write-off benchmark's own ledger check on a short run: two clients on the hot line, no timing asserted."""

from __future__ import annotations

import importlib

import pytest

writeoff = importlib.import_module("bench.writeoff")  # bench/ is a script folder, not an installed package


@pytest.mark.postgres
def test_two_clients_racing_on_one_hot_line_leave_no_over_draw_and_no_lost_or_duplicated_write_off() -> None:
    options = writeoff.Options(clients=(2,), layouts=("hot",), seconds=1.0, warmup=0.2, batch=10)
    cells = writeoff.run(options)
    clean = writeoff.Invariants(overdrawn=0, mismatched=0, lost=0, duplicated=0)
    assert [(cell.side, cell.invariants) for cell in cells] == [
        (side, clean) for side in ("baseline", "floor", "service", "batch")
    ]
    assert all(cell.outcomes.get("released", 0) > 0 for cell in cells)  # the check saw real write-offs
    # The service's and the batch's commits were queued, then each signed exactly once by the receipt sequencer.
    sealed = {cell.side: cell.sealing for cell in cells if cell.sealing is not None}
    assert sorted(sealed) == ["batch", "service"]
    assert all(sealing.receipts > 0 and sealing.unreceipted == 0 for sealing in sealed.values()), sealed


audit_verify = importlib.import_module("bench.audit_verify")


@pytest.mark.postgres
def test_the_audit_verify_benchmark_writes_a_chain_the_verifier_accepts_in_one_and_in_two_processes() -> None:
    result = audit_verify.run(audit_verify.RANGE_FOR_SMOKE, jobs=2)
    assert result["verified_ok"] and result["finding"] is None
    assert result["events"] == audit_verify.RANGE_FOR_SMOKE and result["bytes"] > 100 * result["events"]
