"""Sign-in, CSRF, languages, the nav of each role and the error pages of the UI."""

from __future__ import annotations

import re

from sqlalchemy import select

from tests.ui.conftest import Pages
from workflow.store.tables import AuditEventRow


def _login_events(pages: Pages, outcome: str) -> list[str]:
    with pages.container.sessions() as session:
        rows = session.scalars(select(AuditEventRow).where(AuditEventRow.object_type == "user"))
        return [row.object_ref for row in rows if row.trigger == outcome]


def test_a_wrong_password_is_refused_and_written_to_the_login_history(pages: Pages) -> None:
    response = pages.sign_in("xiamen.applicant", "not-the-password")
    assert response.status_code == 401
    assert "用户名或密码错误" in response.get_data(as_text=True)
    assert "xiamen.applicant" in _login_events(pages, "login_failed")
    assert pages.client.get("/ui/applicant/applications").status_code == 302  # still signed out


def test_signing_in_opens_the_desk_of_the_role_and_logs_the_sign_in(pages: Pages) -> None:
    response = pages.sign_in("xiamen.reviewer")
    assert response.status_code == 303
    assert "xiamen.reviewer" in _login_events(pages, "login")
    home = pages.client.get("/ui/")
    assert home.status_code == 303 and home.headers["Location"].endswith("/ui/review/queue")


def test_a_form_without_the_csrf_token_is_refused(pages: Pages) -> None:
    pages.sign_in("xiamen.applicant")
    response = pages.client.post("/ui/applications/5/act/submit")
    assert response.status_code == 400
    assert "表单已过期" in response.get_data(as_text=True)


def test_htmx_requests_may_carry_the_csrf_token_in_a_header(pages: Pages) -> None:
    pages.sign_in("xiamen.applicant")
    token = pages.csrf("/ui/applicant/applications")
    response = pages.client.post("/ui/applications/5/act/withdraw", headers={"X-CSRFToken": token})
    assert response.status_code == 303


def test_the_sign_in_form_counts_failures_against_the_api_rate_limit(pages: Pages) -> None:
    statuses = [pages.sign_in("xiamen.applicant", f"wrong-{n}").status_code for n in range(11)]
    assert statuses[:10] == [401] * 10
    assert statuses[10] == 429
    assert "尝试次数过多" in pages.sign_in("xiamen.applicant").get_data(as_text=True)


def test_chinese_is_the_default_and_english_is_one_click_away(pages: Pages) -> None:
    pages.sign_in("xiamen.applicant")
    chinese = pages.text("/ui/applicant/applications")
    assert 'lang="zh-Hans"' in chinese and "我的申请" in chinese
    pages.post("/ui/language", {"lang": "en", "next": "/ui/applicant/applications"})
    english = pages.text("/ui/applicant/applications")
    assert 'lang="en"' in english and "My applications" in english and "我的申请" not in english


def test_a_language_outside_the_list_changes_nothing(pages: Pages) -> None:
    pages.sign_in("xiamen.applicant")
    response = pages.post("/ui/language", {"lang": "xx", "next": "https://evil.example/"})
    assert response.status_code == 303 and not response.headers["Location"].startswith("https://evil")
    assert "我的申请" in pages.text("/ui/applicant/applications")


def _nav(pages: Pages, username: str) -> list[str]:
    pages.sign_in(username)
    page = pages.client.get("/ui/", follow_redirects=True).get_data(as_text=True)
    nav = re.search(r'<nav aria-label="[^"]*">(.*?)</nav>', page, re.S)
    assert nav
    return re.findall(r'href="([^"]+)"', nav.group(1))


def test_each_role_sees_its_own_nav(pages: Pages) -> None:
    assert "/ui/applicant/applications/new" in _nav(pages, "xiamen.applicant")
    assert _nav(pages, "xiamen.acceptor") == ["/ui/review/queue", "/ui/labs"]  # acceptors verify labs (R9(b))
    assert _nav(pages, "xiamen.port_officer") == ["/ui/port/", "/ui/port/reversals"]
    assert "/ui/audit/write-offs" in _nav(pages, "xiamen.auditor")
    assert _nav(pages, "xiamen.expert") == ["/ui/expert/"]


def test_a_page_of_another_role_is_forbidden_as_a_page_not_json(pages: Pages) -> None:
    pages.sign_in("xiamen.applicant")
    response = pages.client.get("/ui/review/queue")
    assert response.status_code == 403
    assert response.mimetype == "text/html" and "您的角色无权访问此页面" in response.get_data(as_text=True)


def test_signed_out_visitors_are_sent_to_sign_in(pages: Pages) -> None:
    response = pages.client.get("/ui/review/queue")
    assert response.status_code == 302 and "/ui/sign-in" in response.headers["Location"]


def test_another_enterprises_application_is_not_found(pages: Pages) -> None:
    pages.sign_in("fuzhou.applicant")
    assert pages.client.get("/ui/applications/1").status_code == 404
    assert pages.client.get("/ui/applications/99999999999").status_code == 404
    assert pages.client.get("/ui/certificates/1").status_code == 404


def test_signing_out_ends_the_session(pages: Pages) -> None:
    pages.sign_in("xiamen.applicant")
    assert pages.post("/ui/sign-out").status_code == 303
    assert pages.client.get("/ui/applicant/applications").status_code == 302


def test_pages_load_only_assets_of_this_site(pages: Pages) -> None:
    pages.sign_in("xiamen.applicant")
    page = pages.text("/ui/applicant/applications")
    sources = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert sources and all(source.startswith("/") and not source.startswith("//") for source in sources)
    assert "/static/vendor/htmx/htmx.min.js" in page
    with pages.client.get("/static/vendor/htmx/htmx.min.js") as vendored:
        assert vendored.status_code == 200 and b"htmx" in vendored.get_data()


def test_pages_need_no_inline_script_or_style_so_the_strict_csp_holds(pages: Pages) -> None:
    pages.sign_in("xiamen.applicant")
    for path in ("/ui/applicant/applications/new", "/ui/applications/1", "/ui/certificates/1"):
        response = pages.client.get(path)
        page = response.get_data(as_text=True)
        assert "script-src 'self'" in response.headers["Content-Security-Policy"]
        assert " style=" not in page and "<style" not in page
        assert all("src=" in tag for tag in re.findall(r"<script[^>]*>", page))


PUBLIC_PAGES = {"ui_auth.sign_in", "ui_auth.sign_out", "ui_auth.language"}


def test_every_page_declares_the_roles_it_is_for(pages: Pages) -> None:
    app = pages.client.application
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules() if rule.rule.startswith("/ui")}
    assert len(endpoints) > 30
    undeclared = [e for e in endpoints - PUBLIC_PAGES if not getattr(app.view_functions[e], "ui_roles", None)]
    assert undeclared == []
