"""Lifecycle diagrams drawn from the transition tables: every state once, every transition an arrow, one current."""

from __future__ import annotations

import re

import pytest

from web.ui.diagram import layers
from workflow.domain.lifecycle import LIFECYCLES, Lifecycle


@pytest.mark.parametrize("name", sorted(LIFECYCLES))
def test_every_state_stands_in_exactly_one_column_and_the_initial_state_first(name: str) -> None:
    lifecycle: Lifecycle = LIFECYCLES[name]  # type: ignore[type-arg]
    columns = layers(lifecycle)
    drawn = [state for column in columns for state in column]
    assert sorted(drawn) == sorted(state.value for state in lifecycle.states)
    assert columns[0] == [lifecycle.initial.value]


@pytest.mark.parametrize("name", sorted(LIFECYCLES))
def test_the_svg_has_an_arrow_per_transition_and_highlights_the_current_state(name: str, pages) -> None:
    from web.ui.diagram import render

    lifecycle: Lifecycle = LIFECYCLES[name]  # type: ignore[type-arg]
    current = lifecycle.states[1].value
    with pages.client.application.test_request_context():
        svg = str(render(lifecycle, current))
    moves = sum(1 for spec in lifecycle.specs for source in spec.sources if source != spec.dest)
    assert svg.count("marker-end=") == moves
    assert re.findall(r'class="state current[^"]*" data-state="([a-z_]+)"', svg) == [current]
    assert "style=" not in svg and "<script" not in svg  # the strict CSP allows neither
