"""The auditor's dashboard over a period: presets and from–to in the district's dates, figures from kept counts only.

The demo is loaded on 2016-06-01 (the page tests' clock), so its one decision and one certificate fall in June 2016.
"""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from sqlalchemy import event

from config.decision_counts import recount_decisions
from config.local_time import local_date, zone_of
from tests.ui.conftest import Pages
from web.ui.audit import median_of
from workflow.store import district_counts
from workflow.store.bulk import insert_rows
from workflow.store.tables import DistrictCountDeltaRow

DECISION_FAMILIES = (district_counts.DECIDED, district_counts.MONTHLY[district_counts.DECIDED])


def _decisions(page: str) -> int:
    found = re.search(r'<p id="decided">[^<]*<span translate="no">(\d+)</span>', page)
    assert found, page
    return int(found.group(1))


def test_the_dashboard_shows_this_month_by_default_and_names_the_period(pages: Pages) -> None:
    pages.sign_in("xiamen.auditor")
    page = pages.text("/ui/audit/")
    assert "2016-06-01" in page.split('id="period-shown"')[1].split("</p>")[0]
    assert _decisions(page) == 1
    assert 'data-label="纸质" data-value="1"' in page  # the certificate issued this month


def test_last_month_has_no_decisions_and_this_year_has_this_months(pages: Pages) -> None:
    pages.sign_in("xiamen.auditor")
    last = pages.text("/ui/audit/?period=last_month")
    assert "2016-05-01" in last and "2016-05-31" in last
    assert _decisions(last) == 0
    assert 'id="on-time">—<' in last
    assert _decisions(pages.text("/ui/audit/?period=this_year")) == 1


def test_a_custom_period_counts_the_days_between_its_ends_inclusive(pages: Pages) -> None:
    pages.sign_in("xiamen.auditor")
    assert _decisions(pages.text("/ui/audit/?period=custom&since=2016-06-01&until=2016-06-01")) == 1
    assert _decisions(pages.text("/ui/audit/?period=custom&since=2016-06-02&until=2016-12-31")) == 0
    assert _decisions(pages.text("/ui/audit/?period=custom&since=2015-01-01&until=2016-05-31")) == 0


def test_a_period_ending_before_it_starts_is_refused_at_its_field_with_the_input_kept(pages: Pages) -> None:
    pages.sign_in("xiamen.auditor")
    response = pages.client.get("/ui/audit/?period=custom&since=2016-06-30&until=2016-06-01")
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert 'id="until-error"' in page and 'aria-invalid="true" aria-describedby="until-error"' in page
    assert 'value="2016-06-30"' in page and 'value="2016-06-01"' in page
    assert '<option value="custom" selected>' in page


def test_a_date_that_is_not_a_date_or_an_unknown_period_is_refused_at_its_field(pages: Pages) -> None:
    pages.sign_in("xiamen.auditor")
    bad_date = pages.client.get("/ui/audit/?period=custom&since=June&until=2016-06-01")
    assert bad_date.status_code == 422 and 'id="since-error"' in bad_date.get_data(as_text=True)
    assert 'value="June"' in bad_date.get_data(as_text=True)
    unknown = pages.client.get("/ui/audit/?period=forever")
    assert unknown.status_code == 422 and 'id="period-error"' in unknown.get_data(as_text=True)


def test_the_charts_have_a_value_axis_and_shares_in_per_cent(pages: Pages) -> None:
    pages.sign_in("xiamen.auditor")
    page = pages.text("/ui/audit/?period=this_year")
    assert page.count('<g class="axis"') >= 3
    assert 'class="axis-title"' in page
    assert re.search(r'translate="no">1 \(100%\)</text>', page)  # the one decision: 0–5 working days, all of them
    ticks = re.findall(r'class="tick"[^>]*>([^<]+)<', page)
    assert "0.5" not in ticks  # counts are whole numbers on their axis


def test_the_dashboard_never_reads_the_applications_certificates_or_trail_for_any_period(pages: Pages) -> None:
    seen: list[str] = []
    pages.sign_in("xiamen.auditor")
    listener = lambda _c, _cur, statement, *_rest: seen.append(statement)  # noqa: E731
    event.listen(pages.container.engine, "before_cursor_execute", listener)
    try:
        for query in ("", "?period=this_year", "?period=custom&since=2000-01-01&until=2030-12-31"):
            pages.text(f"/ui/audit/{query}")
    finally:
        event.remove(pages.container.engine, "before_cursor_execute", listener)
    figures = [s for s in seen if "district_count" in s or "declarations" in s]
    assert figures
    assert not any(re.search(r"\b(applications|certificates|audit_events)\b", s) for s in figures)


def test_the_decisions_kept_by_day_equal_a_recount_from_the_trail(pages: Pages) -> None:
    container = pages.container
    with container.engine.connect() as connection:
        kept = {key: n for key, n in district_counts.counts(connection, decisions=True).items()
                if key[1].startswith(DECISION_FAMILIES)}  # fmt: skip
        policies = container.deps.policies
        recounted = district_counts.recount_decisions(
            connection, container.deps.calendar, lambda at, d: local_date(at, zone_of(policies, d))
        )
    assert kept and kept == recounted
    assert recount_decisions(container) == len(kept)  # the backfill writes the same counts back
    with container.engine.connect() as connection:
        again = {key: n for key, n in district_counts.counts(connection, decisions=True).items()
                 if key[1].startswith(DECISION_FAMILIES)}  # fmt: skip
    assert again == kept


@pytest.mark.parametrize(
    ("histogram", "expected"),
    [({3: 1}, 3), ({1: 1, 5: 1}, 3), ({1: 2, 7: 1}, 1), ({2: 1, 3: 1, 10: 2}, 6.5), ({0: 4, 30: 1}, 0)],
    ids=["one", "two-even", "odd", "even-between", "skewed"],
)
def test_the_median_working_days_come_from_the_kept_histogram(histogram: dict[int, int], expected: float) -> None:
    assert median_of(histogram) == expected


PERIODS = [
    (date(2016, 1, 1), date(2016, 12, 31)),  # whole months only
    (date(2016, 1, 15), date(2016, 3, 10)),  # days, a month, days
    (date(2016, 1, 31), date(2016, 2, 1)),  # across a month's end, no whole month
    (date(2015, 12, 1), date(2016, 2, 29)),  # across a year's end, to a leap day
    (date(2016, 2, 10), date(2016, 2, 10)),  # one day
]


@pytest.mark.parametrize(("since", "until"), PERIODS, ids=[f"{a}..{b}" for a, b in PERIODS])
def test_a_period_read_by_months_and_days_equals_the_sum_of_its_days(pages: Pages, since: date, until: date) -> None:
    days = [date(2015, 12, 25) + timedelta(days=n) for n in range(90)]
    with pages.container.sessions() as session:
        for n, day in enumerate(days):
            district_counts.count_decision(session, "pingtan", (day, n % 25, n % 4 != 0))  # every 4th late
        pending = district_counts.take_pending(session)  # written as the unit of work writes them before it commits
        insert_rows(session.connection(), DistrictCountDeltaRow, pending)
        session.commit()
        district_counts.fold(session)
        session.commit()
    expected: dict[str, int] = {}
    for n, day in enumerate(days):
        if since <= day <= until:
            for kind in (f"decided.{n % 25:02d}", *(["decided.late"] if n % 4 == 0 else [])):
                expected[kind] = expected.get(kind, 0) + 1
    with pages.container.sessions() as session:
        found = district_counts.in_period(session, "pingtan", since, until)
    assert {k: v for k, v in found.items() if k.startswith("decided.")} == expected
