"""Laboratories over `/api/v1` (R9(b), R14, R62): the admin keeps them, the district's officer verifies them, the shared
input schema refuses bad input at its field, and a grant whose lab does not match is a problem naming R62."""

from __future__ import annotations

import io
from typing import Any

from sqlalchemy import func, select

from tests.api.conftest import World
from tests.api.test_lifecycle_over_http import attach_all
from workflow.store.enterprise_admin import make_admin
from workflow.store.tables import AuditEventRow, CertificateRow, LaboratoryRow

P1 = {
    "name": "教学实验室",
    "address": "园区 1 号楼",
    "bsl_level": 1,
    "valid_from": "2015-01-01",
    "valid_until": "2020-12-31",
}
STRAIN = {"name_zh": "表皮葡萄球菌", "category": "microorganism", "quantity": "2", "unit": "株", "pathogen_class": 4}
PDF = b"%PDF-1.4 lab accreditation\n%%EOF"


def _admin(world: World) -> None:
    with world.container.sessions() as session, session.begin():
        make_admin(session, world.home.applicant.name)


def _labs(world: World) -> str:
    return f"/api/v1/enterprises/{world.home.enterprise_id}/laboratories"


def _registered(world: World, body: dict[str, Any] | None = None) -> dict[str, Any]:
    _admin(world)
    made = world.call(world.home.applicant, "POST", _labs(world), json=body or P1)
    assert made.status_code == 201, made.json
    upload = {"file": (io.BytesIO(PDF), "认可证书.pdf")}
    path = f"/api/v1/laboratories/{made.json['id']}/evidence"
    attached = world.call(world.home.applicant, "POST", path, data=upload, content_type="multipart/form-data")
    assert attached.status_code == 200, attached.json
    return dict(attached.json)


def test_the_admin_registers_a_lab_with_evidence_and_an_officer_of_the_district_verifies_it(world: World) -> None:
    lab = _registered(world)
    assert lab["bsl_level"] == 1 and lab["verified_on"] is None and lab["evidence_filename"] == "认可证书.pdf"

    verified = world.call(world.home.acceptor, "POST", f"/api/v1/laboratories/{lab['id']}/verify",
                          json={"version": lab["version"]})  # fmt: skip

    assert verified.status_code == 200, verified.json
    assert verified.json["verified_on"] == "2016-06-01"
    listed = world.call(world.home.applicant, "GET", _labs(world)).json["items"]
    assert [item["id"] for item in listed] == [lab["id"]]


def test_others_are_refused_and_nothing_is_written(world: World) -> None:
    plain = world.call(world.home.applicant, "POST", _labs(world), json=P1)  # not the enterprise's admin
    assert plain.status_code == 403, plain.json
    lab = _registered(world)
    rival = world.call(world.rival.applicant, "PUT", f"/api/v1/laboratories/{lab['id']}", json=P1)
    assert rival.status_code == 404, rival.json  # another enterprise learns nothing
    far = world.call(world.far.acceptor, "POST", f"/api/v1/laboratories/{lab['id']}/verify", json={})
    assert far.status_code == 404, far.json  # another district's officer
    port = world.call(world.home.port_officer, "POST", f"/api/v1/laboratories/{lab['id']}/verify", json={})
    assert port.status_code == 403, port.json  # a role the table does not give VERIFY_LAB
    with world.container.sessions() as session:
        assert session.scalar(select(func.count()).select_from(LaboratoryRow)) == 1
        assert session.scalar(select(LaboratoryRow.verified_on)) is None


def test_bad_input_is_refused_at_its_field_by_the_shared_schema(world: World) -> None:
    _admin(world)
    for body, field in (
        ({**P1, "bsl_level": 5}, "bsl_level"),
        ({**P1, "accreditation_body": "CNAS"}, "accreditation_no"),
        ({**P1, "valid_until": "2014-01-01"}, "valid_until"),
        ({**P1, "unknown": 1}, "unknown"),
    ):
        refused = world.call(world.home.applicant, "POST", _labs(world), json=body)
        assert refused.status_code == 422, refused.json
        assert field in str(refused.json), (field, refused.json)
    with world.container.sessions() as session:
        assert session.scalar(select(func.count()).select_from(LaboratoryRow)) == 0


def test_a_stale_verification_is_a_conflict(world: World) -> None:
    lab = _registered(world)
    stale = world.call(world.home.acceptor, "POST", f"/api/v1/laboratories/{lab['id']}/verify", json={"version": 0})
    assert stale.status_code == 409, stale.json


def test_r62_a_grant_over_http_is_refused_when_the_lab_is_below_the_goods_level(world: World) -> None:
    lab = _registered(world)
    assert (
        world.call(world.home.acceptor, "POST", f"/api/v1/laboratories/{lab['id']}/verify", json={}).status_code == 200
    )
    body = {"district": "xiamen", "direction": "entry", "lines": [STRAIN | {"lab_id": lab["id"]}]}
    filed = world.call(world.home.applicant, "POST", "/api/v1/applications", json=body)
    assert filed.status_code == 201, filed.json
    path = f"/api/v1/applications/{filed.json['id']}"
    attach_all(world, filed.json["id"])
    for actor, step in ((world.home.applicant, "submit"), (world.home.acceptor, "accept"),
                        (world.home.reviewer, "start-review")):  # fmt: skip
        assert world.call(actor, "POST", f"{path}/{step}").status_code == 200
    with world.container.sessions() as session:
        before = session.scalar(select(func.count()).select_from(AuditEventRow))

    refused = world.call(world.home.decider, "POST", f"{path}/grant", json={"reason": "documents complete"})

    assert refused.status_code == 422, refused.json
    assert refused.json["rule_id"] == "R62" and "below BSL-2" in refused.json["detail"]
    with world.container.sessions() as session:
        assert session.scalar(select(func.count()).select_from(AuditEventRow)) == before
        assert session.scalar(select(func.count()).select_from(CertificateRow)) == 0
