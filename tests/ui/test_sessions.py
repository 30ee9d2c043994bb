"""Server-side sessions: signing out revokes the session's row, so a copy of the old cookie is signed out too."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import update

from tests.ui.conftest import Pages
from workflow.store.tables import UserRow

DESK = "/ui/applicant/applications"


def _copy_of_the_cookie(pages: Pages) -> FlaskClient:
    """A second browser holding exactly the cookie the first one has now (as a thief with a copy would)."""
    cookie = pages.client.get_cookie("session")
    assert cookie is not None
    thief = pages.client.application.test_client()
    thief.set_cookie("session", cookie.value)
    return thief


def _session_data(pages: Pages) -> dict[str, Any]:
    app = pages.client.application
    cookie = pages.client.get_cookie("session")
    assert cookie is not None
    data: dict[str, Any] = app.session_interface.get_signing_serializer(app).loads(cookie.value)  # type: ignore[attr-defined]
    return data


def test_a_copy_of_the_cookie_taken_before_signing_out_is_signed_out_after_it(pages: Pages) -> None:
    pages.sign_in("xiamen.applicant")
    thief = _copy_of_the_cookie(pages)
    assert thief.get(DESK).status_code == 200
    assert pages.post("/ui/sign-out").status_code == 303
    response = thief.get(DESK)
    assert response.status_code == 302 and "/ui/sign-in" in response.headers["Location"]


def test_signing_out_ends_only_that_session_not_the_persons_other_sessions(pages: Pages) -> None:
    pages.sign_in("xiamen.applicant")
    other = pages.client.application.test_client()
    other_pages = Pages(pages.container, other)
    other_pages.sign_in("xiamen.applicant")
    pages.post("/ui/sign-out")
    assert other.get(DESK).status_code == 200


def test_the_cookie_holds_a_session_token_not_a_user_id(pages: Pages) -> None:
    pages.sign_in("xiamen.applicant")
    assert str(_session_data(pages)["_user_id"]).startswith("sgs_")


def test_a_session_token_is_no_api_token(pages: Pages) -> None:
    pages.sign_in("xiamen.applicant")
    token = _session_data(pages)["_user_id"]
    response = pages.client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401


def test_a_deactivated_user_is_signed_out_at_the_next_request(pages: Pages) -> None:
    pages.sign_in("xiamen.applicant")
    with pages.container.sessions() as session, session.begin():
        session.execute(update(UserRow).where(UserRow.username == "xiamen.applicant").values(active=False))
    assert pages.client.get(DESK).status_code == 302
