"""Test support: goods of DOMAIN.md's fixtures, filed applications, granted certificates, routed numbers, the CLI."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from collections.abc import Callable
from decimal import Decimal

from alembic import command as alembic_command
from celery import Celery
from sqlalchemy import Engine, create_engine, select

from config.bootstrap import Container
from config.celery_config import celery_settings
from config.settings import load_settings
from tests.conftest import Cast, assess_if_required, wait_for
from tests.integration.labs import naming_the_reference_lab
from workflow.domain import commands as c
from workflow.domain import rules
from workflow.domain.actors import SYSTEM_ACTOR
from workflow.domain.draws import inspection_draw, period_of
from workflow.domain.goods import Direction, GoodsCategory, GoodsLine, ProteinPurity
from workflow.store.migrate import alembic_config, upgrade
from workflow.store.tables import ApplicationRow, CertificateLineRow, CertificateRow, LedgerEntryRow

_numbers = itertools.count(1)
PDF = b"%PDF-1.4 test\n%%EOF"


def fx10_cytokine(qty: int = 100) -> GoodsLine:
    return GoodsLine(
        name_zh="重组人IL-6",
        name_en="IL-6",
        category=GoodsCategory.BIOLOGICAL_PRODUCT,
        quantity=Decimal(qty),
        unit="支",
        protein_purity=ProteinPurity.PURIFIED,
        user_lab="P2",
    )


def fx01_serum(qty: int = 2000) -> GoodsLine:
    return GoodsLine(
        name_zh="人血清",
        name_en="Human serum",
        category=GoodsCategory.BLOOD,
        quantity=Decimal(qty),
        unit="管",
        involves_hgr=True,
        user_lab="central lab",
    )


def fx04_ecoli(qty: int = 10) -> GoodsLine:
    return GoodsLine(
        name_zh="O157:H7",
        name_en="E. coli O157:H7",
        category=GoodsCategory.MICROORGANISM,
        quantity=Decimal(qty),
        unit="株",
        pathogen_class=3,
        user_lab="P2",
        bsl_level=2,
    )


def fx09_hek293(qty: int = 5) -> GoodsLine:
    return GoodsLine(
        name_zh="HEK293",
        name_en="HEK293",
        category=GoodsCategory.HUMAN_TISSUE,
        quantity=Decimal(qty),
        unit="支",
        is_commercial_cell_line=True,
        user_lab="cell bank",
    )


def file_application(
    container: Container,
    cast: Cast,
    lines: tuple[GoodsLine, ...] | None = None,
    direction: Direction = Direction.ENTRY,
    ports: tuple[str, ...] = (),
) -> int:
    """A draft with every document its goods require (R12–R16); pathogen lines name the enterprise's lab (R62)."""
    lines = naming_the_reference_lab(container, cast.enterprise_id, lines or (fx10_cytokine(),))
    application_id: int = container.bus.handle(
        c.CreateApplication(cast.applicant, cast.enterprise_id, "xiamen", direction, lines, ports)
    )
    for doc_type in view_required_documents(container, application_id):
        container.bus.handle(
            c.AttachDocument(cast.applicant, application_id, doc_type, f"{doc_type}.pdf", "application/pdf", PDF)
        )
    return application_id


def view_required_documents(container: Container, application_id: int) -> list[str]:
    with container.deps.uow() as uow:
        application = uow.applications.get(application_id)
        return list(rules.required_documents(application.lines, application.direction, True, False).result)


def under_review(container: Container, cast: Cast, application_id: int) -> None:
    """Submitted, screened by the worker's step as in production, accepted and under review."""
    for command in (
        c.SubmitApplication(cast.applicant, application_id),
        c.ScreenApplication(SYSTEM_ACTOR, application_id),
        c.AcceptApplication(cast.acceptor, application_id),
        c.StartReview(cast.reviewer, application_id),
    ):
        container.bus.handle(command)


def grant(
    container: Container,
    cast: Cast,
    *lines: GoodsLine,
    direction: Direction = Direction.ENTRY,
    ports: tuple[str, ...] = (),
    after_submit: Callable[[int], object] = lambda _application_id: None,
) -> str:
    """File, accept, review and grant; returns the certificate number.

    `after_submit(application_id)`: where a real worker screens the submission, wait for it there — its screening
    would otherwise race the officers' steps and one of them would lose on the file's version.
    """
    application_id = file_application(container, cast, tuple(lines), direction, ports)
    container.bus.handle(c.SubmitApplication(cast.applicant, application_id))
    after_submit(application_id)
    for command in (c.AcceptApplication(cast.acceptor, application_id), c.StartReview(cast.reviewer, application_id)):
        container.bus.handle(command)
    assess_if_required(container, cast.reviewer, application_id)
    certificate_id = container.bus.handle(c.GrantApplication(cast.decider, application_id, "granted"))
    with container.sessions() as session:
        return str(session.scalar(select(CertificateRow.certificate_no).where(CertificateRow.id == certificate_id)))


def screened_by_the_worker(container: Container) -> Callable[[int], object]:
    """For `grant(after_submit=…)` where a real worker screens: wait until the submission's screening committed."""

    def screened(application_id: int) -> object:
        def done() -> bool:
            with container.sessions() as session:
                found = session.scalar(select(ApplicationRow.screening).where(ApplicationRow.id == application_id))
            return bool(found)

        return wait_for(done, timeout=60, what="the worker's screening")

    return screened


def declaration_no(
    container: Container, certificate_no: str, inspected: bool, rate: Decimal, district: str = "xiamen"
) -> str:
    """A fresh declaration number whose draw (E2) under the district's current period key routes it as wanted.

    The test reads the key no filer sees (making and committing it if this is the period's first draw).
    """
    period = period_of(container.deps.clock.today())
    with container.deps.uow() as uow:
        key = uow.draws.period_key(district, period).secret()
        uow.commit()
    while True:
        number = f"DEC{next(_numbers):010d}"
        if (inspection_draw(key, district, period, certificate_no, number) < rate) is inspected:
            return number


def declare(
    container: Container,
    cast: Cast,
    certificate_no: str,
    qty: int | str,
    *,
    inspected: bool = False,
    rate: Decimal = Decimal("0.1"),
    on: str = "2016-06-01",
    line_no: int = 1,
    key: str = "",
    direction: Direction = Direction.ENTRY,
    number: str | None = None,
    port: str = "",
) -> dict:
    from datetime import date

    command = c.DeclareShipment(
        cast.applicant,
        number or declaration_no(container, certificate_no, inspected, rate),
        certificate_no,
        date.fromisoformat(on),
        direction,
        ((line_no, Decimal(qty)),),
        port=port,
        idempotency_key=key,
    )
    result: dict = container.bus.handle(command)
    return result


def balances(container: Container, certificate_no: str) -> dict[int, tuple[Decimal, Decimal, Decimal]]:
    with container.sessions() as session:
        rows = session.execute(
            select(
                CertificateLineRow.line_no,
                CertificateLineRow.approved_qty,
                CertificateLineRow.committed_qty,
                CertificateLineRow.reserved_qty,
            )
            .join(CertificateRow)
            .where(CertificateRow.certificate_no == certificate_no)
        )
        return {line: (approved, committed, reserved) for line, approved, committed, reserved in rows}


def certificate_state(container: Container, certificate_no: str) -> str:
    with container.sessions() as session:
        return str(session.scalar(select(CertificateRow.state).where(CertificateRow.certificate_no == certificate_no)))


def ledger(container: Container, certificate_no: str) -> list[tuple[str, Decimal]]:
    with container.sessions() as session:
        rows = session.execute(
            select(LedgerEntryRow.kind, LedgerEntryRow.qty)
            .join(CertificateRow, CertificateRow.id == LedgerEntryRow.certificate_id)
            .where(CertificateRow.certificate_no == certificate_no)
            .order_by(LedgerEntryRow.id)
        )
        return [(kind, qty) for kind, qty in rows]


def cli(container: Container, *args: str) -> subprocess.CompletedProcess[str]:
    """`specgoods <args>` in a subprocess on the container's database, broker and instance folder."""
    environment = {key: value for key, value in os.environ.items() if not key.startswith("SPECGOODS_")}
    environment |= {
        "SPECGOODS_DATABASE_URL": container.settings.effective_database_url,
        "SPECGOODS_REDIS_URL": container.settings.redis_url,
        "SPECGOODS_INSTANCE_PATH": str(container.settings.instance_path),
    }
    command = [sys.executable, "-m", "cli", *args]
    return subprocess.run(command, capture_output=True, text=True, env=environment, timeout=120, check=False)


def migrate_down_and_up(container: Container, url: str, revision: str) -> Engine:
    """Down to `revision` and up again, for a migration's backfill to run over the rows the container wrote.

    What waits is sealed first (0016's downgrade needs every audit event sealed, as `specgoods audit seal` does), and
    the container's connections are closed so none is left open across the schema change.
    """
    container.sequencer.seal()
    container.dispose()
    alembic_command.downgrade(alembic_config(url), revision)
    upgrade(url)
    return create_engine(url)


def celery_on(redis_url: str, name: str) -> Celery:
    """A Celery app of its own with the project's settings, publishing to `redis_url` (the broker's tests)."""
    app = Celery(name, set_as_current=False)
    app.conf.update(celery_settings(load_settings(redis_url=redis_url)))
    return app
