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
from datetime import date
from statistics import median
from typing import Any

from flask import Blueprint, Response, render_template, request, stream_with_context
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from web.authz import scope_of
from web.context import container
from web.ui import charts, diagram
from web.ui.auth import actor, allow
from web.ui.forms import query_int
from web.ui.i18n import CHINESE, ENGLISH, ENTRY_KINDS, ROLES, districts, label, select_locale
from web.ui.objects import require_visible
from workflow.domain import inputs
from workflow.domain.errors import DomainError, InvalidInput
from workflow.domain.lifecycle import LIFECYCLES
from workflow.domain.permissions import Action
from workflow.store import api_reads, ui_queries
from workflow.store.audit_ledger import audit_ledger
from workflow.store.codec import clock_from_json

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
        with container().sessions() as session:
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
    with container().sessions() as session:
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
        words = CsvWords.current()
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
    """The header row and the words for the coded columns, translated once before the rows stream."""

    headers: tuple[str, ...]
    kinds: Mapping[str, str]
    roles: Mapping[str, str]

    @classmethod
    def current(cls) -> CsvWords:
        return cls(
            tuple(str(CSV_HEADERS[column]) for column in CSV_COLUMNS),
            {code: str(word) for code, word in ENTRY_KINDS.items()},
            {code: str(word) for code, word in ROLES.items()},
        )

    def row(self, row: Mapping[str, Any]) -> list[object]:
        worded = {**row, "kind": self.kinds.get(row["kind"], row["kind"])}
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
def ledger_check() -> str:
    """W8/W12: balances recomputed from the ledger, and every write-off invariant, for one certificate or all."""
    number = request.args.get("certificate_no", "").strip() or None
    if number is not None:
        with container().sessions() as session:
            found = ui_queries.certificate_id_by_no(session, number)
        if found is None:
            raise InvalidInput(_("No certificate with this number."), field="certificate_no")
        require_visible("certificate_id", found)
    with container().sessions() as session:
        result = audit_ledger(session, number)
        mine = ui_queries.certificate_numbers(session, _district()) if _district() else None
    lines = [line for line in result.lines if mine is None or line.certificate_no in mine]
    violations = [v for v in result.violations if mine is None or v.certificate_no in mine]
    return render_template("ui/audit/ledger_check.html", lines=lines, violations=violations, number=number or "")


@blueprint.get("/trail")
@allow(Action.READ_AUDIT)
def trail() -> str:
    """One object's trail with its lifecycle diagram, or the district's latest events of one kind."""
    object_type = request.args.get("object_type", "application")
    if object_type not in TRAIL_TYPES:
        raise InvalidInput(_("Choose an object type from the list."), field="object_type")
    object_id = request.args.get("object_id", type=int) if object_type != "user" else None
    with container().sessions() as session:
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


@blueprint.get("/")
@allow(Action.READ_AUDIT)
def dashboard() -> str:
    with container().sessions() as session:
        figures = ui_queries.dashboard(session, scope_of(actor()))
    decisions = _decisions(figures["decisions"])
    paperless = figures["paperless"]
    total = paperless["paperless"] + paperless["paper"]
    return render_template(
        "ui/audit/dashboard.html",
        by_state=charts.bars(
            [(str(label("state", state)), count, str(count)) for state, count in sorted(figures["by_state"].items())],
            _("Applications by state"),
        ),
        inspection=charts.bars(
            [
                (f"{grade} × {label('tier', tier)}", inspected / routed, f"{inspected}/{routed}")
                for (grade, tier), (inspected, routed) in figures["inspection"].items()
            ],
            _("Inspection rate by grade and credit"),
        ),
        paperless=charts.bars(
            [(_(name.capitalize()), count, str(count)) for name, count in paperless.items()], _("Paperless share")
        ),
        paperless_share=(paperless["paperless"] / total) if total else None,
        decisions=decisions,
    )


def _decisions(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Working days from receipt to decision, and the share decided by the statutory due date (R19–R22)."""
    calendar = container().deps.calendar
    days, on_time = [], 0
    for row in rows:
        try:
            days.append(calendar.working_days_between(row["received_on"], row["decided_on"]))
            clock = clock_from_json(row["clock"])
            due = clock.due_date(calendar) if clock else None
        except DomainError:  # outside the holiday calendar: the row cannot be measured, so it is not counted
            continue
        on_time += 1 if due is None or row["decided_on"] <= due else 0
    buckets = [(_("0–5 days"), 0, 5), (_("6–10 days"), 6, 10), (_("11–20 days"), 11, 20), (_("over 20"), 21, 10**6)]
    chart = charts.bars(
        [(text, n, str(n)) for text, low, high in buckets for n in [sum(low <= d <= high for d in days)]],
        _("Time to decision"),
    )
    return {
        "count": len(days),
        "median": median(days) if days else None,
        "on_time": (on_time / len(days)) if days else None,
        "chart": chart,
    }
