"""Turn domain value objects (goods lines, statutory clocks) into JSON-ready dicts and back, for JSON columns."""

from __future__ import annotations

import dataclasses
import types
import typing
from decimal import Decimal
from enum import Enum
from typing import Any

from workflow.domain.clock import StatutoryClock
from workflow.domain.goods import GoodsLine

_LINE_HINTS = typing.get_type_hints(GoodsLine)


def line_to_json(line: GoodsLine) -> dict[str, Any]:
    """Every fact of the line; Decimal as a string so no quantity ever passes through float."""
    return {field.name: _plain(getattr(line, field.name)) for field in dataclasses.fields(line)}


def line_from_json(data: dict[str, Any]) -> GoodsLine:
    known = {name: _typed(_LINE_HINTS[name], value) for name, value in data.items() if name in _LINE_HINTS}
    return GoodsLine(**known)


def _plain(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Decimal):
        return str(value)
    return value


def _typed(hint: Any, value: Any) -> Any:
    if value is None:
        return None
    for candidate in _candidates(hint):
        if isinstance(candidate, type) and issubclass(candidate, (Enum, Decimal)):
            return candidate(value)
    return value


def _candidates(hint: Any) -> tuple[Any, ...]:
    """`X | None` has the members (X, NoneType); a plain hint is its own single candidate."""
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        return typing.get_args(hint)
    return (hint,)


def clock_to_json(clock: StatutoryClock | None) -> dict[str, Any] | None:
    return None if clock is None else clock.to_dict()


def clock_from_json(data: dict[str, Any] | None) -> StatutoryClock | None:
    return None if data is None else StatutoryClock.from_dict(data)
