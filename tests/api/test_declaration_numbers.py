"""A declaration number belongs to the enterprise that filed it: a replay is answered to its owner only, and to
anyone else the number is neither confirmed nor reserved (another enterprise files its own under it)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from tests.api.conftest import World
from tests.integration.support import fx10_cytokine, grant
from web.idempotency import REPLAYED
from workflow.domain.actors import Actor
from workflow.store.tables import DeclarationRow

NUMBER = "DEC0000007001"


@pytest.fixture
def certificates(world: World) -> dict[str, str]:
    """One certificate of the home enterprise and one of its rival, both in Xiamen."""
    return {
        "home": grant(world.container, world.home, fx10_cytokine(100)),
        "rival": grant(world.container, world.rival, fx10_cytokine(100)),
    }


def _shipment(certificate_no: str, number: str = NUMBER, qty: str = "10") -> dict[str, Any]:
    return {
        "declaration_no": number,
        "certificate_no": certificate_no,
        "declared_on": "2016-06-01",
        "direction": "entry",
        "lines": [{"line_no": 1, "qty": qty}],
    }


def _declare(world: World, actor: Actor, body: dict[str, Any], batch: bool = False) -> Any:
    if batch:
        return world.call(actor, "POST", "/api/v1/declarations/batch", json={"declarations": [body]})
    return world.call(actor, "POST", "/api/v1/declarations", json=body)


def _filed(world: World) -> list[tuple[int, str]]:
    with world.container.sessions() as session:
        rows = session.execute(select(DeclarationRow.enterprise_id, DeclarationRow.declaration_no).order_by("id"))
        return [(enterprise_id, number) for enterprise_id, number in rows]


def _only(response: Any, batch: bool) -> dict[str, Any]:
    body: dict[str, Any] = response.json["declarations"][0] if batch else response.json
    return body


@pytest.mark.parametrize("batch", [False, True], ids=["single", "batch"])
def test_another_enterprise_resending_the_number_files_its_own_and_the_owner_still_replays(
    world: World, certificates: dict[str, str], batch: bool
) -> None:
    first = _declare(world, world.home.applicant, _shipment(certificates["home"]), batch)
    assert first.status_code == 201
    theirs = _declare(world, world.rival.applicant, _shipment(certificates["rival"], qty="7"), batch)
    assert theirs.status_code == 201 and REPLAYED not in theirs.headers
    own, mine = _only(theirs, batch), _only(first, batch)
    assert own["replayed"] is False and own["id"] != mine["id"]
    assert own["enterprise_id"] == world.rival.enterprise_id  # its own shipment, nothing of the home enterprise's
    again = _declare(world, world.home.applicant, _shipment(certificates["home"]), batch)
    assert again.status_code == 201 and _only(again, batch) == {**mine, "replayed": True}
    assert _filed(world) == [(world.home.enterprise_id, NUMBER), (world.rival.enterprise_id, NUMBER)]


@pytest.mark.parametrize("batch", [False, True], ids=["single", "batch"])
def test_a_number_filed_elsewhere_answers_a_stranger_exactly_as_a_number_never_filed(
    world: World, certificates: dict[str, str], batch: bool
) -> None:
    """Neither the body nor a 409: the holder's certificate refuses the stranger (D1) before any number is looked up."""
    assert _declare(world, world.home.applicant, _shipment(certificates["home"]), batch).status_code == 201
    filed = _declare(world, world.rival.applicant, _shipment(certificates["home"]), batch)
    never = _declare(world, world.rival.applicant, _shipment(certificates["home"], number="DEC0000007999"), batch)
    assert filed.status_code == never.status_code == 403
    assert {**filed.json, "instance": None} == {**never.json, "instance": None}
    assert NUMBER not in str(filed.json) and "id" not in filed.json


def test_only_the_owner_is_told_that_its_number_was_filed_with_other_content(
    world: World, certificates: dict[str, str]
) -> None:
    assert _declare(world, world.home.applicant, _shipment(certificates["home"])).status_code == 201
    changed = _declare(world, world.home.applicant, _shipment(certificates["home"], qty="11"))
    assert changed.status_code == 409 and changed.json["field"] == "declaration_no"
    elsewhere = _declare(world, world.rival.applicant, _shipment(certificates["rival"], qty="11"))
    assert elsewhere.status_code == 201


def test_a_port_officer_declaring_for_the_holder_replays_the_holders_declaration(
    world: World, certificates: dict[str, str]
) -> None:
    first = _declare(world, world.home.applicant, _shipment(certificates["home"]))
    by_port = _declare(world, world.home.port_officer, _shipment(certificates["home"]))
    assert by_port.status_code == 201 and by_port.json == {**first.json, "replayed": True}
    assert len(_filed(world)) == 1
