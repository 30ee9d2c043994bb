"""The write-off history's rows, drawn in Python: the markup ui/_history.html drew with a Jinja loop, the same bytes.

A history shows up to two hundred entries of ten cells (the auditors' write-off list, a certificate's page, the port
desk's, a declaration's). Drawn by Jinja, each cell was a call with its bookkeeping: a local time that looked up the
reader's zone and its words again, a `url_for`, a label looked up in the catalog. On the write-off list that was
the largest part of the page's server time (about two fifths). Here a row is one f-string: the zone, the link bases
and the words of the page's language are looked up once per page, as web/ui/queue_rows.py does for the queue.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from flask import Flask, url_for
from markupsafe import Markup, escape

from web.ui.cells import link_base
from web.ui.i18n import labels_in_language
from web.ui.local_time import PageTimes

DASH = "—"


def history_rows_html(rows: Iterable[Mapping[str, Any]]) -> Markup:
    """The `<tr>` of each entry, with the whitespace the template's loop gave them."""
    words = _HistoryWords()
    return Markup("".join([_row(row, words) for row in rows]))


class _HistoryWords:
    """What every row of one page shares: the reader's clock, the links' bases, the words of the page's language."""

    def __init__(self) -> None:
        self.times = PageTimes()
        self.certificate_href = link_base(url_for("ui_objects.certificate", certificate_id=1))
        self.declaration_href = link_base(url_for("ui_objects.declaration", declaration_id=1))
        self.entry = labels_in_language("entry")
        self.role = labels_in_language("role")

    def declaration(self, row: Mapping[str, Any]) -> str:
        if not row["declaration_id"]:
            return DASH
        href = f"{self.declaration_href}{escape(row['declaration_id'])}"
        return f'<a href="{href}" translate="no">{escape(row["declaration_no"])}</a>'


def _row(row: Mapping[str, Any], words: _HistoryWords) -> str:
    certificate_href = f"{words.certificate_href}{escape(row['certificate_id'])}"
    return (
        f'\n    <tr data-kind="{escape(row["kind"])}">\n'
        f'      <td translate="no">{escape(row["id"])}</td>\n'
        f"      <td>{words.times.html(row['at'])}</td>\n"
        f'      <td><a href="{certificate_href}" translate="no">{escape(row["certificate_no"])}</a></td>\n'
        f'      <td class="num">{escape(row["line_no"])}</td>\n'
        f"      <td>{escape(words.entry(row['kind']))}</td>\n"
        f'      <td class="num" translate="no">{escape(row["qty"])} {escape(row["unit"])}</td>\n'
        f'      <td class="num" translate="no">{escape(row["committed"])}</td>\n'
        f'      <td class="num remaining" translate="no">{escape(row["remaining"])}</td>\n'
        f"      <td>{words.declaration(row)}</td>\n"
        f"      <td>{escape(words.role(row['actor_role']))}</td>\n"
        "    </tr>\n  "
    )


def register(app: Flask) -> None:
    app.jinja_env.globals["history_rows_html"] = history_rows_html
