"""The certificate holder is told, in the transaction of the change: a declaration held at the port (D2/W6), drawn
for inspection (D4) or held for the laboratory (D5); a disposal ordered (R49, W6 excess, R56) as return or
destruction; the certificate used up (C3). A declaration released on its documents tells nobody."""

from __future__ import annotations

from decimal import Decimal

from config.bootstrap import Container
from tasks.mail import render
from tests.conftest import Cast
from tests.integration.support import certificate_state, declare, fx04_ecoli, fx10_cytokine, grant
from tests.integration.test_applicant_notifications import colleague, told
from tests.integration.test_officer_notifications import inbox, officer
from workflow.domain import commands as c
from workflow.domain.actors import Actor, Role
from workflow.domain.ledger import Disposal

HOLDER_KINDS = ("declaration", "disposal", "certificate_")


def holder_inbox(container: Container, cast: Cast) -> list[str]:
    return [kind for kind in inbox(container, cast.applicant.user_id) if kind.startswith(HOLDER_KINDS)]


def test_a_shipment_released_on_its_documents_tells_nobody(container: Container, cast: Cast) -> None:
    number = grant(container, cast, fx10_cytokine(100))
    assert declare(container, cast, number, 10)["state"] == "released"
    assert holder_inbox(container, cast) == []


def test_inspection_then_laboratory_then_destruction_each_tell_every_user_of_the_holder(
    container: Container, cast: Cast
) -> None:
    other = colleague(container, cast, "colleague", locale="en")
    number = grant(container, cast, fx10_cytokine(100))
    shipment = declare(container, cast, number, 10, inspected=True)
    declaration_id, no = shipment["declaration_id"], shipment["declaration_no"]
    container.bus.handle(c.RecordInspection(cast.port_officer, declaration_id, outcome="sample"))
    container.bus.handle(
        c.RecordLabResult(cast.port_officer, declaration_id, "泄漏", passed=False, disposal=Disposal.DESTROY)
    )
    expected = ["declaration_inspected", "declaration_lab_hold", "disposal_destroy"]
    assert holder_inbox(container, cast) == expected
    assert told(container, other, "declaration_inspected") == [{"declaration_no": no}]
    assert told(container, other, "disposal_destroy") == [{"declaration_no": no, "reason": "泄漏"}]
    subject, body = render("disposal_destroy", "zh", {"declaration_no": no, "reason": "泄漏"})
    assert subject == f"销毁通知：报关单 {no}" and "泄漏" in body and "destroy" not in body  # words, never the code


def test_a_declaration_over_the_quota_is_held_and_its_excess_gets_a_return_notice(
    container: Container, cast: Cast
) -> None:
    number = grant(container, cast, fx10_cytokine(100))
    shipment = declare(container, cast, number, 150)
    assert shipment["state"] == "port_review"  # W6: more than the remaining quota
    container.bus.handle(
        c.ResolveHold(cast.port_officer, shipment["declaration_id"], "50 over the quota", disposal=Disposal.RETURN)
    )
    assert holder_inbox(container, cast)[:1] == ["declaration_held"]
    assert told(container, cast.applicant.user_id or 0, "disposal_return") == [
        {"declaration_no": shipment["declaration_no"], "reason": "50 over the quota"}
    ]


def test_the_certificate_used_up_is_told_once(container: Container, cast: Cast) -> None:
    number = grant(container, cast, fx10_cytokine(100))
    declare(container, cast, number, 60)
    declare(container, cast, number, 40)
    assert certificate_state(container, number) == "exhausted"
    assert container.bus.handle(c.ExhaustUsedUp(cast.applicant)) == 0
    assert told(container, cast.applicant.user_id or 0, "certificate_exhausted") == [{"certificate_no": number}]


def test_a_failed_follow_up_orders_destruction_and_tells_the_holder(container: Container, cast: Cast) -> None:
    dest = Actor(officer(container, Role.DEST_OFFICER, "xiamen.dest"), Role.DEST_OFFICER, district="xiamen")
    number = grant(container, cast, fx04_ecoli(10))
    shipment = declare(container, cast, number, 3, inspected=False, rate=Decimal("0.5"))
    assert shipment["state"] == "follow_up_pending"
    container.bus.handle(c.ReportFollowUp(dest, shipment["declaration_id"], "不符", goods_match=False))
    assert told(container, cast.applicant.user_id or 0, "disposal_destroy") == [
        {"declaration_no": shipment["declaration_no"], "reason": "不符"}
    ]
