"""Hardening: security headers and CSP, cookie flags, uploads (size, sniffed type, safe names), no 500 on bad input."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import pytest

from config.bootstrap import Container
from tests.api.conftest import World
from tests.api.test_lifecycle_over_http import CYTOKINE, file_draft
from tests.integration.support import PDF
from web import create_app


def test_every_response_carries_the_security_headers_and_a_csp_without_inline_code(world: World) -> None:
    for path in ("/", "/api/v1/openapi.json", "/api/v1/me", "/api/v1/nowhere", "/verify"):
        headers = world.client.get(path).headers
        csp = headers["Content-Security-Policy"]
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp, path
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp, path
        assert headers["X-Content-Type-Options"] == "nosniff" and headers["X-Frame-Options"] == "DENY", path
        assert headers["Referrer-Policy"] == "no-referrer", path
    assert world.client.get("/api/v1/me").headers["Cache-Control"] == "no-store"


def test_the_token_api_neither_reads_nor_sets_a_session_cookie_so_its_answers_do_not_vary_by_cookie(
    world: World,
) -> None:
    world.client.set_cookie("session", "not a signed session")
    response = world.call(world.home.applicant, "GET", "/api/v1/me")
    assert response.status_code == 200 and "Set-Cookie" not in response.headers
    assert "Cookie" not in response.headers.get("Vary", "")
    assert world.client.get("/api/v1/me").status_code == 401  # a cookie alone never signs anyone in to the API


def test_no_docs_ui_is_served_so_nothing_loads_from_a_cdn(world: World) -> None:
    assert world.client.get("/docs").status_code == 404
    assert "cdn" not in world.client.get("/").get_data(as_text=True).lower()


def test_session_cookies_are_http_only_and_same_site_and_secure_with_hsts_in_production(
    world: World, make_container: Callable[..., Container], database_url: str
) -> None:
    config = world.client.application.config
    assert config["SESSION_COOKIE_HTTPONLY"] is True and config["SESSION_COOKIE_SAMESITE"] == "Lax"
    assert config["REMEMBER_COOKIE_HTTPONLY"] is True
    assert config["SESSION_COOKIE_SECURE"] is False and "Strict-Transport-Security" not in world.client.get("/").headers
    production = create_app(make_container(database_url, env="production", secret_key="a real secret"))
    assert production.config["SESSION_COOKIE_SECURE"] is production.config["REMEMBER_COOKIE_SECURE"] is True
    headers = production.test_client().get("/api/v1/openapi.json").headers
    assert headers["Strict-Transport-Security"].startswith("max-age=")


def _upload(world: World, application_id: int, content: bytes, name: str = "scan.pdf") -> Any:
    return world.call(
        world.home.applicant,
        "POST",
        f"/api/v1/applications/{application_id}/documents",
        data={"doc_type": "application_form", "file": (io.BytesIO(content), name)},
        content_type="multipart/form-data",
    )


def test_an_upload_over_the_limit_is_refused_naming_the_file(make_world: Callable[..., World]) -> None:
    world = make_world({"SPECGOODS_MAX_UPLOAD_BYTES": 64})
    application_id = file_draft(world)["id"]
    response = _upload(world, application_id, PDF + b"0" * 64)
    assert response.status_code == 422 and response.json["field"] == "file"
    assert world.call(world.home.applicant, "GET", f"/api/v1/applications/{application_id}").json["documents"] == []


@pytest.mark.parametrize(
    "content", [b"<html><script>alert(1)</script>", b"MZ\x90\x00", b""], ids=["html", "exe", "empty"]
)
def test_an_upload_that_is_not_pdf_png_or_jpeg_by_its_bytes_is_refused(world: World, content: bytes) -> None:
    application_id = file_draft(world)["id"]
    response = _upload(world, application_id, content, "innocent.pdf")
    assert response.status_code == 422 and response.json["field"] == "file"


def test_an_uploaded_file_is_stored_by_hash_outside_static(world: World) -> None:
    application_id = file_draft(world)["id"]
    assert _upload(world, application_id, PDF, "../../web/static/evil.pdf").status_code == 201
    static = world.client.application.static_folder or ""
    stored = list((world.container.settings.instance_path / "documents").rglob("*"))
    assert any(path.is_file() for path in stored)
    assert all(static not in str(path.resolve()) for path in stored)
    assert not any("evil" in path.name for path in stored)


def draft(**changes: Any) -> dict[str, Any]:
    return {"district": "xiamen", "direction": "entry", "lines": [CYTOKINE], **changes}


PRECHECK = {"direction": "entry", "date": "1990-01-01", "applicant": {}, "lines": [CYTOKINE]}
BAD_INPUT = [
    ("POST", "/api/v1/applications", b"{not json", "body", 400),
    ("POST", "/api/v1/applications", draft(lines=[]), "lines", 422),
    ("POST", "/api/v1/applications", draft(direction="sideways"), "direction", 422),
    ("POST", "/api/v1/applications", draft(x=1), "x", 422),
    ("POST", "/api/v1/applications", draft(district="atlantis"), "district", 422),
    ("POST", "/api/v1/applications", draft(lines=[{**CYTOKINE, "quantity": "-1"}]), "lines.0.quantity", 422),
    ("GET", "/api/v1/applications?limit=0", None, "limit", 422),
    ("GET", "/api/v1/applications?before=99999999999999999999999", None, "before", 422),
    ("GET", "/api/v1/applications/99999999999999999999999", None, None, 404),
    ("POST", "/api/v1/precheck", PRECHECK, "date", 422),
]


@pytest.mark.parametrize(("method", "path", "body", "field", "status"), BAD_INPUT)
def test_bad_input_is_a_problem_naming_the_field_never_a_500(
    world: World, method: str, path: str, body: Any, field: str | None, status: int
) -> None:
    kwargs: dict[str, Any] = {"data": body, "content_type": "application/json"} if isinstance(body, bytes) else {}
    if isinstance(body, dict):
        kwargs["json"] = body
    response = world.call(world.home.applicant, method, path, **kwargs)
    assert response.status_code == status, response.get_json()
    assert response.mimetype == "application/problem+json"
    if field is not None:
        assert response.json["field"] == field and response.json["errors"][0]["field"] == field, response.json
