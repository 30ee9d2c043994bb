"""The review queue's rows, drawn in Python: the markup ui/review/_rows.html drew with a Jinja loop, the same bytes.

Fifty rows of eleven cells were the queue page's largest cost: each cell a Jinja call (a label, a district, a cell
function, a `url_for`), each call some microseconds of Jinja's and Flask-Babel's bookkeeping on top of its own work.
Here a row is one f-string: the words of the page's language are looked up once per page (web/ui/i18n.py's
`words_in_language`), the two links are one base each with the id appended, and the cells are web/ui/cells.py's.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from flask import url_for
from flask_babel import gettext
from markupsafe import Markup, escape

from web.ui.cells import data_html, link_base, tier_html
from web.ui.i18n import district, labels_in_language, words_in_language

DASH = "—"


def queue_rows_html(rows: Iterable[Mapping[str, Any]]) -> Markup:
    """The `<tr>` of each row, with the whitespace the template's loop gave them."""
    words = _PageWords()
    return Markup("".join([_row(row, words) for row in rows]))


class _PageWords:
    """What every row of one page shares: the links' bases and the words of the page's language."""

    def __init__(self) -> None:
        self.application_href = link_base(url_for("ui_objects.application", application_id=1))
        self.credit_href = link_base(url_for("ui_credit.enterprise", enterprise_id=1))
        self.state_words = labels_in_language("state")
        self.direction = labels_in_language("direction")
        self.tiers = words_in_language("tier")
        self.yes, self.no = Markup(gettext("Yes")), Markup(gettext("No"))
        self.districts: dict[object, str] = {}

    def state(self, code: object) -> Markup:
        return Markup(f'<span class="state s-{escape(code)}">{escape(self.state_words(code))}</span>')

    def tier(self, credit: Mapping[str, Any]) -> object:
        """cells.tier_html's words; a pending change (rare in a queue) is tier_html's to say."""
        code = credit["tier"]
        found = self.tiers.get(code) if isinstance(code, str) and not credit.get("pending") else None
        return escape(found) if found is not None else tier_html(credit)

    def district(self, code: str | None) -> str:
        found = self.districts.get(code)
        if found is None:
            found = self.districts[code] = district(code)
        return found

    def yesno(self, value: object) -> str:
        return DASH if value is None else self.yes if value else self.no


def _row(row: Mapping[str, Any], words: _PageWords) -> str:
    credit = row["credit"]
    tier = f'<a href="{words.credit_href}{row["enterprise_id"]}">{words.tier(credit)}</a>' if credit else ""
    urgent = ' class="urgent"' if row["urgent"] else ""
    return (
        "\n    <tr>\n"
        f'      <td><a href="{words.application_href}{row["id"]}" translate="no">{escape(row["reference"])}</a></td>\n'
        f'      <td translate="no">{escape(row["enterprise"])}</td>\n'
        f"      <td>{tier}</td>\n"
        f"      <td>{escape(words.district(row['district']))}</td>\n"
        f"      <td>{escape(words.direction(row['direction']))}</td>\n"
        f"      <td>{data_html(row['grade'])}</td>\n"
        f"      <td>{words.yesno(row['paperless'])}</td>\n"
        f"      <td>{words.state(row['state'])}</td>\n"
        f"      <td>{data_html(row['received_on'])}</td>\n"
        f"      <td{urgent}>{data_html(row['due_on'])}</td>\n"
        f'      <td translate="no">{escape(row["holder"] or DASH)}</td>\n'
        "    </tr>\n  "
    )
