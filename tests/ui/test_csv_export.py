"""The write-off CSV opens cleanly in Excel: UTF-8 with a BOM, Chinese headers and values, English on request."""

from __future__ import annotations

import csv
import io

from tests.ui.conftest import Pages
from tests.ui.test_csv_formulas import _write_offs
from web.ui.audit import BOM, CSV_COLUMNS

CHINESE_HEADERS = ["记账序号", "时间（北京时间）", "审批单编号", "行号", "记账类型", "数量", "单位", "累计核销",
                   "记账后剩余", "报关单号", "操作人", "理由"]  # fmt: skip
ENGLISH_HEADERS = ["Entry no.", "Time (Beijing time)", "Certificate number", "Line", "Ledger entry", "Quantity", "Unit",
                   "Written off so far", "Remaining after", "Declaration number", "By", "Reason"]  # fmt: skip


def _csv(pages: Pages, query: str = "") -> tuple[bytes, list[list[str]]]:
    response = pages.client.get(f"/ui/audit/write-offs.csv{query}")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    body = response.get_data()
    return body, list(csv.reader(io.StringIO(body.decode("utf-8-sig"), newline="")))


def test_the_csv_starts_with_a_bom_and_has_chinese_headers_and_values(pages: Pages) -> None:
    _write_offs(pages, 1)
    pages.sign_in("xiamen.auditor")
    body, (headers, *rows) = _csv(pages)
    assert body.startswith(BOM.encode("utf-8"))  # EF BB BF: Excel then reads UTF-8, not the local code page
    assert headers == CHINESE_HEADERS and len(headers) == len(CSV_COLUMNS)
    kinds = {row[CSV_COLUMNS.index("kind")] for row in rows}
    roles = {row[CSV_COLUMNS.index("actor_role")] for row in rows}
    assert "已核销" in kinds and "commit" not in kinds
    assert "口岸查验人员" in roles and "port_officer" not in roles
    assert "支" in {row[CSV_COLUMNS.index("unit")] for row in rows}


def test_english_headers_and_values_follow_the_pages_language(pages: Pages) -> None:
    _write_offs(pages, 1)
    pages.sign_in("xiamen.auditor")
    with pages.client.session_transaction() as session:
        session["lang"] = "en"
    body, (headers, *rows) = _csv(pages)
    assert body.startswith(BOM.encode("utf-8")) and headers == ENGLISH_HEADERS
    assert "Written off" in {row[CSV_COLUMNS.index("kind")] for row in rows}


def test_english_can_be_asked_for_whatever_the_pages_language(pages: Pages) -> None:
    pages.sign_in("xiamen.auditor")
    assert _csv(pages, "?lang=en")[1][0] == ENGLISH_HEADERS
    assert _csv(pages, "?lang=zh")[1][0] == CHINESE_HEADERS
    assert _csv(pages, "?lang=xx")[1][0] == CHINESE_HEADERS  # an unknown language: the page's own
