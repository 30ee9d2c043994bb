"""The shared input limits (workflow/domain/inputs.py): text, quantities and ids, each refusal naming its field."""

from __future__ import annotations

from decimal import Decimal

import pytest

from workflow.domain import inputs
from workflow.domain.errors import InvalidInput


@pytest.mark.parametrize("text", ["a\x00b", "\x1b[2J", "del\x7f", "c1\x85", "half\ud800", "one\nline", "tab\there"])
def test_a_one_line_field_refuses_control_characters_naming_the_field(text: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        inputs.clean_text(text, 100, "name_zh")
    assert refused.value.field == "name_zh" and "control characters" in refused.value.message


def test_a_multi_line_field_keeps_line_breaks_and_tabs_and_counts_a_crlf_as_one() -> None:
    assert inputs.clean_text("a\r\nb\tc", 5, "reason", multiline=True) == "a\nb\tc"
    with pytest.raises(InvalidInput):
        inputs.clean_text("a\x00", 5, "reason", multiline=True)


def test_text_over_its_limit_is_refused_and_text_at_it_is_kept() -> None:
    assert inputs.clean_text("名" * inputs.NAME, inputs.NAME) == "名" * inputs.NAME
    with pytest.raises(InvalidInput, match="at most 200 characters"):
        inputs.clean_text("名" * (inputs.NAME + 1), inputs.NAME, "name_zh")


@pytest.mark.parametrize("value", ["0.0001", "1", "12.50000", "999999999999.9999"])
def test_a_quantity_within_the_ledgers_scale_and_ceiling_is_kept(value: str) -> None:
    assert inputs.clean_quantity(Decimal(value)) == Decimal(value)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("0", "greater than 0"),
        ("-1", "greater than 0"),
        ("0.00001", "4 decimal places"),
        ("0.123456789", "4 decimal places"),
        ("1e-1000000", "4 decimal places"),
        ("1e12", "less than"),
        ("1e30", "less than"),
        ("1e400", "less than"),
        ("NaN", "finite"),
        ("Infinity", "finite"),
    ],
)
def test_a_quantity_the_ledger_cannot_hold_exactly_is_refused(value: str, reason: str) -> None:
    with pytest.raises(InvalidInput, match=reason) as refused:
        inputs.clean_quantity(Decimal(value), "qty")
    assert refused.value.field == "qty"


def test_printable_makes_a_refused_value_storable_as_evidence() -> None:
    assert inputs.printable("a\x00b" * 50, 5) == "a\ufffdba\ufffd"
