"""`bench/pages.py` on a small volume: the seed is consistent and every timed page answers, no timing asserted."""

from __future__ import annotations

import importlib

import pytest

pages = importlib.import_module("bench.pages")  # bench/ is a script folder, not an installed package


@pytest.mark.postgres
def test_the_page_benchmark_seeds_a_consistent_database_and_every_page_answers() -> None:
    results = pages.run(applications=400, requests=1)
    assert len(results) >= 15
    assert [(path, status) for _role, path, *_times, status in results if status != 200] == []
