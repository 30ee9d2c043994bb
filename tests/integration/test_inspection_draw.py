"""A draw no filer can steer, that anyone can audit (E2, E4): period keys committed before use and revealed after,
withdrawals that do not escape an inspection, and the auditor's recomputation — on both engines.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import os
import subprocess
import sys
import zipfile
from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select, update

from config.bootstrap import Container
from config.keys import key_ring
from config.local_time import local_today
from tests.conftest import Cast, FixedClock
from tests.integration.support import declaration_no, declare, fx10_cytokine, grant
from web import create_app
from workflow.domain import commands as c
from workflow.domain.actors import Actor
from workflow.domain.draws import commitment, inspection_draw, is_inspected, period_of
from workflow.domain.policy import DEFAULT_TIME_ZONE
from workflow.service.inspection_draws import publish_commitments
from workflow.store.accounts import issue_token
from workflow.store.evidence import export_pack, verify_pack
from workflow.store.tables import AuditEventRow, DeclarationRow, DrawKeyRow, NotificationRow

D = Decimal
HALF = D("0.5")
JUNE = "2016-06"
GUESSED_CERTIFICATE = "XM2016000001"  # any certificate: the draw binds it, and these tests only compare draws


def period_key(container: Container, district: str, period: str) -> bytes:
    """Test support may read a key no filer sees; making it commits it, as a first draw would."""
    with container.deps.uow() as uow:
        key = uow.draws.period_key(district, period).secret()
        uow.commit()
    return key


def route_event(container: Container, declaration_id: int) -> AuditEventRow:
    with container.sessions() as session:
        query = select(AuditEventRow).where(
            AuditEventRow.object_type == "declaration",
            AuditEventRow.object_id == declaration_id,
            AuditEventRow.trigger.in_(("inspect", "release")),
        )
        return session.scalars(query).one()


def triggers(container: Container, declaration_id: int) -> list[str]:
    with container.sessions() as session:
        query = select(AuditEventRow.trigger).where(
            AuditEventRow.object_type == "declaration", AuditEventRow.object_id == declaration_id
        )
        return list(session.scalars(query.order_by(AuditEventRow.id)))


def audit_cli(container: Container, *args: str) -> subprocess.CompletedProcess[str]:
    """`specgoods audit draws …` in its own process, on the real clock: June 2016 has long closed there."""
    environment = {key: value for key, value in os.environ.items() if not key.startswith("SPECGOODS_")}
    environment |= {
        "SPECGOODS_DATABASE_URL": container.settings.effective_database_url,
        "SPECGOODS_INSTANCE_PATH": str(container.settings.instance_path),
    }
    return subprocess.run(
        [sys.executable, "-m", "cli", "audit", "draws", *args],
        capture_output=True,
        text=True,
        env=environment,
        timeout=120,
        check=False,
    )


@pytest.fixture
def api(container: Container, cast: Cast) -> Callable[[Actor, str], Any]:
    """GET as a signed-in actor through the real app (tokens outlive the tests' moves of the clock)."""
    client: FlaskClient = create_app(container, {"TESTING": True}).test_client()
    tokens: dict[int | None, str] = {}

    def get(actor: Actor, path: str) -> Any:
        if actor.user_id not in tokens:
            with container.sessions() as session, session.begin():
                issued = issue_token(session, actor.user_id or 0, "draws", container.deps.clock.now(), timedelta(365))
                tokens[actor.user_id] = issued.token
        return client.get(path, headers={"Authorization": f"Bearer {tokens[actor.user_id]}"})

    return get


# -- E2: nothing the filer holds predicts the draw ------------------------------------------------------------------


def test_a_filer_trying_many_numbers_cannot_predict_the_draw_without_the_period_key(
    container: Container, make_container: Callable[..., Container], database_url: str
) -> None:
    june, july, fuzhou = (
        period_key(container, d, p) for d, p in (("xiamen", JUNE), ("xiamen", "2016-07"), ("fuzhou", JUNE))
    )
    assert len({june, july, fuzhou}) == 3 and all(len(key) == 32 for key in (june, july, fuzhou))
    # The key is stored, not derived: a deployment with another secret key draws under the very same key.
    other = make_container(database_url, secret_key="an entirely different deployment secret")
    assert period_key(other, "xiamen", JUNE) == june
    # The old scheme's key, derived from the deployment secret, is the best a filer who knows that secret can try.
    secret = container.settings.effective_secret_key.encode()
    guess = hmac.new(secret, b"inspection-draw:xiamen", hashlib.sha256).digest()
    numbers = [f"GUESS{index:05d}" for index in range(400)]
    real = [
        is_inspected(HALF, inspection_draw(june, "xiamen", JUNE, GUESSED_CERTIFICATE, number)) for number in numbers
    ]
    guessed = [
        is_inspected(HALF, inspection_draw(guess, "xiamen", JUNE, GUESSED_CERTIFICATE, number)) for number in numbers
    ]
    agree = sum(a == b for a, b in zip(real, guessed, strict=True))
    assert 140 <= agree <= 260, "a guess without the key does no better than a coin (400 tries, 6 sd either side)"
    for key, district, period in ((july, "xiamen", "2016-07"), (fuzhou, "fuzhou", JUNE)):
        same = sum(
            inspection_draw(june, "xiamen", JUNE, GUESSED_CERTIFICATE, n)
            == inspection_draw(key, district, period, GUESSED_CERTIFICATE, n)
            for n in numbers
        )
        assert same <= 1, "the same number draws afresh under another period's or district's key"


def test_the_route_records_the_period_its_commitment_the_rate_the_draw_and_the_outcome(
    container: Container, cast: Cast
) -> None:
    number = grant(container, cast, fx10_cytokine(100))
    route = declare(container, cast, number, 10, inspected=False)["route"]
    key = period_key(container, "xiamen", JUNE)
    assert route["draw_period"] == JUNE and route["draw_commitment"] == commitment(key)
    assert route["draw_scheme"] == "hmac-sha256/v1" and route["rate"] == "0.1"
    assert D(route["draw"]) == inspection_draw(key, "xiamen", JUNE, number, route_no(container, route))
    assert (route["inspected"], route["outcome"], route["inherited_from"]) == (False, "release", [])


def route_no(container: Container, route: dict[str, Any]) -> str:
    with container.sessions() as session:
        rows = session.scalars(select(DeclarationRow)).all()
    return next(row.declaration_no for row in rows if row.route and row.route.get("draw") == route["draw"])


# -- E4: the steering attempt -------------------------------------------------------------------------------------


def test_withdrawing_an_inspected_declaration_and_declaring_again_stays_inspected_and_flags_the_port(
    container: Container, cast: Cast
) -> None:
    number = grant(container, cast, fx10_cytokine(100))
    drawn = declare(container, cast, number, 10, inspected=True)
    assert drawn["state"] == "inspection"
    container.bus.handle(c.WithdrawDeclaration(cast.applicant, drawn["declaration_id"], "删单"))
    assert "inspection_left_pending" in triggers(container, drawn["declaration_id"])
    from tests.integration.test_officer_notifications import deliver

    deliver(container)  # the port officers are told by the fan-out task (workflow/service/officer_notifications.py)
    with container.sessions() as session:
        flagged = session.scalars(select(NotificationRow).where(NotificationRow.kind == "inspection_withdrawn")).all()
    assert [row.user_id for row in flagged] == [cast.port_officer.user_id]
    assert flagged[0].params == {"declaration_no": drawn["declaration_no"], "certificate_no": number}
    # The filer re-declares the same goods under a number whose own draw would release them.
    again = declare(container, cast, number, 10, inspected=False)
    assert again["state"] == "inspection", "the withdrawal did not escape the inspection"
    assert again["route"]["inherited_from"] == [drawn["declaration_no"]] and "E4" in again["route"]["rule_ids"]
    assert declare(container, cast, number, 5, inspected=False)["state"] == "released"  # carried in full: done


def test_splitting_the_withdrawn_goods_keeps_every_part_inspected_until_the_whole_quantity_is_carried(
    container: Container, cast: Cast
) -> None:
    number = grant(container, cast, fx10_cytokine(100))
    drawn = declare(container, cast, number, 10, inspected=True)
    container.bus.handle(c.WithdrawDeclaration(cast.applicant, drawn["declaration_id"], "删单"))
    states = [declare(container, cast, number, qty, inspected=False)["state"] for qty in (1, 8, 1, 1)]
    assert states == ["inspection", "inspection", "inspection", "released"]


def test_after_the_profiles_window_a_declaration_of_the_line_draws_on_its_own(
    container: Container, cast: Cast, clock: FixedClock
) -> None:
    number = grant(container, cast, fx10_cytokine(100))
    drawn = declare(container, cast, number, 10, inspected=True)
    container.bus.handle(c.WithdrawDeclaration(cast.applicant, drawn["declaration_id"], "删单"))
    clock.today_value = date(2016, 6, 1) + timedelta(days=91)  # xiamen-2016: withdrawal_carry_days = 90
    later = declare(container, cast, number, 10, inspected=False, on=clock.today_value.isoformat())
    assert later["state"] == "released" and later["route"]["draw_period"] == "2016-08"


# -- the auditor's recomputation ----------------------------------------------------------------------------------


def test_the_draw_audit_verifies_a_closed_period_and_catches_a_tampered_draw_and_a_tampered_key(
    container: Container, cast: Cast
) -> None:
    number = grant(container, cast, fx10_cytokine(100))
    filed = [declare(container, cast, number, 5, inspected=inspected) for inspected in (True, False, False)]
    clean = audit_cli(container, "--district", "xiamen", "--period", JUNE, "--json")
    assert clean.returncode == 0, clean.stderr
    report = json.loads(clean.stdout)
    assert (report["ok"], report["draws"], report["inspected"]) == (True, 3, 1)
    assert report["key"] == period_key(container, "xiamen", JUNE).hex()

    event = route_event(container, filed[1]["declaration_id"])
    forged = {**event.inputs, "draw": "0.000001", "inspected": True}
    with container.sessions() as session, session.begin():
        session.execute(update(AuditEventRow).where(AuditEventRow.id == event.id).values(inputs=forged))
    tampered = audit_cli(container, "--district", "xiamen", "--period", JUNE, "--json")
    assert tampered.returncode == 1
    kinds = {(f["declaration_no"], f["kind"]) for f in json.loads(tampered.stdout)["findings"]}
    assert (filed[1]["declaration_no"], "draw") in kinds and (filed[1]["declaration_no"], "stored_route") in kinds

    with container.sessions() as session, session.begin():
        session.execute(update(AuditEventRow).where(AuditEventRow.id == event.id).values(inputs=event.inputs))
        session.execute(update(DrawKeyRow).where(DrawKeyRow.period == JUNE).values(key_hex="00" * 32))
    swapped = audit_cli(container, "--district", "xiamen", "--period", JUNE)
    assert swapped.returncode == 1 and "MISMATCH key" in swapped.stdout and "MISMATCH draw" in swapped.stdout


def test_an_open_period_is_refused_and_its_key_never_shown(
    container: Container, cast: Cast, clock: FixedClock, api: Callable[[Actor, str], Any]
) -> None:
    current = period_of(local_today(DEFAULT_TIME_ZONE))  # the command runs on the real clock, in the district's date
    period_key(container, "xiamen", current)
    refused = audit_cli(container, "--district", "xiamen", "--period", current)
    assert refused.returncode == 2 and "has not closed" in refused.stderr
    number = grant(container, cast, fx10_cytokine(100))
    declare(container, cast, number, 5)
    response = api(cast.auditor, f"/api/v1/audit/draws?district=xiamen&period={JUNE}")
    assert response.status_code == 422 and "has not closed" in response.json["detail"]
    clock.today_value = date(2016, 7, 1)
    closed = api(cast.auditor, f"/api/v1/audit/draws?district=xiamen&period={JUNE}")
    assert closed.status_code == 200 and closed.json["ok"] is True and closed.json["draws"] == 1
    assert api(cast.applicant, f"/api/v1/audit/draws?district=xiamen&period={JUNE}").status_code == 403


def test_the_commitment_is_published_before_the_period_and_the_key_only_after_it(
    container: Container, cast: Cast, clock: FixedClock, api: Callable[[Actor, str], Any]
) -> None:
    number = grant(container, cast, fx10_cytokine(100))
    declare(container, cast, number, 5)
    published = {
        item["period"]: item for item in api(cast.applicant, "/api/v1/draw-keys?district=xiamen").json["items"]
    }
    assert set(published) == {JUNE, "2016-07"}, "July's commitment is public before July begins"
    assert all(item["key"] is None and not item["closed"] for item in published.values())
    clock.today_value = date(2016, 7, 2)
    revealed = {item["period"]: item for item in api(cast.applicant, "/api/v1/draw-keys").json["items"]}
    june = revealed[JUNE]
    assert june["closed"] and june["commitment"] == published[JUNE]["commitment"]
    assert hashlib.sha256(bytes.fromhex(june["key"])).hexdigest() == june["commitment"]
    assert revealed["2016-07"]["key"] is None


def test_beats_daily_publication_commits_every_district_a_period_ahead_even_one_that_draws_nothing(
    container: Container, clock: FixedClock
) -> None:
    codes = sorted(container.deps.policies.by_code)  # type: ignore[attr-defined]
    assert len(codes) > 1
    assert publish_commitments(container.deps, codes) == codes
    clock.today_value = date(2016, 6, 30)
    assert publish_commitments(container.deps, codes) == codes  # again the same day: nothing new, nothing changed
    with container.sessions() as session:
        keys = {(row.district, row.period): row.commitment for row in session.scalars(select(DrawKeyRow))}
    assert set(keys) == {(code, period) for code in codes for period in (JUNE, "2016-07")}
    clock.today_value = date(2016, 7, 1)
    publish_commitments(container.deps, codes)
    with container.sessions() as session:
        july = {(row.district, row.period): row.commitment for row in session.scalars(select(DrawKeyRow))}
    assert {key: july[key] for key in keys} == keys  # a commitment once published never changes
    assert {(code, "2016-08") for code in codes} <= set(july)


def test_the_declaration_view_shows_rate_draw_and_outcome_to_those_who_may_see_it(
    container: Container, cast: Cast, api: Callable[[Actor, str], Any]
) -> None:
    number = grant(container, cast, fx10_cytokine(100))
    filed = declare(container, cast, number, 5, inspected=True)
    for actor in (cast.applicant, cast.port_officer, cast.auditor):
        body = api(actor, f"/api/v1/declarations/{filed['declaration_id']}").json
        route = body["route"]
        assert (route["rate"], route["outcome"], route["inspected"]) == ("0.1", "inspect", True), actor.name
        assert D(route["draw"]) < D("0.1") and route["draw_period"] == JUNE and len(route["draw_commitment"]) == 64


def test_the_evidence_pack_carries_the_draws_and_recomputes_them_offline(container: Container, cast: Cast) -> None:
    number = grant(container, cast, fx10_cytokine(100))
    declare(container, cast, number, 5, inspected=True)
    declare(container, cast, number, 5, inspected=False)
    ring = key_ring(container.settings)
    with container.sessions() as session:
        pack = export_pack(session, ring, number, Path("/nonexistent"), container.deps.clock.now(), date(2016, 7, 1))
    report = verify_pack(pack)
    assert report.ok, report.problems
    assert (report.draws, report.draws_recomputed) == (2, 2)
    forged = _repack(pack, "draws.json", lambda draws: _forge_first_draw(draws))
    assert any("is not its audited route" in problem for problem in verify_pack(forged).problems)


def _forge_first_draw(content: dict[str, Any]) -> dict[str, Any]:
    content["draws"][0]["route"]["draw"] = "0.999999"
    return content


def _repack(pack: bytes, name: str, change: Callable[[Any], Any]) -> bytes:
    """Alter one file and rewrite the (unsigned) manifest to match, as a forger would."""
    with zipfile.ZipFile(io.BytesIO(pack)) as archive:
        files = {entry: archive.read(entry) for entry in archive.namelist()}
    files[name] = json.dumps(change(json.loads(files[name]))).encode()
    manifest = json.loads(files["manifest.json"])
    manifest["files"][name] = hashlib.sha256(files[name]).hexdigest()
    files["manifest.json"] = json.dumps(manifest).encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for entry, content in files.items():
            archive.writestr(entry, content)
    return buffer.getvalue()


def test_the_test_helper_still_finds_numbers_that_route_as_asked(container: Container) -> None:
    key = period_key(container, "xiamen", JUNE)
    for inspected in (True, False):
        number = declaration_no(container, GUESSED_CERTIFICATE, inspected, D("0.1"))
        assert is_inspected(D("0.1"), inspection_draw(key, "xiamen", JUNE, GUESSED_CERTIFICATE, number)) is inspected
