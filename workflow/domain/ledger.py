"""Quota arithmetic and the write-off rules (W1–W13): balances and the declaration check (D2).

Pure: the store applies these decisions with guarded statements; the auditor's check re-derives them from entries.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum

from workflow.domain.credit import CreditRecord
from workflow.domain.errors import GuardFailed, InvalidInput
from workflow.domain.goods import Direction, RiskGrade, WriteOffMode
from workflow.domain.lifecycle import CertState


class EntryKind(StrEnum):
    """W12: the four kinds of ledger entry; quantities are always positive, the kind gives the sign."""

    RESERVE = "reserve"
    RELEASE = "release"
    COMMIT = "commit"
    REVERSE = "reverse"


class ReversalReason(StrEnum):
    """W10: why a released write-off is reversed."""

    DECLARATION_DELETED = "declaration_deleted"
    CLERICAL_ERROR = "clerical_error"
    QUANTITY_CORRECTION = "quantity_correction"


class Disposal(StrEnum):
    """退运 / 销毁 on a disposal notice (R49)."""

    RETURN = "return"
    DESTROY = "destroy"


@dataclass(frozen=True)
class LedgerEntry:
    """One row of the append-only ledger, as the reversal rules need it."""

    id: int
    certificate_id: int
    line_id: int
    declaration_id: int | None
    kind: EntryKind
    qty: Decimal
    unit: str


@dataclass(frozen=True)
class Reversal:
    """W10: a requested reversal of a committed entry, waiting for a second officer's decision."""

    id: int
    commit_entry_id: int
    qty: Decimal
    reason_code: ReversalReason
    reason: str
    state: str
    requested_by: int


@dataclass(frozen=True)
class LineBalance:
    """One certificate line: approved, net committed (commits − reversals) and open reservations."""

    line_no: int
    unit: str
    approved: Decimal
    committed: Decimal = Decimal(0)
    reserved: Decimal = Decimal(0)
    line_id: int = 0
    inspection_pending: bool = False  # a withdrawn declaration left an inspection on this line (E4), as read

    @property
    def remaining(self) -> Decimal:
        return self.approved - self.committed - self.reserved

    @property
    def used_up(self) -> bool:
        """C3: nothing left and nothing reserved; a reservation may still be given back, so it keeps the line open."""
        return self.remaining == 0 and self.reserved == 0


@dataclass(frozen=True)
class CertificateFacts:
    """What D2 and the write-off need to know of the cited certificate, read under its row lock."""

    id: int
    certificate_no: str
    grade: RiskGrade
    enterprise_id: int
    district: str
    follow_up: bool
    policy_id: str
    state: CertState
    hold: bool
    direction: Direction
    write_off_mode: WriteOffMode
    valid_from: date
    valid_until: date
    open_uses: int
    lines: Mapping[int, LineBalance]
    ports: tuple[str, ...] = ()  # 口岸 the application named (R9); empty: any port
    credit_records: tuple[CreditRecord, ...] | None = None  # the holder's credit history, read with it (None: not read)


@dataclass(frozen=True)
class NewIds:
    """Ids the store drew ahead for the rows a declaration request may write, each taken once, in order.

    With its ids known before anything is written, a request writes its declarations, their lines, its ledger
    entries and its audit events together; ids it leaves unused are gaps, as a rollback leaves.
    """

    declarations: Iterator[int]
    entries: Iterator[int]


@dataclass(frozen=True)
class Requested:
    """One declaration line: how much of which certificate line, in the certificate's unit (W1, W2)."""

    line_no: int
    qty: Decimal


@dataclass(frozen=True)
class CheckFailure:
    """A reason D2 does not release: the declaration goes to a port officer with it."""

    rule_id: str
    reason: str
    over_quantity: bool = False


def parse_requested(lines: Iterable[tuple[int, Decimal]]) -> tuple[Requested, ...]:
    """W2/W3: each certificate line at most once per declaration, each quantity positive."""
    requested = tuple(Requested(line_no, Decimal(qty)) for line_no, qty in lines)
    if not requested:
        raise InvalidInput("a declaration draws on at least one certificate line", field="lines")
    if len({item.line_no for item in requested}) != len(requested):
        raise InvalidInput("each certificate line appears once per declaration", field="lines")
    for index, item in enumerate(requested):
        if item.qty <= 0:
            raise InvalidInput("a write-off quantity is positive (W3)", rule_id="W3", field=f"lines.{index}.qty")
    return requested


def require_cited_lines(certificate: CertificateFacts, requested: Sequence[Requested]) -> None:
    """W2: every declaration line draws on a line the cited certificate has; an unknown one is bad input."""
    for index, item in enumerate(requested):
        if item.line_no not in certificate.lines:
            raise InvalidInput(
                f"certificate {certificate.certificate_no} has no line {item.line_no}",
                rule_id="W2",
                field=f"lines.{index}.line_no",
            )


def require_single_use_free(certificate: CertificateFacts) -> None:
    """W4: a single-use certificate takes one declaration; a second is refused while the first holds it or after."""
    if certificate.write_off_mode is not WriteOffMode.SINGLE:
        return
    if certificate.state is CertState.EXHAUSTED or exhausts(certificate.write_off_mode, certificate.lines.values()):
        reason = "is used up: its one write-off is committed and the rest has lapsed"
    elif certificate.open_uses > 0:
        reason = "is held by an open declaration"
    else:
        return
    raise GuardFailed(
        f"single-use certificate {certificate.certificate_no} {reason}; a second declaration is refused (W4)",
        rule_id="W4",
        field="certificate_no",
    )


def check_declaration(
    certificate: CertificateFacts,
    declared_on: date,
    direction: Direction,
    requested: Sequence[Requested],
    port: str = "",
) -> list[CheckFailure]:
    """D2: every reason the shipment cannot be released on its documents alone, each with its rule id.

    The cited lines exist (`require_cited_lines` refused the request otherwise).
    """
    failures = _certificate_failures(certificate, declared_on, direction) + _port_failures(certificate, port)
    for item in requested:
        line = certificate.lines[item.line_no]
        if item.qty > line.remaining:
            failures.append(
                CheckFailure(
                    "W5", f"line {item.line_no}: {item.qty} {line.unit} declared, {line.remaining} remaining", True
                )
            )
    return failures


def _certificate_failures(certificate: CertificateFacts, declared_on: date, direction: Direction) -> list[CheckFailure]:
    failures = []
    if certificate.state is not CertState.ACTIVE:
        rule = "W4" if certificate.state is CertState.EXHAUSTED else "D2"
        failures.append(CheckFailure(rule, f"certificate {certificate.certificate_no} is {certificate.state}"))
    if certificate.hold:
        failures.append(CheckFailure("C8", "the certificate is on hold during a follow-up investigation"))
    if not certificate.valid_from <= declared_on <= certificate.valid_until:
        failures.append(
            CheckFailure(
                "W7", f"declared on {declared_on}, outside validity {certificate.valid_from}..{certificate.valid_until}"
            )
        )
    if direction is not certificate.direction:
        failures.append(CheckFailure("D2", f"the certificate is for {certificate.direction}, not {direction}"))
    if certificate.write_off_mode is WriteOffMode.SINGLE and certificate.open_uses > 0:
        failures.append(CheckFailure("W4", "a single-use certificate is already drawn on"))
    return failures


def _port_failures(certificate: CertificateFacts, port: str) -> list[CheckFailure]:
    """D2: "the ports (if listed) match": a named port must be one the application listed (R9), case and spaces aside.

    A declaration that names no port, or a certificate whose application listed none, has nothing to match.
    """
    named = port.strip().casefold()
    if not named or not certificate.ports or named in {listed.strip().casefold() for listed in certificate.ports}:
        return []
    listed = ", ".join(certificate.ports)
    return [CheckFailure("D2", f"declared at port {port.strip()}, not one the application lists ({listed})")]


def exhausts(mode: WriteOffMode, lines: Iterable[LineBalance]) -> bool:
    """C3: grade A once a write-off is committed (W4); B/C/D when every line is used up, nothing reserved either.

    An open reservation may still be released (withdrawal, disposal, a voided declaration), so it never exhausts.
    """
    balances = list(lines)
    if mode is WriteOffMode.SINGLE:
        return any(line.committed > 0 for line in balances)
    return bool(balances) and all(line.used_up for line in balances)
