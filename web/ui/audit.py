"""The auditor's views, read only: write-off history, the ledger check, audit trails and the dashboard.

Write-offs come with running balances and a CSV export (UTF-8 with a BOM, headers and coded values in the reader's
language); the dashboard's charts are SVG drawn on the server. No CSV cell reaches a spreadsheet as a formula: free
text starting with = + - @ (or a tab or CR) is prefixed with a quote.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from flask import Blueprint, Response, render_template, request, stream_with_context
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from markupsafe import Markup

from config import local_time as config_local_time
from web.authz import scope_of
from web.context import container
from web.request_reads import request_reads
from web.ui import charts, diagram, local_time
from web.ui.auth import actor, allow
from web.ui.forms import query_int
from web.ui.i18n import CHINESE, ENGLISH, ENTRY_KINDS, ROLES, districts, label, select_locale
from web.ui.objects import require_visible
from web.ui.refusals import Refusal, refusal_of
from workflow.domain import inputs
from workflow.domain.errors import InvalidInput
from workflow.domain.lifecycle import LIFECYCLES
from workflow.domain.permissions import Action
from workflow.store import api_reads, district_counts, ui_queries
from workflow.store.audit_ledger import audit_ledger

blueprint = Blueprint("ui_audit", __name__, url_prefix="/ui/audit")
PAGE = 50
CSV_LIMIT = 50_000
TRAIL_TYPES = ("application", "certificate", "declaration", "user")  # "user": the sign-in history


def _district() -> str | None:
    return actor().district


# -- write-off history ----------------------------------------------------------------------------------------------


def _ledger_filter() -> ui_queries.LedgerFilter:
    """Certificate number, enterprise, period; the district is always the auditor's own when they have one."""
    args = request.args
    certificate_id = None
    if args.get("certificate_no", "").strip():
        with request_reads() as session:
            certificate_id = ui_queries.certificate_id_by_no(session, args["certificate_no"])
        if certificate_id is None:
            raise InvalidInput(_("No certificate with this number."), field="certificate_no")
        require_visible("certificate_id", certificate_id)
    return ui_queries.LedgerFilter(
        certificate_id=certificate_id,
        enterprise_id=query_int("enterprise_id"),
        district=_district() or (args.get("district") or None),
        since=_date("since"),
        until=_date("until"),
        time_zone=local_time.viewer_zone(),  # the dates typed are the reader's local dates
    )


def _date(name: str) -> date | None:
    value = request.args.get(name, "").strip()
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(_("Write the date as YYYY-MM-DD."), field=name) from None


@blueprint.get("/write-offs")
@allow(Action.READ_AUDIT)
def write_offs() -> str:
    where, before = _ledger_filter(), query_int("before", inputs.BIGINT_MAX)
    with request_reads() as session:
        rows = ui_queries.ledger_history(session, where, before, PAGE + 1)
    args = {key: value for key, value in request.args.items() if value and key != "before"}
    return render_template(
        "ui/audit/write_offs.html",
        rows=rows[:PAGE],
        args=args,
        next_before=rows[PAGE - 1]["id"] if len(rows) > PAGE else None,
        districts=districts(),
    )


@blueprint.get("/write-offs.csv")
@allow(Action.READ_AUDIT)
def write_offs_csv() -> Response:
    """The same rows as the page, every page of them (up to CSV_LIMIT), streamed; in the page's language.

    `?lang=en` (or `zh`) asks for the other language whatever the page's. UTF-8 with a byte-order mark, without
    which Excel reads the file in the local code page and garbles 支 and 瓶.
    """
    where = _ledger_filter()
    with force_locale(_csv_locale()):
        words = CsvWords.current(where.time_zone)
    response = Response(stream_with_context(_csv_rows(where, words)), mimetype="text/csv")
    response.headers["Content-Disposition"] = 'attachment; filename="write-offs.csv"'
    return response


CSV_COLUMNS = ("id", "at", "certificate_no", "line_no", "kind", "qty", "unit", "committed", "remaining",
               "declaration_no", "actor_role", "reason")  # fmt: skip
CSV_HEADERS = {"id": _l("Entry no."), "at": _l("Time"), "certificate_no": _l("Certificate number"),
               "line_no": _l("Line"), "kind": _l("Ledger entry"), "qty": _l("Quantity"), "unit": _l("Unit"),
               "committed": _l("Written off so far"), "remaining": _l("Remaining after"),
               "declaration_no": _l("Declaration number"), "actor_role": _l("By"), "reason": _l("Reason")}  # fmt: skip
CSV_LANGUAGES = {"en": ENGLISH, "zh": CHINESE}
BOM = "\ufeff"


def _csv_locale() -> str:
    return CSV_LANGUAGES.get(request.args.get("lang", ""), select_locale())


@dataclass(frozen=True)
class CsvWords:
    """The header row and the words for the coded columns, translated once before the rows stream.

    Times are the reader's local times; the header names the zone ("时间（北京时间）"), so each cell stays a plain
    "2026-12-06 01:30" a spreadsheet reads as a date and time.
    """

    headers: tuple[str, ...]
    kinds: Mapping[str, str]
    roles: Mapping[str, str]
    time_zone: str

    @classmethod
    def current(cls, time_zone: str) -> CsvWords:
        zone = config_local_time.zone_name_words(time_zone, _)
        headers = {**CSV_HEADERS, "at": _(config_local_time.TIME_IN_ZONE, zone=zone)}
        return cls(
            tuple(str(headers[column]) for column in CSV_COLUMNS),
            {code: str(word) for code, word in ENTRY_KINDS.items()},
            {code: str(word) for code, word in ROLES.items()},
            time_zone,
        )

    def row(self, row: Mapping[str, Any]) -> list[object]:
        worded = {**row, "kind": self.kinds.get(row["kind"], row["kind"])}
        worded["at"] = config_local_time.clock_time(row["at"], self.time_zone)
        worded["actor_role"] = self.roles.get(row["actor_role"], row["actor_role"])
        return [spreadsheet_safe(worded[column]) for column in CSV_COLUMNS]


def _csv_rows(where: ui_queries.LedgerFilter, words: CsvWords) -> Iterator[str]:
    buffer = io.StringIO()
    buffer.write(BOM)
    writer = csv.writer(buffer)
    writer.writerow(words.headers)
    before, sent = None, 0
    sessions = container().sessions
    while sent < CSV_LIMIT:
        with sessions() as session:
            rows = ui_queries.ledger_history(session, where, before, 1000)
        for row in rows:
            writer.writerow(words.row(row))
        sent += len(rows)
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        if len(rows) < 1000:
            return
        before = rows[-1]["id"]


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
PLAIN_NUMBER = re.compile(r"[+-]?[0-9]+(\.[0-9]+)?")


def spreadsheet_safe(value: object) -> object:
    """Text a spreadsheet would run as a formula (OWASP's CSV injection list) is quoted to stay text.

    A plain number (a quantity, even a negative one) is data, not a formula, and is written as it is.
    """
    if isinstance(value, str) and value.startswith(FORMULA_STARTS) and not PLAIN_NUMBER.fullmatch(value):
        return "'" + value
    return value


# -- ledger check and audit trail -----------------------------------------------------------------------------------


@blueprint.get("/ledger-check")
@allow(Action.READ_AUDIT)
def ledger_check() -> tuple[str, int]:
    """W8/W12: balances recomputed from the ledger, and every write-off invariant, for one certificate or all.

    A number that names no certificate the auditor may see comes back at its field, as typed, with nothing checked.
    """
    number = request.args.get("certificate_no", "").strip() or None
    try:
        visible_certificate(number)
    except InvalidInput as refused:
        return ledger_page(None, refusal_of("check", refused), typed=number or ""), 422
    return ledger_page(number), 200


def visible_certificate(number: str | None) -> None:
    """The certificate `number` exists and the auditor may see it (no number: every one in scope), else refused."""
    if number is None:
        return
    with request_reads() as session:
        found = ui_queries.certificate_id_by_no(session, number)
    if found is None:
        raise InvalidInput(_("No certificate with this number."), field="certificate_no")
    require_visible("certificate_id", found)


def ledger_page(number: str | None, refusal: Refusal | None = None, typed: str = "") -> str:
    """The ledger check of `number` (all in scope for None), or, after a refusal, the form with nothing checked."""
    lines: list[Any] = []
    violations: list[Any] = []
    if refusal is None:
        with request_reads() as session:
            result = audit_ledger(session, number)
            mine = ui_queries.certificate_numbers(session, _district()) if _district() else None
        lines = [line for line in result.lines if mine is None or line.certificate_no in mine]
        violations = [v for v in result.violations if mine is None or v.certificate_no in mine]
    return render_template(
        "ui/audit/ledger_check.html",
        lines=lines,
        violations=violations,
        number=number or typed,
        refusal=refusal,
        checked=refusal is None,
    )


def chosen_object_type(types: tuple[str, ...], default: str = "") -> str:
    """The `object_type` asked for, one of `types`; refused at its field otherwise."""
    object_type = request.args.get("object_type", default)
    if object_type not in types:
        raise InvalidInput(_("Choose an object type from the list."), field="object_type")
    return object_type


@blueprint.get("/trail")
@allow(Action.READ_AUDIT)
def trail() -> str:
    """One object's trail with its lifecycle diagram, or the district's latest events of one kind."""
    object_type = chosen_object_type(TRAIL_TYPES, "application")
    object_id = request.args.get("object_id", type=int) if object_type != "user" else None
    with request_reads() as session:
        if object_id is None:
            events = api_reads.audit_events(session, scope_of(actor()), object_type, None, PAGE)
        else:
            require_visible(f"{object_type}_id", object_id)
            events = api_reads.audit_trail(session, object_type, object_id)
    current = next((event["to"] for event in reversed(events) if event["to"]), None) if object_id else None
    svg = diagram.render(LIFECYCLES[object_type], current) if object_id else None
    return render_template(
        "ui/audit/trail.html", events=events, object_type=object_type, object_id=object_id, svg=svg, types=TRAIL_TYPES
    )


# -- dashboard ------------------------------------------------------------------------------------------------------


PERIODS = {"this_month": _l("This month"), "last_month": _l("Last month"), "this_year": _l("This year"),
           "custom": _l("From – to")}  # fmt: skip
DAY_BUCKETS = ((_l("0–5 days"), 0, 5), (_l("6–10 days"), 6, 10), (_l("11–20 days"), 11, 20),
               (_l("over 20"), 21, district_counts.DAYS_CAP))  # fmt: skip


@dataclass(frozen=True)
class Period:
    """The dashboard's period: a named choice, its first and last day (the district's dates), and the typed input."""

    choice: str
    since: date
    until: date
    typed: Mapping[str, str]


@blueprint.get("/")
@allow(Action.READ_AUDIT)
def dashboard() -> tuple[str, int]:
    """Figures from kept counts only; a period the form cannot take is shown at its field, with the input kept."""
    period, errors = _period()
    if errors:
        return render_template("ui/audit/dashboard.html", period=period, periods=PERIODS, errors=errors), 422
    with request_reads() as session:
        figures = ui_queries.dashboard(session, scope_of(actor()), (period.since, period.until))
    return render_template(
        "ui/audit/dashboard.html", period=period, periods=PERIODS, errors={}, **_charts(figures)
    ), 200


def _period() -> tuple[Period, dict[str, str]]:
    """The current month by default; presets count back from the district's today; a custom period needs both ends."""
    typed = {name: request.args.get(name, "").strip() for name in ("period", "since", "until")}
    choice = typed["period"] or "this_month"
    today = container().deps.clock.today(actor().district)
    first = today.replace(day=1)
    presets = {
        "this_month": (first, today),
        "last_month": ((first - timedelta(days=1)).replace(day=1), first - timedelta(days=1)),
        "this_year": (today.replace(month=1, day=1), today),
    }
    if choice not in PERIODS:
        return Period("this_month", first, today, typed), {"period": _("Choose a period from the list.")}
    if choice != "custom":
        return Period(choice, *presets[choice], typed), {}
    ends, errors = _custom_ends(typed)
    if not errors and ends[0] > ends[1]:
        errors["until"] = _("The period ends before it starts.")
    return Period(choice, ends[0] or first, ends[1] or today, typed), errors


def _custom_ends(typed: Mapping[str, str]) -> tuple[tuple[date | None, date | None], dict[str, str]]:
    ends: list[date | None] = []
    errors = {}
    for name in ("since", "until"):
        try:
            ends.append(date.fromisoformat(typed[name]))
        except ValueError:
            ends.append(None)
            errors[name] = _("Write the date as YYYY-MM-DD.")
    return (ends[0], ends[1]), errors


def _charts(figures: Mapping[str, Any]) -> dict[str, Any]:
    """Each chart with its value axis; counts show their share of the whole, rates are drawn in per cent."""
    paperless = figures["paperless"]
    issued = paperless["paperless"] + paperless["paper"]
    by_state = [(str(label("state", state)), n, str(n)) for state, n in sorted(figures["by_state"].items())]
    return {
        "by_state": charts.bars(by_state, _("Applications by state"), _("Count")),
        "inspection": _inspection_chart(figures["inspection"]),
        "paperless": charts.bars(
            [(_(name.capitalize()), n, str(n)) for name, n in paperless.items()] if issued else [],
            _("Paperless share"),
            _("Certificates issued"),
        ),
        "paperless_share": (paperless["paperless"] / issued) if issued else None,
        "decisions": _decisions(figures["decisions"], figures["late"]),
    }


def _inspection_chart(rates: Mapping[tuple[str, str], tuple[int, int]]) -> Markup:
    items = [
        (f"{grade} × {label('tier', tier)}", inspected / routed, f"{inspected}/{routed} ({inspected / routed:.0%})")
        for (grade, tier), (inspected, routed) in rates.items()
    ]
    return charts.bars(items, _("Inspection rate by grade and credit"), _("Share of declarations inspected"), True)


def _decisions(days: Mapping[int, int], late: int) -> dict[str, Any]:
    """Working days from receipt to decision, and the share decided by the statutory due date (R19–R22).

    From the kept counts by number of working days (district_counts.py): the median is read off that histogram.
    """
    count = sum(days.values())
    buckets = [
        (str(text), n, str(n))
        for text, low, high in DAY_BUCKETS
        for n in [sum(days.get(d, 0) for d in range(low, high + 1))]
    ]
    return {
        "count": count,
        "median": median_of(days) if count else None,
        "on_time": (count - late) / count if count else None,
        "chart": charts.bars(buckets, _("Time to decision"), _("Decisions")) if count else Markup(""),
    }


def median_of(histogram: Mapping[int, int]) -> float:
    """The median of a histogram (value -> how many): the middle value, or the mean of the middle two."""
    ordered = sorted(histogram.items())
    count = sum(histogram.values())

    def nth(position: int) -> int:
        seen = 0
        for value, n in ordered:
            seen += n
            if seen > position:
                return value
        return ordered[-1][0]

    middle = (nth((count - 1) // 2) + nth(count // 2)) / 2
    return int(middle) if middle.is_integer() else middle
