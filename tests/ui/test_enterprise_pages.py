"""The enterprise admin's pages: the profile form, adding users, deactivating them, the last admin's guard."""

from __future__ import annotations

from sqlalchemy import select

from tests.ui.conftest import Pages
from workflow.store.tables import AuditEventRow, EnterpriseRow, UserRow

NEW_USER = {
    "username": "xiamen.clerk",
    "display_name": "王小明",
    "email": "clerk@example.cn",
    "password": "a long initial password",
}
PROFILE = {
    "name": "厦门海沧生物科技有限公司",
    "name_en": "Xiamen Haicang Biotech Co., Ltd.",
    "address": "厦门市海沧区新阳路1号",
    "contact_person": "李华",
    "phone": "0592-6881234",
}


def _enterprise(pages: Pages) -> EnterpriseRow:
    with pages.container.sessions() as session:
        row = session.scalar(select(EnterpriseRow).where(EnterpriseRow.district == "xiamen"))
        assert row is not None
        return row


def _user(pages: Pages, username: str) -> UserRow:
    with pages.container.sessions() as session:
        row = session.scalar(select(UserRow).where(UserRow.username == username))
        assert row is not None
        return row


def _triggers(pages: Pages, object_type: str) -> list[str]:
    """The events of the Xiamen enterprise (for "enterprise"), or of every object of the type."""
    mine = _enterprise(pages).id if object_type == "enterprise" else None
    with pages.container.sessions() as session:
        query = select(AuditEventRow.trigger).where(AuditEventRow.object_type == object_type)
        if mine is not None:  # the demo records events on other districts' enterprises too (a violation case)
            query = query.where(AuditEventRow.object_id == mine)
        return [t for t in session.scalars(query.order_by(AuditEventRow.id)) if not t.startswith("login")]


def _another_browser(pages: Pages) -> Pages:
    return Pages(pages.container, pages.client.application.test_client())


def test_the_admin_edits_the_profile_and_the_edit_is_audited(pages: Pages) -> None:
    pages.sign_in("xiamen.applicant")
    form = pages.text("/ui/enterprise/profile")
    assert _enterprise(pages).uscc in form and 'name="uscc"' not in form  # shown, never editable
    response = pages.post("/ui/enterprise/profile", {**PROFILE, "version": "0"})
    assert response.status_code == 303, response.get_data(as_text=True)[:2000]
    assert "0592-6881234" in pages.text("/ui/applicant/enterprise")
    assert _enterprise(pages).version == 1 and _triggers(pages, "enterprise") == ["edit_profile"]
    stale = pages.post("/ui/enterprise/profile", {**PROFILE, "name": "旧表单", "version": "0"})
    assert stale.status_code == 422 and _enterprise(pages).name == PROFILE["name"]


def test_a_bad_phone_or_an_empty_name_is_shown_beside_the_field(pages: Pages) -> None:
    pages.sign_in("xiamen.applicant")
    for changed, field in (({"phone": "call me"}, "phone"), ({"name": ""}, "name"), ({"name": "  "}, "name")):
        response = pages.post("/ui/enterprise/profile", {**PROFILE, **changed, "version": "0"})
        assert response.status_code == 422, changed
        assert f'id="{field}-error"' in response.get_data(as_text=True), changed
    assert _enterprise(pages).version == 0 and _triggers(pages, "enterprise") == []


def test_an_added_user_signs_in_and_sees_the_enterprise_read_only(pages: Pages) -> None:
    pages.sign_in("xiamen.applicant")
    response = pages.post("/ui/enterprise/users", NEW_USER)
    assert response.status_code == 303, response.get_data(as_text=True)[:2000]
    assert "xiamen.clerk" in pages.text("/ui/enterprise/users")
    clerk = _another_browser(pages)
    assert clerk.sign_in("xiamen.clerk", NEW_USER["password"]).status_code == 303
    listing = clerk.text("/ui/enterprise/users")
    assert "xiamen.applicant" in listing and 'name="password"' not in listing and "data-action=" not in listing
    assert clerk.client.get("/ui/enterprise/profile").status_code == 403
    refused = clerk.post("/ui/enterprise/users", {**NEW_USER, "username": "xiamen.sneaky"})
    assert refused.status_code == 403 and _triggers(pages, "user") == ["add_user"]
    clerk_id = _user(pages, "xiamen.clerk").id
    assert clerk.post("/ui/enterprise/users/make_admin", {"user_id": clerk_id}).status_code == 403
    assert not _user(pages, "xiamen.clerk").is_enterprise_admin


def test_a_bad_new_user_is_refused_beside_its_field(pages: Pages) -> None:
    pages.sign_in("xiamen.applicant")
    for changed, field in (({"email": "nope"}, "email"), ({"password": "short"}, "password"),
                           ({"username": "xiamen.reviewer"}, "username")):  # fmt: skip
        response = pages.post("/ui/enterprise/users", {**NEW_USER, **changed})
        assert response.status_code == 422, changed
        assert f'id="{field}-error"' in response.get_data(as_text=True), changed
    assert _triggers(pages, "user") == []


def test_a_deactivated_user_cannot_sign_in(pages: Pages) -> None:
    pages.sign_in("xiamen.applicant")
    pages.post("/ui/enterprise/users", NEW_USER)
    clerk_id = _user(pages, "xiamen.clerk").id
    assert pages.post("/ui/enterprise/users/deactivate", {"user_id": clerk_id}).status_code == 303
    assert _another_browser(pages).sign_in("xiamen.clerk", NEW_USER["password"]).status_code == 401
    assert pages.post("/ui/enterprise/users/reactivate", {"user_id": clerk_id}).status_code == 303
    assert _another_browser(pages).sign_in("xiamen.clerk", NEW_USER["password"]).status_code == 303
    assert _triggers(pages, "user") == ["add_user", "deactivate", "reactivate"]


def test_the_last_admin_cannot_step_down_or_deactivate_themselves(pages: Pages) -> None:
    pages.sign_in("xiamen.applicant")
    me = _user(pages, "xiamen.applicant").id
    for action in ("unmake_admin", "deactivate"):
        response = pages.post(f"/ui/enterprise/users/{action}", {"user_id": me})
        assert response.status_code == 422, action
        assert f'id="user-{me}-error"' in response.get_data(as_text=True)
    row = _user(pages, "xiamen.applicant")
    assert row.is_enterprise_admin and row.active and _triggers(pages, "user") == []


def test_the_forms_need_the_csrf_token_and_speak_chinese(pages: Pages) -> None:
    pages.sign_in("xiamen.applicant")
    page = pages.text("/ui/enterprise/users")
    assert "企业用户" in page and "添加用户" in page
    response = pages.client.post("/ui/enterprise/users", data=NEW_USER)
    assert response.status_code == 400 and _triggers(pages, "user") == []


def test_the_demo_makes_each_enterprises_applicant_its_admin(pages: Pages) -> None:
    with pages.container.sessions() as session:
        rows = session.execute(select(UserRow.username, UserRow.is_enterprise_admin).where(UserRow.role == "applicant"))
        admins = {name: flag for name, flag in rows}
    assert admins == {f"{d}.applicant": True for d in ("xiamen", "fuzhou", "quanzhou", "pingtan")}
