"""The write-off history's hand-written rows (web/ui/history_rows.py): the loop's bytes, escaped, in words.

The rows are one f-string each instead of a Jinja loop. The loop ui/_history.html ran before is kept here and
rendered by the app's own Jinja beside the new rows, in both languages, for entries that hold HTML's special
characters in every text cell, codes the catalog does not know, no declaration, and times with and without a zone:
the two must be the same bytes. Read back, a row holds only its own tags.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from flask import Flask, render_template_string
from flask_babel import force_locale

from tests.ui.conftest import Pages
from tests.ui.test_queue_rows import SPECIAL, read_back
from web.ui.history_rows import history_rows_html

# ui/_history.html's loop as it was, the reference the hand-written rows must match byte for byte.
LOOP = """{% for e in history %}
    <tr data-kind="{{ e.kind }}">
      <td translate="no">{{ e.id }}</td>
      <td>{{ e.at|local_time }}</td>
      <td><a href="{{ url_for('ui_objects.certificate', certificate_id=e.certificate_id) }}" translate="no">{{ e.certificate_no }}</a></td>
      <td class="num">{{ e.line_no }}</td>
      <td>{{ label('entry', e.kind) }}</td>
      <td class="num" translate="no">{{ e.qty }} {{ e.unit }}</td>
      <td class="num" translate="no">{{ e.committed }}</td>
      <td class="num remaining" translate="no">{{ e.remaining }}</td>
      <td>{% if e.declaration_id %}<a href="{{ url_for('ui_objects.declaration', declaration_id=e.declaration_id) }}" translate="no">{{ e.declaration_no }}</a>{% else %}—{% endif %}</td>
      <td>{{ label('role', e.actor_role) }}</td>
    </tr>
  {% endfor %}"""  # noqa: E501 - the template's lines as they were
ROW_TAGS = {"tr", "td", "a", "time", "span"}


def entries() -> list[dict[str, Any]]:
    base: dict[str, Any] = {
        "id": 41,
        "kind": "commit",
        "qty": "12.5",
        "unit": f"ml{SPECIAL}",
        "at": datetime(2026, 12, 6, 17, 30, 5),
        "actor_role": "port_officer",
        "reason": None,
        "certificate_id": 7,
        "certificate_no": f"BC{SPECIAL}7",
        "line_no": 2,
        "declaration_id": 90,
        "declaration_no": f"DX{SPECIAL}90",
        "committed": "40",
        "remaining": "60",
    }
    return [
        base,
        base | {"id": 42, "kind": "reverse", "declaration_id": None, "declaration_no": None, "actor_role": "auditor"},
        base | {"id": 43, "at": datetime(2026, 1, 1, 0, 0, tzinfo=UTC), "kind": "reserve"},
        base | {"id": 44, "kind": f"odd{SPECIAL}", "actor_role": f"who{SPECIAL}", "at": "2026-03-04T05:06:07"},
        base | {"id": 45, "kind": "", "actor_role": None, "at": None, "committed": f"{SPECIAL}", "remaining": "0"},
    ]


@pytest.fixture
def app(pages: Pages) -> Flask:
    return pages.client.application


@pytest.mark.parametrize("language", ["zh_Hans_CN", "en"])
def test_the_rows_are_the_loops_bytes(app: Flask, language: str) -> None:
    rows = entries()
    with app.test_request_context("/ui/audit/write-offs"), force_locale(language):
        drawn = str(history_rows_html(rows))
        assert drawn == render_template_string(LOOP, history=rows)
        assert "—" in drawn and f"BC{SPECIAL}" not in drawn  # the sample reaches both branches and is escaped


def test_a_row_holds_only_its_own_tags_and_the_stored_text(app: Flask) -> None:
    rows = entries()
    with app.test_request_context("/ui/audit/write-offs"), force_locale("en"):
        table = read_back(str(history_rows_html(rows)))
    assert table.tags <= ROW_TAGS, table.tags - ROW_TAGS
    assert [len(cells) for cells in table.rows] == [10] * len(rows)
    odd = table.rows[3]
    assert odd[2]["text"] == f"BC{SPECIAL}7" and odd[4]["text"] == f"odd{SPECIAL}" and odd[9]["text"] == f"who{SPECIAL}"
    assert table.rows[1][8]["text"] == "—" and table.rows[0][8]["text"] == f"DX{SPECIAL}90"
    assert table.rows[0][4]["text"] != "commit"  # a known code shows as words, never as the code


def test_an_empty_history_says_so(pages: Pages) -> None:
    with pages.client.application.test_request_context("/ui/audit/write-offs"), force_locale("en"):
        page = render_template_string('{% with history=[] %}{% include "ui/_history.html" %}{% endwith %}')
    assert "No write-offs yet." in page and "<tr data-kind" not in page
