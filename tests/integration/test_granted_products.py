"""R60's first-time check as one lookup of the products an application names, whatever the enterprise's history:
the grant records its products in its own transaction, a revoked certificate's product stays granted, migration 0014
backfills exactly what the old read of every granted line found, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from sqlalchemy import Connection, Engine, delete, event, select

from config.bootstrap import Container
from tests.conftest import Cast, make_cast
from tests.integration.support import (
    file_application,
    fx01_serum,
    fx04_ecoli,
    fx09_hek293,
    fx10_cytokine,
    grant,
    migrate_down_and_up,
    under_review,
)
from workflow.domain import commands as c
from workflow.domain.actors import SYSTEM_ACTOR
from workflow.domain.assessment import product_key
from workflow.domain.goods import GoodsLine, ProductIdentity
from workflow.store import granted_products
from workflow.store.codec import line_from_json
from workflow.store.tables import ApplicationLineRow, ApplicationRow, CertificateRow, GrantedProductRow


def lot(name: str) -> GoodsLine:
    """The FX-10 cytokine under another specification: another product for R60."""
    return replace(fx10_cytokine(), specification=name)


def is_first_time(container: Container, application_id: int) -> bool | None:
    with container.sessions() as session:
        return session.scalar(select(ApplicationRow.is_first_time).where(ApplicationRow.id == application_id))


def screened(container: Container, cast: Cast, *lines: GoodsLine) -> int:
    application_id = file_application(container, cast, lines)
    container.bus.handle(c.SubmitApplication(cast.applicant, application_id))
    container.bus.handle(c.ScreenApplication(SYSTEM_ACTOR, application_id))
    return application_id


def statements(engine: Engine, action: Callable[[], object]) -> list[str]:
    """Every statement the action sends, counted where the driver is called."""
    sent: list[str] = []

    def note(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        sent.append(statement)

    event.listen(engine, "before_cursor_execute", note)
    try:
        action()
    finally:
        event.remove(engine, "before_cursor_execute", note)
    return sent


def old_granted_identities(connection: Connection, enterprise_id: int) -> set[ProductIdentity]:
    """The read this table replaces: every line of every granted application of the enterprise."""
    facts = connection.scalars(
        select(ApplicationLineRow.facts)
        .join(ApplicationRow)
        .where(ApplicationRow.enterprise_id == enterprise_id, ApplicationRow.state == "granted")
    )
    return {line_from_json(fact).identity for fact in facts}


def table(connection: Connection) -> set[tuple[int, str, int]]:
    row = GrantedProductRow
    rows = connection.execute(select(row.enterprise_id, row.product_key, row.application_id))
    return {(enterprise_id, key, application_id) for enterprise_id, key, application_id in rows}


# -- the decision is the one it was -----------------------------------------------------------------------------------


def test_r60_a_product_stays_granted_after_its_certificate_is_revoked(container: Container, cast: Cast) -> None:
    """Today's rule (§8 Q6): granted means the application was granted, whatever became of the certificate."""
    grant(container, cast, lot("A"))
    with container.sessions() as session:
        (certificate_id,) = session.scalars(select(CertificateRow.id))
    container.bus.handle(c.EndCertificate(cast.decider, certificate_id, "revoke", "follow-up found a mismatch"))

    assert is_first_time(container, screened(container, cast, lot("A"))) is False
    assert is_first_time(container, screened(container, cast, lot("B"))) is True
    assert is_first_time(container, screened(container, cast, lot("A"), lot("B"))) is True  # any new line (R60)


def test_only_a_grant_records_products_and_another_enterprise_s_grants_do_not_count(
    container: Container, cast: Cast
) -> None:
    other = make_cast(container, suffix="2")
    grant(container, other, lot("A"))
    withdrawn = file_application(container, cast, (lot("B"),))
    container.bus.handle(c.WithdrawApplication(cast.applicant, withdrawn, "not needed"))

    with container.engine.connect() as connection:
        assert granted_products.granted_among(connection, cast.enterprise_id, [lot("A").identity]) == set()
        assert granted_products.has_grant(connection, cast.enterprise_id) is False
        assert granted_products.granted_among(
            connection, other.enterprise_id, [lot("A").identity, lot("B").identity]
        ) == {lot("A").identity}
        assert granted_products.has_grant(connection, other.enterprise_id) is True
    assert is_first_time(container, screened(container, cast, lot("A"))) is True


def granted_by_steps(container: Container, cast: Cast, *lines: GoodsLine) -> tuple[int, list[str]]:
    """An application of these lines granted; the statements its grant sent."""
    application_id = file_application(container, cast, lines)
    under_review(container, cast, application_id)
    grant_it = c.GrantApplication(cast.decider, application_id, "granted")
    return application_id, statements(container.engine, lambda: container.bus.handle(grant_it))


def test_a_grant_writes_only_the_products_not_granted_before_and_none_when_all_were(
    container: Container, cast: Cast
) -> None:
    """The grant's read of its products tells which are new: a repeat of known products sends no INSERT at all."""
    first, _ = granted_by_steps(container, cast, lot("A"))
    again, repeat = granted_by_steps(container, cast, lot("A"))
    mixed, with_new = granted_by_steps(container, cast, lot("A"), lot("B"))

    assert not any("INSERT INTO granted_products" in statement for statement in repeat), repeat
    assert sum("INSERT INTO granted_products" in statement for statement in with_new) == 1, with_new
    with container.engine.connect() as connection:
        assert table(connection) == {
            (cast.enterprise_id, product_key(lot("A").identity), first),  # kept by the first application carrying it
            (cast.enterprise_id, product_key(lot("B").identity), mixed),
        }
        assert granted_products.granted_among(
            connection, cast.enterprise_id, [lot("A").identity, lot("B").identity]
        ) == {lot("A").identity, lot("B").identity}
    assert again != first and is_first_time(container, screened(container, cast, lot("A"), lot("B"))) is False


# -- one lookup, whatever the history ---------------------------------------------------------------------------------


def add_history(container: Container, cast: Cast, products: int) -> None:
    """`products` more granted products, attributed to the enterprise's first granted application."""
    with container.sessions() as session, session.begin():
        (application_id,) = session.scalars(
            select(ApplicationRow.id).where(ApplicationRow.enterprise_id == cast.enterprise_id).limit(1)
        )
        identities = [lot(f"history {n}").identity for n in range(products)]
        granted_products.add(session.connection(), cast.enterprise_id, application_id, identities)


def first_time_lookup(container: Container, cast: Cast, *lines: GoodsLine) -> tuple[list[str], set[ProductIdentity]]:
    found: set[ProductIdentity] = set()

    def look() -> None:
        with container.deps.uow() as uow:
            found.update(uow.enterprises.granted_among(cast.enterprise_id, [line.identity for line in lines]))

    return statements(container.engine, look), found


def test_the_first_time_lookup_is_one_statement_on_granted_products_whatever_the_history(
    container: Container, cast: Cast
) -> None:
    grant(container, cast, lot("A"))
    asked = (lot("A"), lot("history 7"), lot("never"))
    small, found_small = first_time_lookup(container, cast, *asked)
    add_history(container, cast, 300)
    large, found_large = first_time_lookup(container, cast, *asked)

    assert found_small == {lot("A").identity}
    assert found_large == {lot("A").identity, lot("history 7").identity}
    for sent in (small, large):
        lookups = [statement for statement in sent if "granted_products" in statement]
        assert len(lookups) == 1, sent
        assert not any("application_lines" in statement for statement in sent)


def test_submit_screening_and_grant_send_as_many_statements_at_300_products_as_at_1(
    container: Container, cast: Cast
) -> None:
    grant(container, cast, lot("warm-up"))  # policies, keys and sessions made once, before anything is counted

    def steps(line: GoodsLine) -> dict[str, int]:
        application_id = file_application(container, cast, (line,))
        commands = {
            "submit": c.SubmitApplication(cast.applicant, application_id),
            "screen": c.ScreenApplication(SYSTEM_ACTOR, application_id),
            "accept": c.AcceptApplication(cast.acceptor, application_id),
            "review": c.StartReview(cast.reviewer, application_id),
            "grant": c.GrantApplication(cast.decider, application_id, "granted"),
        }
        return {
            step: len(statements(container.engine, lambda command=command: container.bus.handle(command)))  # type: ignore[misc]
            for step, command in commands.items()
        }

    at_one = steps(lot("tenth"))
    add_history(container, cast, 300)
    at_many = steps(lot("thousandth"))

    assert at_many == at_one


# -- the migration fills the table with what the old read found -------------------------------------------------------


def test_0014_backfills_the_products_the_old_read_found_each_with_its_first_application(
    own_migrated_url: str, make_container: Callable[..., Container]
) -> None:
    container = make_container(own_migrated_url)
    cast, other = make_cast(container), make_cast(container, suffix="2")
    grant(container, cast, fx10_cytokine())
    grant(container, cast, fx10_cytokine(), fx04_ecoli())  # the cytokine again: it keeps its first application
    grant(container, cast, fx09_hek293(), fx09_hek293(7))  # one product on two lines
    grant(container, other, fx10_cytokine())
    withdrawn = file_application(container, cast, (fx01_serum(),))
    container.bus.handle(c.WithdrawApplication(cast.applicant, withdrawn, "not needed"))
    enterprises = (cast.enterprise_id, other.enterprise_id)
    with container.engine.connect() as connection:
        written_by_grants = table(connection)
        old = {enterprise: old_granted_identities(connection, enterprise) for enterprise in enterprises}
    engine = migrate_down_and_up(container, own_migrated_url, "0013")
    with engine.connect() as connection:
        backfilled = table(connection)
        asked = [line.identity for line in (fx10_cytokine(), fx04_ecoli(), fx09_hek293(), fx01_serum())]
        among = {
            enterprise: granted_products.granted_among(connection, enterprise, asked) for enterprise in enterprises
        }
    engine.dispose()
    assert backfilled == written_by_grants
    assert {(e, key) for e, key, _ in backfilled} == {(e, product_key(i)) for e, found in old.items() for i in found}
    assert among == old and len(old[cast.enterprise_id]) == 3 and len(old[other.enterprise_id]) == 1


def test_the_store_s_backfill_rebuilds_the_table_in_rounds_and_is_idempotent(container: Container, cast: Cast) -> None:
    for name in ("A", "B", "C"):
        grant(container, cast, lot(name), lot("shared"))
    with container.engine.begin() as connection:
        written_by_grants = table(connection)
        connection.execute(delete(GrantedProductRow))
        assert granted_products.backfill(connection, batch=2) == 3
        assert granted_products.backfill(connection, batch=2) == 3  # again: nothing new, nothing doubled
        assert table(connection) == written_by_grants and len(written_by_grants) == 4
