"""The in-app inbox page for every signed-in person, and the unread count in every page's header.

A notification's words are its e-mail's, rendered from the same zh/en templates (tasks/templates/mail) in the page's
language: the subject is the title, the body without greeting and footer is the text. The header's count is one
query on the inbox index (user_id, read_at, id), capped, so it costs a few index entries on every page, never a scan.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user
from jinja2 import Environment, FileSystemLoader, StrictUndefined, TemplateError
from markupsafe import Markup, escape
from werkzeug.wrappers import Response

from web.context import container
from web.request_reads import request_reads
from web.ui.auth import actor, allow
from web.ui.forms import query_int
from web.ui.views import EVERYONE
from workflow.domain.errors import NotFound
from workflow.domain.permissions import Action
from workflow.store.notifications import SqlNotifications

blueprint = Blueprint("ui_inbox", __name__, url_prefix="/ui/inbox")
PAGE = 20
MAX_ID = 2**63 - 1
UNREAD_CAP = 100  # the header shows "99+" beyond this: counting further would read more index entries for nothing
MAIL_TEMPLATES = Path(__file__).resolve().parents[2] / "tasks" / "templates" / "mail"
FOOTERS = ("\n--\n", "\n——\n")
# The same files the mail task renders; plain text here too, escaped by the page's own autoescaping.
_texts = Environment(loader=FileSystemLoader(MAIL_TEMPLATES), undefined=StrictUndefined, autoescape=False)


@blueprint.app_context_processor
def _unread() -> dict[str, Any]:
    """Every page's header: how many notifications the signed-in person has not read."""
    if not getattr(current_user, "is_authenticated", False) or actor().user_id is None:
        return {}
    with request_reads() as session:
        count = _notifications(session).unread_count(actor().user_id or 0, UNREAD_CAP)
    return {"unread_count": count, "unread_cap": UNREAD_CAP}


@blueprint.get("/")
@allow(EVERYONE)
def inbox() -> str:
    """Newest first, `?before=<id>` for the next page; `?unread=1` for unread only."""
    unread_only = request.args.get("unread") == "1"
    with request_reads() as session:
        rows = _notifications(session).inbox(actor().user_id or 0, unread_only, query_int("before"), PAGE + 1)
    items = [{**row, **notice_text(row["kind"], row["params"])} for row in rows[:PAGE]]
    next_before = rows[PAGE - 1]["id"] if len(rows) > PAGE else None
    return render_template("ui/inbox.html", items=items, next_before=next_before, unread_only=unread_only)


@blueprint.post("/<int:notification_id>/read")
@allow(Action.MARK_NOTIFICATION_READ)  # the API's action too: one's own inbox, every role
def mark_read(notification_id: int) -> Response:
    with container().sessions() as session, session.begin():
        # an id beyond BIGINT is no notification, and must not reach the database as a value it cannot hold
        found = notification_id <= MAX_ID and _notifications(session).mark_read(actor().user_id or 0, notification_id)
    if not found:
        raise NotFound(_("Not found."))  # another person's notification is not found either
    return redirect(url_for("ui_inbox.inbox"), 303)


@blueprint.post("/read")
@allow(Action.MARK_NOTIFICATION_READ)
def mark_all_read() -> Response:
    with container().sessions() as session, session.begin():
        _notifications(session).mark_all_read(actor().user_id or 0)
    flash(_("All notifications marked read."))
    return redirect(url_for("ui_inbox.inbox"), 303)


def notice_text(kind: str, params: dict[str, Any]) -> dict[str, Markup | str]:
    """{title, text} in the page's language; a kind without its template shows a plain catalog word, never a code."""
    language = "en" if str(get_locale()).startswith("en") else "zh"
    try:
        rendered = _texts.get_template(f"{kind}.{language}.txt").render(params)
    except (TemplateError, OSError):
        return {"title": _("Notification"), "text": ""}
    subject, _newline, body = data_marked(rendered, params).partition("\n")
    for footer in FOOTERS:
        body = body.split(footer)[0]
    paragraphs = [part.strip() for part in body.strip().split("\n\n") if part.strip()]
    return {"title": subject.strip(), "text": Markup("\n\n").join(paragraphs[1:])}  # the first: the greeting


def data_marked(text: str, params: dict[str, Any]) -> Markup:
    """The text escaped, each value it was given marked as data (`translate="no"`), as data is on every page.

    A lab's or a person's name in a notice stays as written on an English page. One pass over the text, longest
    value first, so no mark is ever placed inside another or inside markup.
    """
    values = sorted({value for value in params.values() if isinstance(value, str) and len(value.strip()) > 1},
                    key=len, reverse=True)  # fmt: skip
    escaped = str(escape(text))
    if not values:
        return Markup(escaped)
    pattern = re.compile("|".join(re.escape(str(escape(value))) for value in values))
    return Markup(pattern.sub(lambda found: f'<span translate="no">{found.group(0)}</span>', escaped))


def _notifications(session: Any) -> SqlNotifications:
    return SqlNotifications(session, container().deps.clock.now)
