"""A request's fingerprint: the cheaper encoding must give the very hashes already stored beside filed requests."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from datetime import date
from decimal import Decimal

import pytest

from tests.integration.support import fx01_serum, fx10_cytokine
from workflow.domain import commands as c
from workflow.domain.actors import Actor, Role
from workflow.domain.goods import Direction
from workflow.domain.ledger import ReversalReason
from workflow.service.idempotency import request_hash

APPLICANT = Actor(7, Role.APPLICANT, "a", enterprise_id=3)
OFFICER = Actor(8, Role.PORT_OFFICER, "p", district="xiamen")


def fingerprint_as_first_stored(command: c.Command) -> str:
    """The original definition: every field but who asked and the key, through `asdict`."""
    asked = {k: v for k, v in asdict(command).items() if k not in ("actor", "idempotency_key")}
    return hashlib.sha256(json.dumps(asked, sort_keys=True, default=str).encode()).hexdigest()


COMMANDS = [
    c.DeclareShipment(APPLICANT, "D1", "C1", date(2016, 6, 1), Direction.ENTRY, ((1, Decimal("2.5")),), port="XM"),
    c.DeclareShipment(
        OFFICER, "D2", "C1", date(2016, 6, 2), Direction.EXIT, ((2, Decimal(3)), (1, Decimal("0.0001"))), "", "key"
    ),
    c.CreateApplication(APPLICANT, 3, "xiamen", Direction.ENTRY, (fx10_cytokine(5), fx01_serum(9)), ("XM", "FZ")),
    c.RequestReversal(OFFICER, 12, Decimal("1.5"), ReversalReason.CLERICAL_ERROR, "typo", "k2"),
    c.WithdrawDeclaration(APPLICANT, 4, "deleted"),
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda command: type(command).__name__)
def test_the_fingerprint_is_the_one_first_stored(command: c.Command) -> None:
    assert request_hash(command) == fingerprint_as_first_stored(command)


def test_who_asks_and_the_key_do_not_change_it_and_the_content_does() -> None:
    first = COMMANDS[0]
    assert request_hash(first) == request_hash(c.DeclareShipment(OFFICER, *_content(first), idempotency_key="x"))
    changed = c.DeclareShipment(APPLICANT, "D1", "C1", date(2016, 6, 1), Direction.ENTRY, ((1, Decimal("2.6")),))
    assert request_hash(changed) != request_hash(first)


def _content(command: c.DeclareShipment) -> tuple[object, ...]:
    return (command.declaration_no, command.certificate_no, command.declared_on, command.direction, command.lines, "XM")
