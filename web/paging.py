"""Keyset pages: the query fetched one row more than the page, which says whether a next page exists (no COUNT)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def page(rows: Sequence[dict[str, Any]], limit: int) -> dict[str, Any]:
    """`next` is the id to pass as `before` for the following page, or None on the last page."""
    items = list(rows[:limit])
    return {"items": items, "next": items[-1]["id"] if len(rows) > limit else None}
