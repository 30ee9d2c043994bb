"""The customs desk: the queue of applications with filters (state, grade, district, paperless, SLA urgency, holder).

It opens on open work: the files in a state where the officer's post acts, that nobody else has claimed.

The queue is keyset-paged on the application id over the (district, state, id) index; urgency selects by the date
the decision clock started and then shows each row's exact due date from the statutory clock (R19–R22).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

from flask import Blueprint, render_template, request

from web.context import container
from web.request_reads import request_reads
from web.ui.auth import actor, allow
from web.ui.credit import with_credit
from web.ui.forms import query_int
from web.ui.i18n import districts
from web.ui.queue_rows import queue_rows_html
from workflow.domain.actors import Role
from workflow.domain.calendar import WorkingCalendar
from workflow.domain.errors import DomainError
from workflow.domain.goods import RiskGrade
from workflow.domain.lifecycle import APPLICATION
from workflow.domain.permissions import Action, roles_for
from workflow.store import ui_queries
from workflow.store.codec import clock_from_json

blueprint = Blueprint("ui_review", __name__, url_prefix="/ui/review")
DESK = roles_for(Action.CLAIM)  # the queue is for those who may claim from it
PAGE = 50
SOON_DAYS = 5  # working days before the due date from which a file counts as urgent
FILTERS = ("state", "grade", "district", "paperless", "urgency", "holder")
ALL = "all"  # the state filter's "every state", against the default of open work


@blueprint.get("/queue")
@allow(DESK)
def queue() -> str:
    args = {name: request.args.get(name, "") for name in FILTERS}
    before = query_int("before")
    where = _filter(args)
    with request_reads() as session:
        rows = ui_queries.review_queue(session, where, before, PAGE + 1)
        shown = with_credit(session, _with_due_dates(rows[:PAGE]))  # R73: tier today, and pending
    template = "ui/review/_rows.html" if request.headers.get("HX-Request") else "ui/review/queue.html"
    return render_template(
        template,
        rows=shown,
        rows_html=queue_rows_html(shown),
        args={k: v for k, v in args.items() if v},
        next_before=rows[PAGE - 1]["id"] if len(rows) > PAGE else None,
        states=[state.value for state in APPLICATION.states if state.value != "draft"],
        grades=[grade.value for grade in RiskGrade],
        districts=districts(),
        own_district=actor().district,
    )


def _filter(args: dict[str, str]) -> ui_queries.QueueFilter:
    """Unknown values select nothing rather than fail: a filter is a question, and a wrong one has no answer."""
    open_work = not args["state"]  # "all" asks for every state; a state asks for that one
    return ui_queries.QueueFilter(
        district=actor().district or args["district"] or None,
        state=args["state"] if args["state"] not in ("", ALL) else None,
        states=actionable_states(actor().role) if open_work else (),
        free_for=actor().user_id if open_work else None,
        grade=args["grade"] or None,
        paperless={"yes": True, "no": False}.get(args["paperless"]),
        **_urgency_window(args["urgency"]),
        claimed_by=actor().user_id if args["holder"] == "mine" else None,
        unclaimed=args["holder"] == "unclaimed",
    )


def actionable_states(role: Role) -> tuple[str, ...]:
    """The states in which this post fires a transition of the application (the lifecycle's own table)."""
    states = {source.value for spec in APPLICATION.specs if role in spec.actors for source in spec.sources}
    return tuple(sorted(states - {"draft"})) or ("",)  # a post that acts on no file has no open work


def _urgency_window(urgency: str) -> dict[str, date]:
    """The queue's urgency as a window on the running clock's due date (pauses and extension counted, R19–R22).

    Overdue: the due date has passed; soon: due within 5 working days. Paused and decided files have none.
    """
    today = container().deps.clock.today(actor().district)  # the reviewer's district's date
    if urgency == "overdue":
        return {"due_until": today - timedelta(days=1)}
    if urgency == "soon":
        return {"due_from": today, "due_until": container().deps.calendar.add_working_days(today, SOON_DAYS)}
    return {}


def _with_due_dates(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each row with its due date and urgency; the calendar and each district's today looked up once per page."""
    calendar, clock = container().deps.calendar, container().deps.clock
    todays: dict[str | None, date] = {}

    def today_in(district: str | None) -> date:
        if district not in todays:
            todays[district] = clock.today(district)
        return todays[district]

    return [_with_due_date(row, calendar, today_in) for row in rows]


TodayIn = Callable[[str | None], date]  # a district's date today


def _with_due_date(row: dict[str, Any], calendar: WorkingCalendar, today_in: TodayIn) -> dict[str, Any]:
    clock = clock_from_json(row["clock"])
    if clock is None or row["state"] not in ui_queries.CLOCK_STATES:
        return row | {"due_on": None, "urgent": False}
    today = today_in(row.get("district"))
    try:
        due = clock.due_date(calendar)
        soon = due is not None and calendar.working_days_between(today, max(today, due)) <= SOON_DAYS
    except DomainError:  # a date beyond the holiday calendar's range: show the file, without a due date
        return row | {"due_on": None, "urgent": False}
    return row | {"due_on": due, "urgent": soon}
