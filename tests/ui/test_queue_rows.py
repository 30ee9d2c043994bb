"""The review queue's hand-written rows (web/ui/queue_rows.py): escaped, in words, one row per file, the right links.

The rows are one f-string each instead of a Jinja loop, so nothing escapes them by default: every text cell here
holds HTML's special characters, and the markup read back must hold only the row's own tags, with each cell's text
exactly as stored. Codes the catalog knows show as its words in the page's language; unknown ones as themselves.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from html.parser import HTMLParser
from typing import Any

import pytest
from flask import Flask, url_for
from flask_babel import force_locale, gettext

from tests.ui.conftest import Pages
from web.ui.i18n import TABLES, district, label
from web.ui.queue_rows import queue_rows_html

SPECIAL = "<b>&amp;\"'"  # a tag, an entity, both quotes: each must come back as text
ROW_TAGS = {"tr", "td", "a", "span", "small"}  # the only markup a row draws
COLUMNS = 11


class _Table(HTMLParser):
    """The rows as read back: each cell's text (entities decoded) and its tags with their attributes."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.rows: list[list[dict[str, Any]]] = []
        self.tags: set[str] = set()
        self.in_cell = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        if tag == "tr":
            self.rows.append([])
        elif tag == "td":
            self.rows[-1].append({"text": "", "tags": [], "class": dict(attrs).get("class")})
            self.in_cell = True
        elif self.rows and self.rows[-1]:
            self.rows[-1][-1]["tags"].append((tag, dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        if tag == "td":
            self.in_cell = False

    def handle_data(self, data: str) -> None:
        if self.in_cell:
            self.rows[-1][-1]["text"] += data


def read_back(markup: str) -> _Table:
    table = _Table()
    table.feed(markup)
    table.close()
    return table


def synthetic_rows() -> list[dict[str, Any]]:
    tiers = sorted(TABLES["tier"])
    base: dict[str, Any] = {
        "id": 7,
        "reference": f"BX{SPECIAL}7",
        "enterprise": f"A & B {SPECIAL}",
        "enterprise_id": 3,
        "district": "xiamen",
        "direction": "entry",
        "grade": f"B{SPECIAL}",
        "paperless": True,
        "state": "under_review",
        "received_on": date(2026, 1, 2),
        "due_on": date(2026, 2, 3),
        "urgent": True,
        "holder": f"王 {SPECIAL}",
        "credit": {"tier": tiers[0], "pending": None},
    }
    return [
        base,
        # nothing optional: no holder, no dates, no grade, no paperless answer
        base
        | {
            "id": 8,
            "holder": None,
            "urgent": False,
            "due_on": None,
            "grade": None,
            "paperless": None,
            "received_on": None,
        },
        # a pending credit change
        base
        | {
            "id": 9,
            "enterprise_id": 4,
            "credit": {"tier": tiers[0], "pending": {"tier": tiers[-1], "from": date(2027, 1, 1)}},
        },
        # codes nobody knows, each with special characters; no credit at all
        base
        | {
            "id": 10,
            "credit": None,
            "district": f"nowhere{SPECIAL}",
            "direction": f"sideways{SPECIAL}",
            "state": f"weird{SPECIAL}",
            "paperless": False,
        },
        # an unknown tier; empty codes and an empty holder
        base
        | {
            "id": 11,
            "credit": {"tier": f"tier{SPECIAL}", "pending": None},
            "district": "",
            "direction": "",
            "state": "",
            "holder": "",
        },
    ]


@pytest.fixture
def app(pages: Pages) -> Flask:
    return pages.client.application


@contextmanager
def in_language(app: Flask, language: str) -> Iterator[None]:
    with app.test_request_context("/ui/review/queue"), force_locale(language):
        yield


@pytest.mark.parametrize("language", ["zh_Hans_CN", "en"])
def test_every_row_is_drawn_escaped_in_words_with_its_links(app: Flask, language: str) -> None:
    rows = synthetic_rows()
    with in_language(app, language):
        table = read_back(str(queue_rows_html(rows)))
        assert table.tags <= ROW_TAGS, table.tags - ROW_TAGS  # no stored text became markup
        assert len(table.rows) == len(rows)
        for row, cells in zip(rows, table.rows, strict=True):
            assert len(cells) == COLUMNS
            _check_row(row, cells)


def _check_row(row: dict[str, Any], cells: list[dict[str, Any]]) -> None:
    reference, enterprise, credit, where, direction, grade, paperless, state, received, due, holder = cells
    assert reference["text"] == row["reference"]
    assert reference["tags"][0] == (
        "a",
        {"href": url_for("ui_objects.application", application_id=row["id"]), "translate": "no"},
    )
    assert enterprise["text"] == row["enterprise"]
    _check_credit(row["credit"], row["enterprise_id"], credit)
    assert where["text"] == (district(row["district"]) if row["district"] else "—")
    assert direction["text"] == _words("direction", row["direction"])
    assert grade["text"] == (row["grade"] if row["grade"] is not None else "—")
    assert paperless["text"] == ("—" if row["paperless"] is None else gettext("Yes" if row["paperless"] else "No"))
    assert state["text"] == _words("state", row["state"])
    assert ("span", {"class": f"state s-{row['state']}"}) in state["tags"]
    assert received["text"] == (row["received_on"].isoformat() if row["received_on"] else "—")
    assert due["text"] == (row["due_on"].isoformat() if row["due_on"] else "—")
    assert due["class"] == ("urgent" if row["urgent"] else None)
    assert holder["text"] == (row["holder"] or "—")


def _check_credit(credit: dict[str, Any] | None, enterprise_id: int, cell: dict[str, Any]) -> None:
    if credit is None:
        assert cell["text"] == "" and cell["tags"] == []
        return
    assert cell["tags"][0] == ("a", {"href": url_for("ui_credit.enterprise", enterprise_id=enterprise_id)})
    assert cell["text"].startswith(_words("tier", credit["tier"]))
    if credit["pending"]:
        assert ("small", {"class": "pending"}) in cell["tags"]
        assert _words("tier", credit["pending"]["tier"]) in cell["text"]
        assert "2027-01-01" in cell["text"]


def _words(kind: str, code: str) -> str:
    """The catalog's words for a known code (never the code itself), the code as written for an unknown one."""
    if not code:
        return "—"
    if code in TABLES[kind]:
        words = str(label(kind, code))
        assert words != code, f"{kind} {code} shown as its code"
        return words
    return code
