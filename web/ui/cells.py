"""The small pieces of markup every table row repeats (a value as data, a state, yes/no, a credit tier), in Python.

A Jinja macro call costs some ten microseconds: a queue page of fifty rows called five per row, a quarter of its
drawing. These functions are the one definition: ui/macros.html's `data`, `state` and `yesno` and
ui/credit/_tier.html's `tier_now` call them, and the long lists call them directly (`data_html(row.grade)`); the
markup is the same either way.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask
from flask_babel import gettext
from markupsafe import Markup, escape

from web.ui.i18n import label

# Markup.format runs string.Formatter in Python, several times slower than escaping each value into an f-string;
# both escape a value the same way (its __html__ if it has one, else its text with & < > " ' escaped).


def data_html(value: object) -> Markup:
    """A value that is data, not words (a number, a date, a code): never translated, "—" when there is none."""
    return Markup(f'<span translate="no">{escape(value if value is not None else "—")}</span>')


def state_html(code: object) -> Markup:
    """A lifecycle state in words, with its code as the class the stylesheet colours it by."""
    return Markup(f'<span class="state s-{escape(code)}">{escape(label("state", code))}</span>')


def yesno_html(value: object) -> Markup:
    """Yes or No in the page's language; "—" when unknown."""
    if value is None:
        return Markup("—")
    return Markup(gettext("Yes") if value else gettext("No"))


def tier_html(credit: Mapping[str, Any]) -> Markup:
    """R73: the credit tier in force and a pending change ("→ B from 2027-01-01"), as ui/credit/_tier.html says it."""
    words = escape(label("tier", credit["tier"]))
    pending = credit.get("pending")
    if not pending:
        return Markup(words)
    # As a template's `_()` does: the catalog's words as markup, the values put in escaped.
    change = Markup(gettext("→ %(tier)s from %(date)s")) % {
        "tier": label("tier", pending["tier"]),
        "date": pending["from"],
    }
    return Markup(f'{words} <small class="pending">{change}</small>')


def link_base(href: str) -> str:
    """A link's path without the id it was built with (its last segment), for a long list to append each row's id to.

    Escaped, as a template's `{{ url_for(...) }}` was.
    """
    return str(escape(href.rsplit("/", 1)[0] + "/"))


def register(app: Flask) -> None:
    app.jinja_env.globals.update(data_html=data_html, state_html=state_html, yesno_html=yesno_html, tier_html=tier_html)
