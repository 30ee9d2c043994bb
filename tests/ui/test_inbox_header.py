"""The inbox page of every role and the unread count in every page's header: one capped query on the inbox index,
the notifications' words from the zh/en templates (never their codes), marking one or all read."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event, func, select

from config.demo import DEMO_MAIL_DOMAIN
from tests.ui.conftest import Pages
from workflow.service.notify import KINDS
from workflow.store.tables import NotificationRow, UserRow

BADGE = re.compile(r'<span class="badge" data-unread="(\d+)"')
ROLES = ("applicant", "acceptor", "reviewer", "decider", "head", "expert", "port_officer", "dest_officer", "auditor")


def user_id(pages: Pages, username: str) -> int:
    with pages.container.sessions() as session:
        found = session.scalar(select(UserRow.id).where(UserRow.username == username))
    assert found is not None
    return int(found)


def unread(pages: Pages, uid: int) -> int:
    with pages.container.sessions() as session:
        query = select(func.count()).where(NotificationRow.user_id == uid, NotificationRow.read_at.is_(None))
        return int(session.scalar(query) or 0)


def badge(page: str) -> int:
    found = BADGE.search(page)
    return int(found.group(1)) if found else 0


def add(pages: Pages, uid: int, kind: str, params: dict[str, str]) -> int:
    with pages.container.sessions() as session, session.begin():
        row = NotificationRow(user_id=uid, kind=kind, params=params, created_at=pages.container.deps.clock.now())
        session.add(row)
        session.flush()
        return row.id


@contextmanager
def statements(pages: Pages) -> Iterator[list[tuple[str, Any]]]:
    """Every statement the engine sends meanwhile, with its parameters."""
    seen: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_args: Any) -> None:
        seen.append((statement, parameters))

    event.listen(pages.container.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(pages.container.engine, "before_cursor_execute", record)


def test_the_header_counts_the_unread_and_the_inbox_shows_their_words_not_codes(pages: Pages) -> None:
    uid = user_id(pages, "xiamen.applicant")
    add(pages, uid, "certificate_expiring", {"certificate_no": "XM-1", "valid_until": "2016-07-01", "days": "30"})
    pages.sign_in("xiamen.applicant")
    page = pages.text("/ui/inbox/")
    assert badge(page) == unread(pages, uid) > 0
    assert '审批单即将到期（<span translate="no">30</span> 天后）：<span translate="no">XM-1</span>' in page
    assert '有效期至 <span translate="no">2016-07-01</span>' in page
    assert not any(f">{kind}<" in page or f" {kind} " in page for kind in KINDS)  # no code shown as a word
    assert "您好" not in page and "请勿直接回复" not in page  # the mail's greeting and footer are not the message


def test_marking_one_read_lowers_the_count_and_marking_all_clears_it(pages: Pages) -> None:
    uid = user_id(pages, "xiamen.acceptor")
    first = add(pages, uid, "work_to_accept", {"reference": "XM20160000001"})
    add(pages, uid, "work_to_review", {"reference": "XM20160000002"})
    pages.sign_in("xiamen.acceptor")
    before = badge(pages.text("/ui/review/queue"))
    assert before == unread(pages, uid) >= 2
    assert pages.post(f"/ui/inbox/{first}/read").status_code == 303
    assert badge(pages.text("/ui/review/queue")) == before - 1
    assert pages.post("/ui/inbox/read").status_code == 303
    page = pages.text("/ui/inbox/")
    assert badge(page) == 0 == unread(pages, uid) and 'class="badge"' not in page


def test_another_persons_notification_is_not_found_and_stays_unread(pages: Pages) -> None:
    theirs = add(pages, user_id(pages, "xiamen.reviewer"), "work_to_review", {"reference": "XM20160000002"})
    pages.sign_in("xiamen.acceptor")
    assert pages.post(f"/ui/inbox/{theirs}/read").status_code == 404
    with pages.container.sessions() as session:
        assert session.get(NotificationRow, theirs).read_at is None  # type: ignore[union-attr]


def test_every_role_has_the_inbox_page_and_the_header_link(pages: Pages) -> None:
    for role in ROLES:
        pages.post("/ui/sign-out")
        pages.sign_in(f"xiamen.{role}")
        page = pages.text("/ui/inbox/")
        assert "<h1>消息通知</h1>" in page and 'href="/ui/inbox/"' in page, role


def test_english_readers_get_the_english_words(pages: Pages) -> None:
    add(pages, user_id(pages, "xiamen.decider"), "work_to_decide", {"reference": "XM20160000009"})
    pages.sign_in("xiamen.decider")
    pages.post("/ui/language", {"lang": "en", "next": "/ui/inbox/"})
    page = pages.text("/ui/inbox/")
    assert 'Application under review, for decision: <span translate="no">XM20160000009</span>' in page
    assert ">Notifications<" in page


def test_the_header_count_is_one_capped_query_on_the_inbox_index(pages: Pages) -> None:
    uid = user_id(pages, "xiamen.head")
    for n in range(120):
        add(pages, uid, "work_to_accept", {"reference": f"XM2016{n:07d}"})
    pages.sign_in("xiamen.head")
    with statements(pages) as seen:
        page = pages.text("/ui/review/queue")
    assert badge(page) == 100 and ">99+<" in page  # capped: counting further would read more for nothing
    [(statement, parameters)] = [(s, p) for s, p in seen if "notifications" in s]  # one query, and only one
    assert "LIMIT" in statement.upper()
    with pages.container.engine.connect() as connection:  # the statement as sent, with its parameters
        rows = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", tuple(parameters))
        plan = " ".join(str(row[-1]) for row in rows)
    assert "ix_notifications_inbox" in plan and "SCAN notifications" not in plan


def test_the_demo_users_have_email_addresses_so_the_demo_writes_mail(pages: Pages) -> None:
    with pages.container.sessions() as session:
        emails = list(session.scalars(select(UserRow.email)))
    assert emails and all(email.endswith(f"@{DEMO_MAIL_DOMAIN}") for email in emails)


def test_a_hostile_notification_id_is_not_found_never_a_500(pages: Pages) -> None:
    pages.sign_in("xiamen.applicant")
    for value in ("0", "99999999999999999999999"):
        assert pages.post(f"/ui/inbox/{value}/read").status_code == 404
    for query in ("before=-3", "before=abc", "before=99999999999999999999999", "unread=yes"):
        assert "<h1>消息通知</h1>" in pages.text(f"/ui/inbox/?{query}")  # a question with no answer: a page, not a 500
