"""Replacement applications (R43): the field-level diff of a replacement against the certificate it replaces.

A substantive change (name, specification, composition, manufacturer, origin, use, lab, grade, more quantity) needs a
new application; pre-filled from the certificate, its reviewers re-review only what changed: the screening of an
unchanged line is reused with its rule ids, and the old risk assessment carries over when no line changed in a fact
that bears on the goods' risk (docs/certificate-changes.md).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from enum import StrEnum
from typing import Any

from workflow.domain.certificate_changes import FieldChange
from workflow.domain.goods import GoodsLine

# Facts of a line that do not bear on its risk: a changed quantity needs a new certificate, not a new assessment.
RISK_NEUTRAL: frozenset[str] = frozenset({"quantity", "unit", "name_en"})


class LineStatus(StrEnum):
    UNCHANGED = "unchanged"
    CHANGED = "changed"
    ADDED = "added"
    REMOVED = "removed"


@dataclass(frozen=True)
class LineDiff:
    """One goods line of the replacement against the same-numbered line of the certificate's application."""

    line_no: int
    status: LineStatus
    changes: tuple[FieldChange, ...] = ()

    def as_json(self) -> dict[str, Any]:
        changes = [{"field": c.field, "old": c.old, "new": c.new} for c in self.changes]
        return {"line_no": self.line_no, "status": self.status.value, "changes": changes}


def _text(value: object) -> str:
    if value is None:
        return ""
    return value.value if isinstance(value, StrEnum) else str(value)


def line_changes(old: GoodsLine, new: GoodsLine) -> tuple[FieldChange, ...]:
    """Every fact of the line whose value differs, in the line's field order."""
    pairs = ((item.name, getattr(old, item.name), getattr(new, item.name)) for item in fields(GoodsLine))
    return tuple(FieldChange(name, _text(before), _text(after)) for name, before, after in pairs if before != after)


def diff_lines(old: Sequence[GoodsLine], new: Sequence[GoodsLine]) -> tuple[LineDiff, ...]:
    """Lines matched by their number (1-based, as filed); a line beyond the other side's end is added or removed."""
    diffs = []
    for index in range(max(len(old), len(new))):
        if index >= len(old):
            diffs.append(LineDiff(index + 1, LineStatus.ADDED))
        elif index >= len(new):
            diffs.append(LineDiff(index + 1, LineStatus.REMOVED))
        else:
            changes = line_changes(old[index], new[index])
            diffs.append(LineDiff(index + 1, LineStatus.CHANGED if changes else LineStatus.UNCHANGED, changes))
    return tuple(diffs)


def assessment_carries_over(diffs: Iterable[LineDiff]) -> bool:
    """R43 with R32: the old panel's conclusion still answers when every line is there and no risk fact moved."""
    return all(
        diff.status in (LineStatus.UNCHANGED, LineStatus.CHANGED)
        and all(change.field in RISK_NEUTRAL for change in diff.changes)
        for diff in diffs
    )


def reused_screening(
    diffs: Iterable[LineDiff], old_screening: Mapping[str, Any], old_reference: str
) -> list[dict[str, Any]]:
    """Per line: an unchanged line keeps the old screening's scope decision, rule ids included; the rest is new."""
    old_scope = list(old_screening.get("scope") or [])
    rows = []
    for diff in diffs:
        row = diff.as_json()
        if diff.status is LineStatus.UNCHANGED and diff.line_no <= len(old_scope):
            row |= {"reused_from": old_reference, "scope": old_scope[diff.line_no - 1]}
        rows.append(row)
    return rows
