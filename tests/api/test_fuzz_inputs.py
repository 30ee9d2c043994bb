"""A hypothesis fuzz of the declaration, application and pre-check endpoints: no 5xx, and a refusal writes nothing.

Bounded and reproducible: a fixed number of examples per endpoint, derandomized, no example database. The bodies are
valid in shape and hostile in content: quantities (huge, tiny, negative, non-finite, JSON numbers), dates (far past,
future, not dates), line numbers (unknown, huge), lengths around each limit, and unicode (NUL, other control
characters, lone surrogates, arbitrary text).
"""

from __future__ import annotations

from collections import Counter
from datetime import date
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.api.conftest import World
from tests.api.test_input_validation import written
from tests.api.test_lifecycle_over_http import CYTOKINE, granted
from workflow.domain import inputs

EXAMPLES = 60
SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    derandomize=True,  # the same examples every run: a failure here is reproducible, never flaky
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

HOSTILE = st.sampled_from(["\x00", "\x1b", "\x7f", "\u0085", "\ud800", "\r", "\n", "\u202e", "\ufeff", "𝕏"])
TEXT = st.one_of(
    st.text(max_size=60),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=20).map(lambda s: s * 300),
    st.tuples(st.text(max_size=10), HOSTILE, st.text(max_size=10)).map("".join),
    st.sampled_from(["x" * inputs.NAME, "x" * (inputs.NAME + 1), "x" * inputs.UNIT, "x" * (inputs.UNIT + 1)]),
)
DECIMAL_TEXT = st.decimals(allow_nan=True, allow_infinity=True).map(str)
QUANTITY = st.one_of(
    DECIMAL_TEXT,
    st.sampled_from(["1e400", "1e30", "0.00001", "0.123456789", "999999999999.9999", "1000000000000", "-1", "0"]),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=False, allow_infinity=False),
    st.integers(min_value=1, max_value=50).map(str),
    TEXT,
    st.none(),
    st.booleans(),
)
DATE = st.one_of(
    st.dates(min_value=date(1, 1, 1), max_value=date(9999, 12, 31)).map(date.isoformat),
    st.sampled_from(["2016-06-01", "2016-05-31", "2016-06-02", "2017-06-01", "1990-01-01"]),
    TEXT,
    st.integers(),
)
LINE_NO = st.one_of(st.integers(min_value=-3, max_value=5), st.integers(), st.sampled_from([10**20, -(10**20)]), TEXT)


@st.composite
def declaration_body(draw: st.DrawFn, certificate_no: str) -> dict[str, Any]:
    lines = draw(st.lists(st.fixed_dictionaries({"line_no": LINE_NO, "qty": QUANTITY}), min_size=1, max_size=3))
    return {
        "declaration_no": draw(st.one_of(st.from_regex(r"DEC-FZ-[0-9]{1,6}", fullmatch=True), TEXT)),
        "certificate_no": draw(st.one_of(st.just(certificate_no), TEXT)),
        "declared_on": draw(DATE),
        "direction": draw(st.sampled_from(["entry", "exit", "sideways"])),
        "lines": lines,
        "port": draw(st.one_of(st.just(""), TEXT)),
    }


@st.composite
def goods_line(draw: st.DrawFn) -> dict[str, Any]:
    line = dict(CYTOKINE)
    line["quantity"] = draw(st.one_of(st.integers(min_value=1, max_value=50).map(str), QUANTITY))  # half valid
    for name in draw(st.sets(st.sampled_from(["name_zh", "name_en", "unit", "specification", "manufacturer"]))):
        line[name] = draw(TEXT)
    return line


@st.composite
def application_body(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "district": draw(st.one_of(st.just("xiamen"), TEXT)),
        "direction": "entry",
        "lines": draw(st.lists(goods_line(), min_size=1, max_size=3)),
        "ports": draw(st.one_of(st.just([]), st.lists(TEXT, max_size=3))),
    }


@st.composite
def precheck_body(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "direction": "entry",
        "date": draw(st.one_of(st.none(), DATE)),
        "applicant": {},
        "lines": draw(st.lists(goods_line(), min_size=1, max_size=3)),
    }


def _send_and_check(world: World, path: str, body: dict[str, Any], statuses: Counter[int]) -> None:
    before = written(world)
    response = world.call(world.home.applicant, "POST", path, json=body)
    statuses[response.status_code // 100] += 1
    assert response.status_code < 500, (body, response.get_json())
    if response.status_code >= 400:
        assert response.mimetype == "application/problem+json", body
        assert written(world) == before, (body, response.get_json())


def test_generated_declarations_never_answer_5xx_and_a_refused_one_writes_nothing(world: World) -> None:
    certificate_no = granted(world)["certificate"]["certificate_no"]
    statuses: Counter[int] = Counter()

    @SETTINGS
    @given(body=declaration_body(certificate_no))
    def run(body: dict[str, Any]) -> None:
        _send_and_check(world, "/api/v1/declarations", body, statuses)

    run()
    assert statuses[4] > 0, statuses  # the run reached the checks; declarations pass them rarely, by design


@pytest.mark.parametrize(
    ("path", "strategy"),
    [("/api/v1/applications", application_body()), ("/api/v1/precheck", precheck_body())],
    ids=["applications", "precheck"],
)
def test_generated_goods_lines_never_answer_5xx_and_a_refused_one_writes_nothing(
    world: World, path: str, strategy: st.SearchStrategy[dict[str, Any]]
) -> None:
    statuses: Counter[int] = Counter()

    @SETTINGS
    @given(body=strategy)
    def run(body: dict[str, Any]) -> None:
        _send_and_check(world, path, body, statuses)

    run()
    assert statuses[2] > 0 and statuses[4] > 0, statuses  # both sides of every check were reached
