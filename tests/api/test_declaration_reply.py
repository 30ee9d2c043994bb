"""A fresh declaration is answered from what its use case decided, with no read back: the answer must be exactly what
reading the declaration gives — released or held for inspection, one line or several — and a replay answers the same."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.conftest import World
from tests.integration.support import fx10_cytokine, grant

ONE_LINE = [{"line_no": 1, "qty": "2.5"}]
TWO_LINES = [{"line_no": 1, "qty": "3"}, {"line_no": 2, "qty": "0.0001"}]


def _declare(world: World, certificate_no: str, number: str, lines: list[dict[str, Any]]) -> dict[str, Any]:
    shipment = {
        "declaration_no": number,
        "certificate_no": certificate_no,
        "declared_on": "2016-06-01",
        "direction": "entry",
        "lines": lines,
    }
    response = world.call(world.home.applicant, "POST", "/api/v1/declarations", json=shipment)
    assert response.status_code == 201, response.json
    return dict(response.json)


def _read(world: World, declaration_id: int) -> dict[str, Any]:
    response = world.call(world.home.applicant, "GET", f"/api/v1/declarations/{declaration_id}")
    assert response.status_code == 200, response.json
    return dict(response.json)


@pytest.mark.parametrize("lines", [ONE_LINE, TWO_LINES], ids=["one line", "two lines"])
def test_the_answer_to_a_fresh_declaration_is_what_reading_it_gives(world: World, lines: list[dict[str, Any]]) -> None:
    certificate_no = grant(world.container, world.home, fx10_cytokine(100), fx10_cytokine(50))
    answers = [_declare(world, certificate_no, f"RPL{number:09d}", lines) for number in range(12)]
    for answer in answers:
        assert answer == {**_read(world, answer["id"]), "replayed": False}
        assert [(line["requested_qty"], line["drawn_qty"]) for line in answer["lines"]] == [
            (line["qty"], line["qty"]) for line in lines
        ]
    assert "released" in {answer["state"] for answer in answers}  # a grade C draw releases most of twelve

    again = _declare(world, certificate_no, "RPL000000000", lines)
    assert again == {**answers[0], "replayed": True}
