"""The grant's guarded UPDATE goes with its commit: a grant that loses the race still conflicts, and issues nothing.

On PostgreSQL the certificate (its id drawn ahead by the grant's read, its number and lines) goes with the commit's
last statement, beside the guarded UPDATE: two grants of one file meet there on `UNIQUE (certificates.application_id)`
or on the version guard, and either way the loser fails with the conflict a version guard gives. The number is the
one SQLite's path writes.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import func, select

from config.bootstrap import Container
from tests.conftest import Cast
from tests.integration.support import file_application, under_review
from workflow.domain import commands as c
from workflow.domain.errors import ConcurrencyConflict
from workflow.domain.lifecycle import AppState
from workflow.service import handlers
from workflow.store.tables import (
    ApplicationRow,
    AuditEventRow,
    CertificateLineRow,
    CertificateRow,
    NotificationRow,
    ReceiptHeadRow,
)

# SQLite has one writer, taken with the grant's transaction: no other change can interleave there.
POSTGRESQL_ONLY = pytest.mark.parametrize("database_url", ["postgres"], indirect=True)


def _reviewed(container: Container, cast: Cast) -> int:
    application_id = file_application(container, cast)
    under_review(container, cast, application_id)
    return application_id


def _beaten_by(monkeypatch: pytest.MonkeyPatch, winner: Callable[[], object]) -> None:
    """The grant has read the file and decided when `winner` commits its own change, then the grant goes on."""
    issue = handlers._issue_certificate

    def beaten(*args: Any) -> Any:
        monkeypatch.setattr(handlers, "_issue_certificate", issue)  # the winner may grant too: not beaten again
        winner()
        return issue(*args)

    monkeypatch.setattr(handlers, "_issue_certificate", beaten)


@POSTGRESQL_ONLY
def test_a_grant_that_another_grant_of_the_file_beat_conflicts_and_leaves_one_certificate(
    container: Container, cast: Cast, monkeypatch: pytest.MonkeyPatch
) -> None:
    application_id = _reviewed(container, cast)
    _beaten_by(
        monkeypatch, lambda: container.bus.handle(c.GrantApplication(cast.decider, application_id, "the winner"))
    )
    with pytest.raises(ConcurrencyConflict):
        container.bus.handle(c.GrantApplication(cast.decider, application_id, "the loser"))
    with container.sessions() as session:
        certificates = session.scalar(select(func.count()).where(CertificateRow.application_id == application_id))
        reasons = session.scalars(
            select(AuditEventRow.reason).where(
                AuditEventRow.object_id == application_id, AuditEventRow.trigger == "grant"
            )
        ).all()
        state = session.scalar(select(ApplicationRow.state).where(ApplicationRow.id == application_id))
        granted_notices = session.scalar(select(func.count()).where(NotificationRow.kind == "application_granted"))
    assert (certificates, reasons, state) == (1, ["the winner"], AppState.GRANTED.value)
    assert granted_notices == 1  # nothing the loser wrote before its conflict survives


@POSTGRESQL_ONLY
def test_a_grant_that_another_change_beat_fails_its_commit_and_issues_no_certificate(
    container: Container, cast: Cast, monkeypatch: pytest.MonkeyPatch
) -> None:
    application_id = _reviewed(container, cast)
    _beaten_by(monkeypatch, lambda: container.bus.handle(c.ExtendDeadline(cast.head, application_id, "awaiting a lab")))
    with pytest.raises(ConcurrencyConflict):
        container.bus.handle(c.GrantApplication(cast.decider, application_id, "granted"))
    with container.sessions() as session:
        assert session.scalar(select(func.count()).where(CertificateRow.application_id == application_id)) == 0
        state = session.scalar(select(ApplicationRow.state).where(ApplicationRow.id == application_id))
    assert state == AppState.UNDER_REVIEW.value


def test_the_certificate_is_numbered_by_its_id_and_stored_with_its_lines_and_defaults(
    container: Container, cast: Cast
) -> None:
    application_id = _reviewed(container, cast)
    certificate_id = container.bus.handle(c.GrantApplication(cast.decider, application_id, "granted"))
    with container.sessions() as session:
        row = session.get(CertificateRow, certificate_id)
        lines = session.scalars(select(CertificateLineRow).where(CertificateLineRow.certificate_id == certificate_id))
        stored = [(line.line_no, line.approved_qty, line.committed_qty, line.reserved_qty) for line in lines]
        heads = session.scalars(select(ReceiptHeadRow)).all()  # a line's chain starts with its first receipt
    assert row is not None
    assert row.certificate_no == f"XI{row.issued_at:%Y}I{certificate_id:06d}"
    assert re.fullmatch(r"XI\d{4}I\d{6,}", row.certificate_no)
    assert (row.version, row.hold, row.open_uses, row.state) == (0, False, 0, "active")
    assert stored and all(committed == reserved == 0 for _, _, committed, reserved in stored) and heads == []
    assert [line_no for line_no, *_ in stored] == list(range(1, len(stored) + 1))
