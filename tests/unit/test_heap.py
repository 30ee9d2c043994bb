"""A server process's start-up heap leaves the collector's generations once the app is loaded (config/heap.py)."""

from __future__ import annotations

import gc

from config.heap import freeze_start_up_heap


def test_what_start_up_built_is_frozen_and_what_comes_later_is_collected() -> None:
    built_at_start_up = [object() for _ in range(1000)]
    try:
        freeze_start_up_heap()
        assert gc.get_freeze_count() >= len(built_at_start_up)
        later: list[object] = []
        later.append(later)  # a cycle made after the freeze: only the collector can free it
        del later
        assert gc.collect() >= 1
    finally:
        gc.unfreeze()
