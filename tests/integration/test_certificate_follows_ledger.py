"""Certificate state follows the ledger (issue 13, item 4) and the declaration's own inputs (item 2), on both engines.

Exhausted only when nothing remains AND nothing is reserved (C3); active again when a reservation is given back or a
write-off reversed within validity (W10); a used single-use certificate is shown used up and refused (W4); an
unknown line (W2) or a date the port could not have accepted (R39) is bad input, and nothing is written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select, update

from config.bootstrap import Container
from tests.conftest import Cast, FixedClock
from tests.integration.support import (
    balances,
    certificate_state,
    declare,
    fx01_serum,
    fx10_cytokine,
    grant,
)
from web import create_app
from web.context import HASHER
from workflow.domain import commands as c
from workflow.domain.actors import Actor
from workflow.domain.errors import GuardFailed, InvalidInput
from workflow.domain.goods import Direction
from workflow.domain.ledger import Disposal, ReversalReason
from workflow.store import api_reads
from workflow.store.accounts import issue_token, set_password_hash
from workflow.store.tables import AuditEventRow, CertificateRow, DeclarationRow, LedgerEntryRow

D = Decimal
PASSWORD = "correct horse battery staple"
CSRF = re.compile(r'name="csrf-token" content="([^"]+)"')


# -- C3: exhausted only when nothing remains and nothing is reserved --------------------------------------------------


def test_c3_a_certificate_whose_last_units_are_reserved_stays_active_until_they_are_committed(
    container: Container, cast: Cast
) -> None:
    number = grant(container, cast, fx10_cytokine(100))
    held = declare(container, cast, number, 3, inspected=True)
    declare(container, cast, number, 97)  # released at once: the line's remaining is 0, but 3 are still reserved
    assert balances(container, number)[1] == (D(100), D(97), D(3))
    assert certificate_state(container, number) == "active"
    assert container.bus.handle(c.ExhaustUsedUp(cast.applicant)) == 0  # the sweep agrees
    container.bus.handle(c.RecordInspection(cast.port_officer, held["declaration_id"], outcome="pass"))
    assert balances(container, number)[1] == (D(100), D(100), D(0))
    assert certificate_state(container, number) == "exhausted"


def test_c3_giving_back_the_last_reservation_leaves_the_quota_declarable(container: Container, cast: Cast) -> None:
    number = grant(container, cast, fx10_cytokine(100))
    held = declare(container, cast, number, 3, inspected=True)
    declare(container, cast, number, 97)
    container.bus.handle(c.WithdrawDeclaration(cast.applicant, held["declaration_id"], "deleted (删单)"))
    assert certificate_state(container, number) == "active"
    again = declare(container, cast, number, 3)  # no unit stranded
    assert again["state"] == "inspection"  # E4: goods withdrawn from an inspection are inspected when declared again
    container.bus.handle(c.RecordInspection(cast.port_officer, again["declaration_id"], outcome="pass"))
    assert certificate_state(container, number) == "exhausted"


# -- W10: a released reservation or an approved reversal makes an exhausted certificate active again ------------------


def _stranded(container: Container, cast: Cast) -> tuple[str, int]:
    """100 approved, 97 written off, 3 reserved, and EXHAUSTED as the old rule left such certificates."""
    number = grant(container, cast, fx10_cytokine(100))
    held = declare(container, cast, number, 3, inspected=True)
    declare(container, cast, number, 97)
    with container.sessions() as session, session.begin():
        session.execute(update(CertificateRow).where(CertificateRow.certificate_no == number).values(state="exhausted"))
    return number, int(held["declaration_id"])


RELEASES = {
    "withdrawn_w10": lambda cast, declaration_id: c.WithdrawDeclaration(cast.applicant, declaration_id, "删单"),
    "disposal_ordered_d7": lambda cast, declaration_id: c.RecordInspection(
        cast.port_officer, declaration_id, "leaking (R49.3)", outcome="fail", disposal=Disposal.DESTROY
    ),
}


@pytest.mark.parametrize("release", RELEASES.values(), ids=RELEASES.keys())
def test_w10_a_released_reservation_makes_an_exhausted_certificate_active_again(
    container: Container, cast: Cast, release: Any
) -> None:
    number, held = _stranded(container, cast)
    container.bus.handle(release(cast, held))
    assert balances(container, number)[1] == (D(100), D(97), D(0))
    assert certificate_state(container, number) == "active"
    event = _certificate_events(container, number)[-1]
    assert (event["trigger"], event["from"], event["to"], event["actor"]["role"]) == (
        "reactivate",
        "exhausted",
        "active",
        "system",
    )
    assert "C3" in event["rule_ids"] and event["reason"].startswith("reservation released")
    again = declare(container, cast, number, 3)["state"]  # the 3 units are usable again
    assert again == ("inspection" if "Withdraw" in type(release(cast, held)).__name__ else "released")  # E4


def test_w9_a_reservation_voided_because_the_certificate_ended_does_not_bring_it_back(
    container: Container, cast: Cast
) -> None:
    number, _held = _stranded(container, cast)
    ending = c.EndCertificate(cast.decider, _certificate_id(container, number), "withdraw", "follow-up mismatch (R56)")
    container.bus.handle(ending)
    assert balances(container, number)[1] == (D(100), D(97), D(0))
    assert certificate_state(container, number) == "withdrawn"
    assert "reactivate" not in [event["trigger"] for event in _certificate_events(container, number)]


def test_w10_an_approved_reversal_makes_an_exhausted_certificate_active_again(container: Container, cast: Cast) -> None:
    number = grant(container, cast, fx10_cytokine(100))
    declare(container, cast, number, 100)
    assert certificate_state(container, number) == "exhausted"
    _reverse(container, cast, D(5))
    assert certificate_state(container, number) == "active"
    triggers = [event["trigger"] for event in _certificate_events(container, number)]
    assert triggers[-2:] == ["reactivate", "reversal_approved"]
    event = _certificate_events(container, number)[-2]
    assert (event["actor"]["role"], event["rule_ids"]) == ("decider", ["W10", "C3"])


def test_w10_past_validity_an_exhausted_certificate_stays_exhausted_after_a_reversal(
    container: Container, cast: Cast, clock: FixedClock
) -> None:
    number = grant(container, cast, fx10_cytokine(100))
    declare(container, cast, number, 100)
    clock.today_value = _valid_until(container, number) + timedelta(days=1)
    _reverse(container, cast, D(5))
    assert balances(container, number)[1] == (D(100), D(95), D(0))
    assert certificate_state(container, number) == "exhausted"  # the 5 units lapsed with the validity


def test_w10_past_validity_an_exhausted_certificate_stays_exhausted_after_a_release(
    container: Container, cast: Cast, clock: FixedClock
) -> None:
    number, held = _stranded(container, cast)
    clock.today_value = _valid_until(container, number) + timedelta(days=1)
    container.bus.handle(c.WithdrawDeclaration(cast.applicant, held, "删单"))
    assert balances(container, number)[1] == (D(100), D(97), D(0))
    assert certificate_state(container, number) == "exhausted"


# -- W4: a used single-use certificate -------------------------------------------------------------------------------


def test_w4_a_second_declaration_is_refused_while_a_grade_a_reservation_is_open(
    container: Container, cast: Cast
) -> None:
    number = grant(container, cast, fx01_serum(2000), direction=Direction.EXIT)
    first = declare(container, cast, number, 500, direction=Direction.EXIT, inspected=True, rate=D(1))
    before = _counts(container)
    with pytest.raises(GuardFailed) as refused:
        declare(container, cast, number, 500, direction=Direction.EXIT, inspected=True, rate=D(1))
    assert (refused.value.rule_id, refused.value.field) == ("W4", "certificate_no")
    assert "held by an open declaration" in refused.value.message
    assert _counts(container) == before
    assert _certificate_view(container, number)["declarable"] is False
    fail = c.RecordInspection(
        cast.port_officer, first["declaration_id"], "leaking", outcome="fail", disposal=Disposal.RETURN
    )
    container.bus.handle(fail)  # the reservation is given back: the one use is free again
    assert _certificate_view(container, number)["declarable"] is True
    again = declare(container, cast, number, 500, direction=Direction.EXIT, inspected=True, rate=D(1))
    assert again["state"] == "inspection"


def test_w4_a_used_single_use_certificate_shows_used_up_with_no_declare_form_and_the_api_refuses_it(
    container: Container, cast: Cast
) -> None:
    number = grant(container, cast, fx01_serum(50), direction=Direction.EXIT)
    first = declare(container, cast, number, 20, direction=Direction.EXIT, inspected=True, rate=D(1))
    container.bus.handle(c.RecordInspection(cast.port_officer, first["declaration_id"], outcome="pass"))
    view = _certificate_view(container, number)
    assert (view["state"], view["used_up"], view["declarable"]) == ("exhausted", True, False)
    web = Web.start(container, cast)
    page = web.page(cast.port_officer, f"/ui/port/certificates/{view['id']}")
    assert 'id="used-up"' in page and "已用完（W4）" in page  # the pages speak Chinese unless asked otherwise
    assert 'id="declare"' not in page and "<strong>30</strong>" not in page  # no "remaining 30" on a lapsed quota
    fresh = _certificate_id(container, grant(container, cast, fx10_cytokine(100)))
    assert 'id="declare"' in web.get(f"/ui/port/certificates/{fresh}")  # the same officer's form, where it applies
    shipment = _body(number, "DEC-W4-API", direction="exit")
    response = web.api(cast.applicant, "POST", "/api/v1/declarations", json=shipment)
    assert response.status_code == 422, response.json
    assert (response.json["rule_id"], response.json["field"]) == ("W4", "certificate_no")
    assert "used up" in response.json["detail"]
    assert _declarations(container) == 1


# -- item 2: the declaration's line numbers and date ------------------------------------------------------------------


def test_w2_an_unknown_line_number_is_refused_at_its_field_and_writes_nothing(container: Container, cast: Cast) -> None:
    number = grant(container, cast, fx10_cytokine(100))
    before = _counts(container)
    with pytest.raises(InvalidInput) as refused:
        declare(container, cast, number, 5, line_no=7)
    assert (refused.value.rule_id, refused.value.field) == ("W2", "lines.0.line_no")
    good, bad = _shipment(cast, number, "B-1", 1), _shipment(cast, number, "B-2", 9)
    with pytest.raises(InvalidInput) as in_batch:
        container.bus.handle(c.DeclareShipments(cast.applicant, (good, bad)))
    assert in_batch.value.field == "declarations[1].lines.0.line_no"
    response = Web.start(container, cast).api(
        cast.applicant, "POST", "/api/v1/declarations", json={**_body(number, "DEC-W2-API"), "lines": _lines(1, 9)}
    )
    assert response.status_code == 422, response.json
    assert (response.json["rule_id"], response.json["field"]) == ("W2", "lines.1.line_no")
    assert _counts(container) == before
    assert balances(container, number)[1] == (D(100), D(0), D(0))


DATES = {
    "tomorrow": (1, "after today"),
    "a_year_ahead": (365, "after today"),
    "four_days_back": (-4, "at most 3 days before today"),
}


@pytest.mark.parametrize(("offset", "why"), DATES.values(), ids=DATES.keys())
def test_r39_a_declaration_dated_in_the_future_or_before_the_window_is_refused(
    container: Container, cast: Cast, clock: FixedClock, offset: int, why: str
) -> None:
    number = grant(container, cast, fx10_cytokine(100))
    before = _counts(container)
    on = clock.today() + timedelta(days=offset)
    with pytest.raises(InvalidInput) as refused:
        declare(container, cast, number, 5, on=on.isoformat())
    assert (refused.value.rule_id, refused.value.field) == ("R39", "declared_on") and why in refused.value.message
    response = Web.start(container, cast).api(
        cast.applicant, "POST", "/api/v1/declarations", json={**_body(number, "DEC-R39"), "declared_on": on.isoformat()}
    )
    assert response.status_code == 422, response.json
    assert (response.json["rule_id"], response.json["field"]) == ("R39", "declared_on")
    assert _counts(container) == before


@pytest.mark.parametrize("offset", [0, -1, -3], ids=["today", "yesterday", "three_days_back"])
def test_r39_a_declaration_dated_today_or_within_the_profile_window_is_accepted(
    container: Container, cast: Cast, clock: FixedClock, offset: int
) -> None:
    today = clock.today()
    clock.today_value = today - timedelta(days=10)  # granted before the earliest date, so validity (W7) holds
    number = grant(container, cast, fx10_cytokine(100))
    clock.today_value = today
    on = today + timedelta(days=offset)
    assert declare(container, cast, number, 5, on=on.isoformat())["state"] == "released"


# -- helpers ---------------------------------------------------------------------------------------------------------


@dataclass
class Web:
    """The app over the test's container: API calls with a bearer token, pages after signing in through the form."""

    client: FlaskClient
    container: Container
    tokens: dict[int, str]

    @classmethod
    def start(cls, container: Container, cast: Cast) -> Web:
        actors = (cast.applicant, *cast.officers.values())
        now = container.deps.clock.now()
        with container.sessions() as session, session.begin():
            tokens = {
                a.user_id or 0: issue_token(session, a.user_id or 0, "t", now, timedelta(days=1)).token for a in actors
            }
        return cls(create_app(container, {"TESTING": True}).test_client(), container, tokens)

    def api(self, actor: Actor, method: str, path: str, **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.tokens[actor.user_id or 0]}"}
        return self.client.open(path, method=method, headers=headers, **kwargs)

    def get(self, path: str) -> str:
        response = self.client.get(path)
        assert response.status_code == 200
        return str(response.get_data(as_text=True))

    def page(self, actor: Actor, path: str) -> str:
        with self.container.sessions() as session, session.begin():
            set_password_hash(session, actor.user_id or 0, HASHER.hash(PASSWORD))
        token = CSRF.search(self.client.get("/ui/sign-in").get_data(as_text=True))
        assert token is not None
        form = {"username": actor.name, "password": PASSWORD, "csrf_token": token.group(1)}
        assert self.client.post("/ui/sign-in", data=form).status_code in (302, 303)
        return self.get(path)


def _lines(*line_nos: int) -> list[dict[str, str | int]]:
    return [{"line_no": line_no, "qty": "1"} for line_no in line_nos]


def _body(number: str, declaration_no: str, direction: str = "entry") -> dict[str, Any]:
    return {
        "declaration_no": declaration_no,
        "certificate_no": number,
        "declared_on": "2016-06-01",
        "direction": direction,
        "lines": _lines(1),
    }


def _shipment(cast: Cast, number: str, declaration_no: str, line_no: int) -> c.DeclareShipment:
    return c.DeclareShipment(
        cast.applicant, declaration_no, number, date(2016, 6, 1), Direction.ENTRY, ((line_no, D(1)),)
    )


def _reverse(container: Container, cast: Cast, qty: Decimal) -> None:
    with container.sessions() as session:
        commit_id = session.scalar(select(func.max(LedgerEntryRow.id)).where(LedgerEntryRow.kind == "commit"))
    request = container.bus.handle(
        c.RequestReversal(cast.port_officer, commit_id or 0, qty, ReversalReason.CLERICAL_ERROR, "typed wrong")
    )
    container.bus.handle(c.DecideReversal(cast.decider, request["reversal_id"], reason="checked the invoice"))


def _certificate_id(container: Container, number: str) -> int:
    with container.sessions() as session:
        return int(session.scalar(select(CertificateRow.id).where(CertificateRow.certificate_no == number)) or 0)


def _certificate_view(container: Container, number: str) -> dict[str, Any]:
    with container.sessions() as session:
        return api_reads.certificate(session, _certificate_id(container, number))


def _certificate_events(container: Container, number: str) -> list[dict[str, Any]]:
    with container.sessions() as session:
        return api_reads.audit_trail(session, "certificate", _certificate_id(container, number))


def _valid_until(container: Container, number: str) -> date:
    valid_until: date = _certificate_view(container, number)["valid_until"]
    return valid_until


def _declarations(container: Container) -> int:
    with container.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(DeclarationRow)) or 0)


def _counts(container: Container) -> tuple[int, ...]:
    """Declarations, ledger entries and audit events: a refused request adds to none of them."""
    with container.sessions() as session:
        return tuple(
            int(session.scalar(select(func.count()).select_from(table)) or 0)
            for table in (DeclarationRow, LedgerEntryRow, AuditEventRow)
        )
