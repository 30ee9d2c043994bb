"""Charts for the dashboard, drawn as SVG on the server: no chart library, no script, nothing from a CDN."""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

ROW, LABEL_W, BAR_W, PAD = 24, 170, 300, 6


def bars(items: Sequence[tuple[str, float, str]], title: str) -> Markup:
    """Horizontal bars: (label, value, shown text) each; bars scale to the largest value."""
    if not items:
        return Markup("")
    top = max(value for _label, value, _text in items) or 1
    height = PAD * 2 + ROW * len(items)
    rows = [
        f'<g class="row" data-label="{escape(label)}" data-value="{value}">'
        f'<text x="{LABEL_W - 6}" y="{PAD + i * ROW + 16}" text-anchor="end">{escape(label)}</text>'
        f'<rect class="bar" x="{LABEL_W}" y="{PAD + i * ROW + 4}" width="{max(1, round(BAR_W * value / top))}" '
        f'height="{ROW - 8}"/><text x="{LABEL_W + max(1, round(BAR_W * value / top)) + 6}" '
        f'y="{PAD + i * ROW + 16}" translate="no">{escape(text)}</text></g>'
        for i, (label, value, text) in enumerate(items)
    ]
    return Markup(
        f'<svg class="chart" viewBox="0 0 {LABEL_W + BAR_W + 90} {height}" role="img" aria-label="{escape(title)}">'
        f"{''.join(rows)}</svg>"
    )
