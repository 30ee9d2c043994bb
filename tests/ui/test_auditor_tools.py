"""The auditor's tools on the pages run the command line's code: chain verification, evidence packs, trail export."""

from __future__ import annotations

import json

from sqlalchemy import select, update

from config.keys import key_ring
from tests.ui.conftest import Pages
from workflow.store.audit_trail import verify_trail
from workflow.store.evidence import verify_pack
from workflow.store.tables import AuditEventRow, CertificateRow

VERIFY = "/ui/audit/tools/verify"


def _certificate_no(pages: Pages) -> str:
    with pages.container.sessions() as session:
        return str(session.scalars(select(CertificateRow.certificate_no).order_by(CertificateRow.id)).first())


def _cli_verdict(pages: Pages, district: str | None) -> bool:
    keys = key_ring(pages.container.settings).public_keys()
    with pages.container.engine.connect() as connection:
        return verify_trail(connection, keys, district, now=pages.container.deps.clock.now()).ok


def test_the_audit_pages_offer_the_tools(pages: Pages) -> None:
    pages.sign_in("xiamen.auditor")
    ledger = pages.text("/ui/audit/ledger-check")
    assert f'action="{VERIFY}"' in ledger and 'id="evidence-pack"' in ledger
    trail = pages.text("/ui/audit/trail?object_type=application&object_id=1")
    assert f'action="{VERIFY}"' in trail and "/ui/audit/tools/trail.json" in trail


def test_an_intact_chain_verifies_on_the_page_as_on_the_command_line(pages: Pages) -> None:
    pages.container.sequencer.seal()  # as beat would: events left unsealed past a bound are a finding of their own
    pages.sign_in("xiamen.auditor")
    page = pages.text(VERIFY)
    assert _cli_verdict(pages, "xiamen") is True
    assert 'id="chain-verdict" data-ok="yes"' in page
    assert "厦门" in page.split('id="chains"')[1]  # the district by name, not its code


def test_an_altered_event_is_found_on_the_page_as_on_the_command_line(pages: Pages) -> None:
    assert pages.container.sequencer.seal().get("xiamen")  # as beat would: the demo's events join the chain
    with pages.container.sessions() as session:
        first = session.scalar(
            select(AuditEventRow.id).where(AuditEventRow.district == "xiamen", AuditEventRow.chain_seq.is_not(None))
        )
        assert first is not None
        session.execute(update(AuditEventRow).where(AuditEventRow.id == first).values(reason="rewritten later"))
        session.commit()
    pages.sign_in("xiamen.auditor")
    page = pages.text(VERIFY)
    assert _cli_verdict(pages, "xiamen") is False
    assert 'id="chain-verdict" data-ok="no"' in page
    assert "有事件在封存后被修改" in page.split('id="findings"')[1].split("</ul>")[0]  # in words, not its code


def test_the_evidence_pack_downloaded_from_the_page_passes_the_command_lines_check(pages: Pages) -> None:
    number = _certificate_no(pages)
    pages.sign_in("xiamen.auditor")
    response = pages.post("/ui/audit/tools/evidence-pack", {"certificate_no": number})
    assert response.status_code == 200 and response.mimetype == "application/zip"
    assert f'filename="{number}.zip"' in response.headers["Content-Disposition"]
    report = verify_pack(response.data, key_ring(pages.container.settings).public_keys())
    assert report.ok, report.problems
    assert report.certificate_no == number and report.events > 0


def test_an_unknown_certificate_number_is_refused_and_no_pack_is_made(pages: Pages) -> None:
    pages.sign_in("xiamen.auditor")
    response = pages.post("/ui/audit/tools/evidence-pack", {"certificate_no": "NO-SUCH-CERT"})
    page = response.get_data(as_text=True)  # back to the pack's form, the number kept and the message at it
    assert response.status_code == 422 and response.mimetype == "text/html"
    assert 'id="pack-certificate_no-error"' in page and 'value="NO-SUCH-CERT"' in page


def test_the_trail_exports_as_json_with_utc_instants(pages: Pages) -> None:
    pages.sign_in("xiamen.auditor")
    response = pages.client.get("/ui/audit/tools/trail.json?object_type=application&object_id=1")
    assert response.status_code == 200 and response.mimetype == "application/json"
    body = json.loads(response.data)
    with pages.container.sessions() as session:
        stored = session.scalars(
            select(AuditEventRow.trigger)
            .where(AuditEventRow.object_type == "application", AuditEventRow.object_id == 1)
            .order_by(AuditEventRow.id)
        ).all()
    assert [event["trigger"] for event in body["events"]] == list(stored) and stored
    assert all(event["at"].endswith("Z") for event in body["events"])
    assert pages.client.get("/ui/audit/tools/trail.json?object_type=user&object_id=1").status_code == 400


def test_the_tools_are_for_auditors_only(pages: Pages) -> None:
    pages.sign_in("xiamen.port_officer")
    assert pages.client.get(VERIFY).status_code == 403
    assert pages.post("/ui/audit/tools/evidence-pack", {"certificate_no": _certificate_no(pages)}).status_code == 403
