from __future__ import annotations

import json
from dataclasses import replace
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from workflow.domain.goods import Exclusion, GoodsCategory, GoodsLine, ProteinPurity, RegulatedAs
from workflow.store.codec import line_from_json, line_from_stored, line_to_json

lines = st.builds(
    GoodsLine,
    name_zh=st.text(min_size=1, max_size=20),
    name_en=st.text(max_size=20),
    category=st.none() | st.sampled_from(GoodsCategory),
    quantity=st.decimals(min_value=Decimal("0.0001"), max_value=Decimal("1e9"), places=4),
    unit=st.sampled_from(["支", "管", "mL", "株"]),
    pathogen_class=st.none() | st.integers(1, 4),
    protein_purity=st.sampled_from(ProteinPurity),
    regulated_as=st.sampled_from(RegulatedAs),
    exclusion=st.none() | st.sampled_from(Exclusion),
)


@given(lines)
def test_a_goods_line_survives_the_json_column_exactly(line: GoodsLine) -> None:
    assert line_from_json(line_to_json(line)) == line


def test_quantities_are_stored_as_decimal_strings_never_floats() -> None:
    line = GoodsLine(name_zh="x", name_en="x", category=None, quantity=Decimal("0.1"), unit="mL")
    assert line_to_json(line)["quantity"] == "0.1"


@given(lines)
def test_a_line_read_from_its_stored_text_is_the_line_and_is_made_once_per_text(line: GoodsLine) -> None:
    text = json.dumps(line_to_json(line), ensure_ascii=False)
    assert line_from_stored(text) == line
    assert line_from_stored(text) is line_from_stored(text)  # frozen, so one object serves every read of it


def test_a_changed_line_is_a_new_text_and_reads_as_changed() -> None:
    line = GoodsLine(name_zh="血清", name_en="serum", category=None, quantity=Decimal("5"), unit="mL")
    changed = replace(line, quantity=Decimal("6"))
    before, after = (json.dumps(line_to_json(each)) for each in (line, changed))
    assert line_from_stored(before).quantity == Decimal("5")
    assert line_from_stored(after) == changed
