"""What the busiest pages send to the database, counted, so a duplicate read or a short session cannot creep back.

The application page reads each table once in the page's one read session (web/request_reads.py); the review queue
reads its page, the page's credit and the header's count in it too. On SQLite each transaction shows as its own
BEGIN statement, so the counts below include the sessions. Bounds, not times: the demo's every application and the
queue's filters, read by the officer and the applicant who may see them.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from flask_babel import force_locale
from sqlalchemy import select

from tests.ui.conftest import Pages
from tests.ui.test_inbox_header import statements
from web.ui import cells, objects
from workflow.domain import rules
from workflow.service.handlers import required_documents
from workflow.store.tables import ApplicationRow, CertificateRow, UserRow

# The sign-in's token read (in its own transaction: it may touch the session's last use); the application with its
# certificate and the certificate it replaces (one read, the visibility check's); its lines (once, for the view and
# the goods facts), documents and trail; the officers (only where the file can be claimed); the enterprise with R15's
# "granted before"; for customs its credit and approvals; the posts' officers, assessments and their panel; the
# header's unread count; the enterprise's laboratories (for a file that names one); and a BEGIN for each of the two
# transactions. It was 30–32 before the page read in one session, 19 before the reads were folded.
APPLICATION_PAGE = 15
APPLICANTS_APPLICATION_PAGE = 12  # no credit, no approvals: the applicant's page shows neither (was 19)
# The token and its BEGIN, one BEGIN, the certificate with its signed document, its lines, the ledger page and its
# balances, declarations, trail, the header's count, and the changes part (requests, particulars, replacement
# links: one read). It was 17.
CERTIFICATE_PAGE = 10
QUEUE_PAGE = 6  # the token and its BEGIN, one BEGIN, the rows, their enterprises' credit, the header's count (was 7)


def application_ids(pages: Pages, district: str) -> list[int]:
    with pages.container.sessions() as session:
        return list(session.scalars(select(ApplicationRow.id).where(ApplicationRow.district == district)))


def count(pages: Pages, path: str) -> int:
    pages.client.get(path)  # the first request of a role may warm caches and touch the session's last use
    with statements(pages) as seen:
        response = pages.client.get(path)
    assert response.status_code == 200, path
    return len(seen)


def test_the_application_page_reads_each_table_once_in_one_session(pages: Pages) -> None:
    pages.sign_in("xiamen.reviewer")
    counted = {app_id: count(pages, f"/ui/applications/{app_id}") for app_id in application_ids(pages, "xiamen")}
    assert counted
    assert max(counted.values()) <= APPLICATION_PAGE, counted


def test_the_applicants_application_page_is_as_lean(pages: Pages) -> None:
    pages.sign_in("xiamen.applicant")
    with pages.container.sessions() as session:
        enterprise = select(UserRow.enterprise_id).where(UserRow.username == "xiamen.applicant").scalar_subquery()
        own = list(session.scalars(select(ApplicationRow.id).where(ApplicationRow.enterprise_id == enterprise)))
    counted = {app_id: count(pages, f"/ui/applications/{app_id}") for app_id in own}
    assert counted
    # The applicant's local time reads the enterprise's district from the row the page read; no panel either.
    assert max(counted.values()) <= APPLICANTS_APPLICATION_PAGE, counted


def test_the_certificate_page_reads_its_parts_in_one_session(pages: Pages) -> None:
    pages.sign_in("xiamen.reviewer")
    with pages.container.sessions() as session:
        ids = list(session.scalars(select(CertificateRow.id).where(CertificateRow.district == "xiamen")))
    counted = {certificate_id: count(pages, f"/ui/certificates/{certificate_id}") for certificate_id in ids}
    assert counted
    assert max(counted.values()) <= CERTIFICATE_PAGE, counted


@pytest.mark.parametrize(
    "query", ["", "?state=all", "?state=under_review", "?grade=B&paperless=yes", "?urgency=overdue", "?holder=mine"]
)
def test_the_review_queue_reads_its_page_in_one_session(pages: Pages, query: str) -> None:
    pages.sign_in("xiamen.reviewer")
    assert count(pages, f"/ui/review/queue{query}") <= QUEUE_PAGE


def test_the_page_asks_for_the_documents_the_submission_check_asks_for(pages: Pages) -> None:
    """The page reads the facts itself (one session); the list is still the one `submit` applies (R10, R12–R16)."""
    app = pages.client.application
    for app_id in application_ids(pages, "xiamen") + application_ids(pages, "fuzhou"):
        with pages.container.deps.uow() as uow:
            found = uow.applications.get(app_id)
            natural = uow.enterprises.get(found.enterprise_id).is_natural_person
            expected = required_documents(uow, found) if rules.applicant_may_apply(found.lines, natural).result else []
        with app.test_request_context(f"/ui/applications/{app_id}"):
            assert objects._required_documents(app_id) == expected, app_id


# The macros as they were written before web/ui/cells.py took them over: the cells must draw exactly this.
MACROS = """
{% macro state(code) %}<span class="state s-{{ code }}">{{ label('state', code) }}</span>{% endmacro %}
{% macro yesno(value) %}{% if value is none %}—{% elif value %}{{ _('Yes') }}{% else %}{{ _('No') }}{% endif
%}{% endmacro %}
{% macro data(value) %}<span translate="no">{{ value if value is not none else '—' }}</span>{% endmacro %}
{% macro tier_now(credit) -%}
  {{ label('tier', credit.tier) }}{% if credit.pending %} <small class="pending">{{ _('→ %(tier)s from %(date)s',
  tier=label('tier', credit.pending.tier), date=credit.pending['from']) }}</small>{% endif %}
{%- endmacro %}
"""


def test_the_cells_the_lists_call_directly_draw_what_the_macros_drew(pages: Pages) -> None:
    """web/ui/cells.py is the markup of ui/macros.html's `data`, `state`, `yesno` and `tier_now`, in zh and en."""
    app = pages.client.application
    pending = {"tier": "B", "from": date(2027, 1, 1)}
    credits = [{"tier": "A", "pending": None}, {"tier": "C", "pending": pending}, {"tier": "<x>", "pending": None}]
    for language in ("zh_Hans_CN", "en"):
        with app.test_request_context(), force_locale(language):
            old = app.jinja_env.from_string(MACROS).module
            for value in (None, "B", date(2026, 1, 2), Decimal("1.50"), "<b>", 0, True):
                assert str(cells.data_html(value)) == str(old.data(value))  # type: ignore[attr-defined]
            for code in ("granted", "under_review", "<x>", None, ""):
                assert str(cells.state_html(code)) == str(old.state(code))  # type: ignore[attr-defined]
            for answer in (None, True, False):
                assert str(cells.yesno_html(answer)) == str(old.yesno(answer))  # type: ignore[attr-defined]
            for credit in credits:
                assert str(cells.tier_html(credit)) == str(old.tier_now(credit))  # type: ignore[attr-defined]
            assert 'class="pending"' in str(cells.tier_html(credits[1]))
            assert str(cells.data_html("<b>")) == '<span translate="no">&lt;b&gt;</span>'
