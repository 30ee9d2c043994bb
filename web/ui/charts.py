"""Charts for the dashboard, drawn as SVG on the server: no chart library, no script, nothing from a CDN.

Each chart has a value axis with labelled ticks and gridlines, and an axis title; a bar's text carries its figure and,
for counts, its share of the whole in per cent.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from markupsafe import Markup, escape

ROW, LABEL_W, BAR_W, PAD, AXIS_H, TEXT_W = 24, 170, 300, 6, 40, 110
TICKS = 4  # intervals on the value axis


def bars(items: Sequence[tuple[str, float, str]], title: str, axis: str = "", percent: bool = False) -> Markup:
    """Horizontal bars: (label, value, shown text) each, on an axis from 0 to a round top.

    `percent`: the values are shares (0–1) and the axis runs 0–100 %; otherwise they are counts, and each bar's
    text adds its share of the chart's total.
    """
    if not items:
        return Markup("")
    top, step = (1.0, 0.25) if percent else _scale(max(value for _label, value, _text in items))
    total = sum(value for _label, value, _text in items)
    height = PAD * 2 + ROW * len(items) + AXIS_H
    rows = [
        _row(i, label, value, text if percent else _with_share(text, value, total), top)
        for i, (label, value, text) in enumerate(items)
    ]
    return Markup(
        f'<svg class="chart" viewBox="0 0 {LABEL_W + BAR_W + TEXT_W} {height}" role="img" aria-label="{escape(title)}">'
        f"{_axis(len(items), top, step, axis, percent)}{''.join(rows)}</svg>"
    )


def _scale(largest: float) -> tuple[float, float]:
    """A round top and a whole tick step (1, 2 or 5 × 10ⁿ) that hold the largest count."""
    rough = max(largest, 1) / TICKS
    magnitude = 10 ** max(0, math.floor(math.log10(rough)))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= rough)
    return step * math.ceil(max(largest, 1) / step), step


def _with_share(text: str, value: float, total: float) -> str:
    return f"{text} ({value / total:.0%})" if total else text


def _row(i: int, label: str, value: float, text: str, top: float) -> str:
    width = max(1, round(BAR_W * value / top)) if value else 0
    y = PAD + i * ROW
    return (
        f'<g class="row" data-label="{escape(label)}" data-value="{value}">'
        f'<text x="{LABEL_W - 6}" y="{y + 16}" text-anchor="end">{escape(label)}</text>'
        f'<rect class="bar" x="{LABEL_W}" y="{y + 4}" width="{width}" height="{ROW - 8}"/>'
        f'<text x="{LABEL_W + width + 6}" y="{y + 16}" translate="no">{escape(text)}</text></g>'
    )


def _axis(rows: int, top: float, step: float, title: str, percent: bool) -> str:
    """The value axis under the bars: a baseline, a gridline and label per tick, the title beneath."""
    base = PAD + rows * ROW
    ticks = []
    for n in range(round(top / step) + 1):
        value = n * step
        x = LABEL_W + round(BAR_W * value / top)
        shown = f"{value:.0%}" if percent else f"{value:g}"
        ticks.append(
            f'<line class="grid" x1="{x}" y1="{PAD}" x2="{x}" y2="{base + 4}" stroke="#d0d7de"/>'
            f'<text class="tick" x="{x}" y="{base + 16}" text-anchor="middle" translate="no">{shown}</text>'
        )
    return (
        f'<g class="axis" data-top="{top:g}">{"".join(ticks)}'
        f'<line x1="{LABEL_W}" y1="{base}" x2="{LABEL_W + BAR_W}" y2="{base}" stroke="#57606a"/>'
        f'<text class="axis-title" x="{LABEL_W + BAR_W // 2}" y="{base + 34}" text-anchor="middle">'
        f"{escape(title)}</text></g>"
    )
