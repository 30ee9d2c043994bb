"""Every statement a hot path repeats is planned once per connection, not on each request (issue #15).

psycopg prepares a statement on its fifth execution; PostgreSQL then plans it for the values given five times more
and keeps a generic plan only if that plan's estimated cost is not above theirs. A statement whose generic estimate
is inflated by a parameter (a `generate_series(1, :count)` is guessed at 1,000 rows) is planned afresh on every
execution: the declaration's certificate read was, at a fifth of a millisecond of the server's CPU each time. The
test runs the declaration (alone, in a batch, over HTTP) and the approval flow a dozen times on one connection and
reads `pg_prepared_statements`: every statement run that often must have gone generic.
"""

from __future__ import annotations

from contextlib import ExitStack
from datetime import timedelta
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import text

from config.bootstrap import Container
from tests.conftest import make_cast
from tests.integration.support import declare, fx10_cytokine, grant
from web import create_app
from workflow.domain import commands as c
from workflow.domain.goods import Direction
from workflow.store.accounts import issue_token

RUNS = 12  # psycopg prepares on the 5th execution, PostgreSQL decides on generic plans after 5 custom ones
PLANS = """
SELECT generic_plans, custom_plans, regexp_replace(statement, '\\s+', ' ', 'g')
  FROM pg_prepared_statements
"""


def _plans(container: Container) -> list[tuple[int, int, str]]:
    """The prepared statements of every pooled connection: all idle ones are checked out at once, so each is read."""
    with ExitStack() as stack:
        idle = container.engine.pool.checkedin()  # type: ignore[attr-defined]
        connections = [stack.enter_context(container.engine.connect()) for _ in range(max(1, idle))]
        return [tuple(row) for conn in connections for row in conn.execute(text(PLANS))]  # type: ignore[misc]


def _replanned(plans: list[tuple[int, int, str]]) -> list[str]:
    """Statements run at least RUNS times whose every plan was made for its values: planned on each execution."""
    return [statement[:160] for generic, custom, statement in plans if generic == 0 and custom >= RUNS - 5]


def _ran_generic(plans: list[tuple[int, int, str]], beginning: str) -> bool:
    return any(statement.startswith(beginning) and generic >= RUNS - 10 for generic, _, statement in plans)


def test_the_declaration_and_the_flow_keep_generic_plans(pg_container: Container) -> None:
    container, cast = pg_container, make_cast(pg_container)
    numbers = [grant(container, cast, fx10_cytokine(10_000)) for _ in range(RUNS)]  # the flow, RUNS times
    for index in range(RUNS):
        declare(container, cast, numbers[0], 1, number=f"GP{index:08d}")
    for index in range(RUNS):  # a batch citing two certificates draws its ids in a read of their own
        shipments = tuple(
            c.DeclareShipment(
                cast.applicant, f"GB{index:06d}{end}", number, container.deps.clock.today(), Direction.ENTRY, ((1, 1),)
            )
            for end, number in (("a", numbers[1]), ("b", numbers[2]))
        )
        container.bus.handle(c.DeclareShipments(cast.applicant, shipments))
    plans = _plans(container)
    assert _ran_generic(plans, "SELECT certificates.id"), plans  # the certificate read is among those looked at
    assert _replanned(plans) == []


def test_a_declaration_over_http_keeps_generic_plans(pg_container: Container) -> None:
    container, cast = pg_container, make_cast(pg_container)
    number = grant(container, cast, fx10_cytokine(10_000))
    with container.sessions() as session, session.begin():
        token = issue_token(session, cast.applicant.user_id, "tests", container.deps.clock.now(), timedelta(days=1))
    client = create_app(container, {"TESTING": True}).test_client()
    headers = {"Authorization": f"Bearer {token.token}"}
    for index in range(RUNS):
        declare_over_http(client, headers, container, number, f"GH{index:08d}")
    plans = _plans(container)
    assert _ran_generic(plans, "SELECT certificates.id"), plans
    assert _replanned(plans) == []


def declare_over_http(
    client: FlaskClient, headers: dict[str, str], container: Container, number: str, declaration_no: str
) -> None:
    """One unit of line 1 written off through `POST /api/v1/declarations`, as a port system sends it."""
    shipment: dict[str, Any] = {
        "declaration_no": declaration_no,
        "certificate_no": number,
        "declared_on": container.deps.clock.today().isoformat(),
        "direction": "entry",
        "lines": [{"line_no": 1, "qty": "1"}],
    }
    response = client.post("/api/v1/declarations", json=shipment, headers=headers)
    assert response.status_code == 201, response.json
