"""A page's read transaction on PostgreSQL is READ ONLY and ends in COMMIT, so what psycopg prepared outlives it (#15).

psycopg forgets every statement it prepared on a connection at each ROLLBACK. A GET's read session used to end in
one, so no page statement ever reached its fifth run on a connection: every statement of every page was parsed and
planned anew on each view (a certificate's change section, 13 relations, took 0.6–1.2 ms of planning for 0.1 ms of
work), and a page viewed between two commands on a connection cost the commands their prepared statements too.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from config.bootstrap import Container
from tests.conftest import make_cast
from tests.integration.support import declare, fx10_cytokine, grant
from tests.integration.test_generic_plans import RUNS, _plans, _ran_generic, _replanned, declare_over_http
from web import create_app
from web.context import HASHER
from web.request_reads import request_reads
from workflow.domain.actors import Actor
from workflow.store.accounts import issue_token, set_password_hash
from workflow.store.tables import CertificateRow

PASSWORD = "page-reads-Passw0rd!"
CSRF = re.compile(r'name="csrf-token" content="([^"]+)"')


def _signed_in(container: Container, client: FlaskClient, actor: Actor) -> None:
    with container.sessions() as session, session.begin():
        set_password_hash(session, actor.user_id or 0, HASHER.hash(PASSWORD))
    token = CSRF.search(client.get("/ui/sign-in").get_data(as_text=True))
    assert token is not None
    form = {"username": actor.name, "password": PASSWORD, "csrf_token": token.group(1)}
    assert client.post("/ui/sign-in", data=form).status_code in (302, 303)


def test_a_page_viewed_again_and_again_runs_its_statements_prepared(pg_container: Container) -> None:
    container, cast = pg_container, make_cast(pg_container)
    number = grant(container, cast, fx10_cytokine(10_000))
    with container.sessions() as session:
        certificate_id = session.scalar(select(CertificateRow.id).where(CertificateRow.certificate_no == number))
    client = create_app(container, {"TESTING": True}).test_client()
    _signed_in(container, client, cast.reviewer)
    for _ in range(RUNS):
        assert client.get(f"/ui/certificates/{certificate_id}").status_code == 200
    prepared = [(generic + custom, statement) for generic, custom, statement in _plans(container)]
    section = [runs for runs, statement in prepared if "certificate_replacements" in statement]
    assert section and max(section) >= RUNS - 5, prepared  # prepared on the 5th view, run so on every later one
    declare(container, cast, number, 1)  # the connection a page read on writes again: READ ONLY ended with it


def test_an_api_read_between_two_declarations_leaves_them_prepared(pg_container: Container) -> None:
    """A port system reads a certificate's balance before each declaration: the reads' ends cost it nothing."""
    container, cast = pg_container, make_cast(pg_container)
    number = grant(container, cast, fx10_cytokine(10_000))
    with container.sessions() as session, session.begin():
        certificate_id = session.scalar(select(CertificateRow.id).where(CertificateRow.certificate_no == number))
        token = issue_token(session, cast.applicant.user_id, "tests", container.deps.clock.now(), timedelta(days=1))
    client = create_app(container, {"TESTING": True}).test_client()
    headers = {"Authorization": f"Bearer {token.token}"}
    for index in range(RUNS):
        assert client.get(f"/api/v1/certificates/{certificate_id}/remaining", headers=headers).status_code == 200
        declare_over_http(client, headers, container, number, f"PR{index:08d}")
    plans = _plans(container)
    assert _ran_generic(plans, "SELECT certificates.id"), plans  # the declaration's certificate read
    assert _replanned(plans) == []


def test_the_page_transaction_is_read_only_on_postgresql(pg_container: Container) -> None:
    app = create_app(pg_container, {"TESTING": True})
    with app.test_request_context("/ui/", method="GET"), request_reads() as session:
        assert session.execute(text("SHOW transaction_read_only")).scalar() == "on"
        with pytest.raises(DBAPIError, match="read-only transaction"):
            session.execute(text("UPDATE users SET display_name = display_name"))
    with app.test_request_context("/ui/", method="GET"), request_reads() as session:
        assert session.execute(text("SELECT 1")).scalar() == 1  # the failed one was dropped: a fresh transaction


def test_a_unit_of_work_that_only_reads_is_read_only_and_keeps_what_was_prepared(pg_container: Container) -> None:
    """The applicant's precheck and the edit and copy forms read an application through a unit of work."""
    container, cast = pg_container, make_cast(pg_container)
    number = grant(container, cast, fx10_cytokine(10_000))
    with container.sessions() as session:
        application_id = session.scalar(
            select(CertificateRow.application_id).where(CertificateRow.certificate_no == number)
        )
    assert application_id is not None
    for _ in range(RUNS):
        with container.deps.uow().reading() as uow:
            assert uow.applications.get(application_id).id == application_id
    with container.deps.uow().reading() as uow, pytest.raises(DBAPIError, match="read-only transaction"):
        uow.session.execute(text("UPDATE users SET display_name = display_name"))
    prepared = [(generic + custom, statement) for generic, custom, statement in _plans(container)]
    assert any(runs >= RUNS - 5 and "FROM applications" in statement for runs, statement in prepared), prepared
