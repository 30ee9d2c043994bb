"""A lifecycle drawn as SVG on the server from its transition table, the object's current state highlighted.

States stand in columns by their distance from the initial state; every transition is an arrow with its trigger as a
tooltip. No script and no inline style: the page's stylesheet colours the classes, so the strict CSP holds.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from flask_babel import get_locale
from markupsafe import Markup, escape

from web.ui.i18n import label
from workflow.domain.lifecycle import Lifecycle

BOX_W, BOX_H, GAP_X, GAP_Y, PAD = 150, 34, 60, 18, 12


def layers(lifecycle: Lifecycle[Any]) -> list[list[str]]:
    """States by breadth-first distance from the initial state; unreachable ones (none today) go last."""
    depth = {lifecycle.initial.value: 0}
    queue = deque([lifecycle.initial.value])
    while queue:
        state = queue.popleft()
        for spec in lifecycle.specs:
            if state in (source.value for source in spec.sources) and spec.dest.value not in depth:
                depth[spec.dest.value] = depth[state] + 1
                queue.append(spec.dest.value)
    last = max(depth.values()) + 1
    columns: list[list[str]] = [[] for _ in range(last + 1)]
    for state in lifecycle.states:
        columns[depth.get(state.value, last)].append(state.value)
    return [column for column in columns if column]


_DRAWN: dict[tuple[str, str | None, str], Markup] = {}  # (lifecycle, current state, language) -> the SVG


def render(lifecycle: Lifecycle[Any], current: str | None) -> Markup:
    """Drawn once per lifecycle, state and language, then served from memory: the tables never change at run time."""
    key = (lifecycle.name, current, str(get_locale()))
    if key not in _DRAWN:
        _DRAWN[key] = _draw(lifecycle, current)
    return _DRAWN[key]


def _draw(lifecycle: Lifecycle[Any], current: str | None) -> Markup:
    columns = layers(lifecycle)
    place = {
        state: (PAD + x * (BOX_W + GAP_X), PAD + y * (BOX_H + GAP_Y))
        for x, column in enumerate(columns)
        for y, state in enumerate(column)
    }
    width = PAD * 2 + len(columns) * (BOX_W + GAP_X) - GAP_X
    height = PAD * 2 + max(len(column) for column in columns) * (BOX_H + GAP_Y) - GAP_Y
    marker = f"arrow-{lifecycle.name}"
    edges = [_edge(place[src.value], place[spec.dest.value], spec.trigger, marker) for spec in lifecycle.specs
             for src in spec.sources if src.value != spec.dest.value]  # fmt: skip
    boxes = [_box(state, xy, state == current, lifecycle) for state, xy in place.items()]
    title = escape(str(label("state", current))) if current else ""
    return Markup(
        f'<svg class="lifecycle" viewBox="0 0 {width} {height}" role="img" data-current="{escape(current or "")}" '
        f'aria-label="{title}"><defs><marker id="{marker}" viewBox="0 0 10 10" refX="9" refY="5" '
        'markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z"/></marker></defs>'
        f'<g class="edges">{"".join(edges)}</g>{"".join(boxes)}</svg>'
    )


def _edge(source: tuple[int, int], dest: tuple[int, int], trigger: str, marker: str) -> str:
    (x1, y1), (x2, y2) = source, dest
    if x2 > x1:
        start, end = (x1 + BOX_W, y1 + BOX_H // 2), (x2, y2 + BOX_H // 2)
    elif x2 < x1:  # back to an earlier column: leave from the top, arrive on the top
        start, end = (x1 + BOX_W // 3, y1), (x2 + 2 * BOX_W // 3, y2)
    else:
        start, end = (
            (x1 + BOX_W - 10, y1 + (BOX_H if y2 > y1 else 0)),
            (x2 + BOX_W - 10, y2 + (0 if y2 > y1 else BOX_H)),
        )
    bend = (start[0] + end[0]) // 2, min(start[1], end[1]) - (30 if x2 <= x1 else 0)
    path = f"M{start[0]},{start[1]} Q{bend[0]},{bend[1]} {end[0]},{end[1]}"
    tip = escape(str(label("trigger", trigger)))
    return f'<path d="{path}" marker-end="url(#{marker})"><title>{tip}</title></path>'


def _box(state: str, xy: tuple[int, int], current: bool, lifecycle: Lifecycle[Any]) -> str:
    x, y = xy
    terminal = any(s.value == state for s in lifecycle.terminal_states)
    classes = " ".join(("state", "current" if current else "", "terminal" if terminal else "")).strip()
    text = escape(str(label("state", state)))
    return (
        f'<g class="{classes}" data-state="{state}"><rect x="{x}" y="{y}" width="{BOX_W}" height="{BOX_H}" rx="6"/>'
        f'<text x="{x + BOX_W // 2}" y="{y + BOX_H // 2 + 5}" text-anchor="middle">{text}</text></g>'
    )
