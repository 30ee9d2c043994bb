"""Turn domain value objects (goods lines, statutory clocks) into JSON-ready dicts and back, for JSON columns."""

from __future__ import annotations

import dataclasses
import functools
import json
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
    """Read on every step of an application (its lines): which facts need converting was worked out once, below."""
    known = {name: value for name, value in data.items() if name in _LINE_HINTS}
    for name, convert in _LINE_CONVERTED:
        value = known.get(name)
        if value is not None:
            known[name] = convert(value)
    return GoodsLine(**known)


# Lines kept by their stored text: far above the lines of the applications in flight in one process, so a bound only.
LINES_KEPT = 4096


@functools.lru_cache(maxsize=LINES_KEPT)
def line_from_stored(text: str) -> GoodsLine:
    """A line from its column's JSON text, made once per text: every step of an application reads its lines again.

    A GoodsLine is frozen, so the one made for a text serves every read of it; the same facts always store as the
    same text (PostgreSQL's JSONB prints its keys in one order), and a changed line is a new text.
    """
    return line_from_json(json.loads(text))


def _plain(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Decimal):
        return str(value)
    return value


def _converter(hint: Any) -> type[Enum | Decimal] | None:
    """The Enum or Decimal class a stored fact is made back into; None where the JSON value is the fact."""
    for candidate in _candidates(hint):
        if isinstance(candidate, type) and issubclass(candidate, (Enum, Decimal)):
            return candidate
    return None


def _candidates(hint: Any) -> tuple[Any, ...]:
    """`X | None` has the members (X, NoneType); a plain hint is its own single candidate."""
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        return typing.get_args(hint)
    return (hint,)


# The facts stored as JSON scalars that are made back into their Enum or Decimal (the others are as stored).
_LINE_CONVERTED = tuple(
    (name, convert) for name, convert in ((name, _converter(hint)) for name, hint in _LINE_HINTS.items()) if convert
)


def clock_to_json(clock: StatutoryClock | None) -> dict[str, Any] | None:
    return None if clock is None else clock.to_dict()


def clock_from_json(data: dict[str, Any] | None) -> StatutoryClock | None:
    return None if data is None else StatutoryClock.from_dict(data)
