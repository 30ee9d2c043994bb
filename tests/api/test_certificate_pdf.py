"""`GET /api/v1/certificates/{no}/pdf`: the signed PDF for its holder, the district's port officers and auditors."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from sqlalchemy import select

from tasks.documents import certificate_folder, render_certificate_document
from tests.api.conftest import World
from tests.integration.support import fx10_cytokine, grant
from workflow.domain.actors import Role
from workflow.domain.permissions import Action, roles_for
from workflow.store.tables import CertificateRow

MAY_DOWNLOAD = {Role.APPLICANT, Role.PORT_OFFICER, Role.AUDITOR}


def _granted(world: World, render: bool = True) -> str:
    number = grant(world.container, world.home, fx10_cytokine(100))
    if render:
        with world.container.sessions() as session:
            certificate_id = session.scalar(select(CertificateRow.id).where(CertificateRow.certificate_no == number))
        assert certificate_id is not None
        render_certificate_document(world.container, certificate_id)
    return number


def test_the_table_gives_the_download_to_the_holder_the_port_and_the_auditor() -> None:
    assert roles_for(Action.DOWNLOAD_CERTIFICATE) == MAY_DOWNLOAD


def test_the_holder_the_port_officer_and_the_auditor_download_the_signed_pdf(world: World) -> None:
    number = _granted(world)
    stored = (certificate_folder(world.container) / f"{number}.pdf").read_bytes()
    for actor in (world.home.applicant, world.home.port_officer, world.home.officers[Role.AUDITOR]):
        response = world.call(actor, "GET", f"/api/v1/certificates/{number}/pdf")
        assert response.status_code == 200, (actor.role, response.get_data(as_text=True))
        assert response.mimetype == "application/pdf" and response.data == stored and stored.startswith(b"%PDF-")
        assert response.headers["Content-Disposition"] == f"attachment; filename={number}.pdf"
        assert "no-store" in response.headers["Cache-Control"]


def test_the_verification_link_verifies(world: World) -> None:
    number = _granted(world)
    response = world.call(world.home.applicant, "GET", f"/api/v1/certificates/{number}/pdf")
    link = response.headers["Link"]
    assert link.endswith('>; rel="verify"')
    url = urlsplit(link[1 : link.index(">")])
    assert url.path == "/verify"
    verdict = world.client.post("/verify", data={"payload": parse_qs(url.query)["payload"][0]})
    assert verdict.status_code == 200 and number in verdict.get_data(as_text=True)


def test_other_roles_are_refused_and_other_enterprises_and_districts_see_nothing(world: World) -> None:
    number = _granted(world)
    path = f"/api/v1/certificates/{number}/pdf"
    refused = [actor for role, actor in world.home.officers.items() if role not in MAY_DOWNLOAD]
    assert refused and all(world.call(actor, "GET", path).status_code == 403 for actor in refused)
    assert world.call(world.admin, "GET", path).status_code == 403
    strangers = (world.rival.applicant, world.far.port_officer, world.far.officers[Role.AUDITOR])
    assert [world.call(actor, "GET", path).status_code for actor in strangers] == [404, 404, 404]


def test_before_the_worker_renders_it_the_answer_is_404_saying_it_is_being_prepared(world: World) -> None:
    number = _granted(world, render=False)
    response = world.call(world.home.applicant, "GET", f"/api/v1/certificates/{number}/pdf")
    assert response.status_code == 404 and "being prepared" in response.get_data(as_text=True)
    unknown = world.call(world.home.applicant, "GET", "/api/v1/certificates/XM0000E000000/pdf")
    assert unknown.status_code == 404 and "being prepared" not in unknown.get_data(as_text=True)
