"""Checking the tamper-evident records: the audit hash chains, their signed checkpoints and the write-off receipts.

The chain and receipt rules are the domain's (workflow/domain/audit_chain.py, receipts.py); this module walks them
in the database with the published keys, and writes new signed checkpoints. The evidence pack
(workflow/store/evidence.py) checks the same things offline.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import groupby
from typing import Any

from sqlalchemy import Connection, Engine, func, select
from sqlalchemy.orm import Session

from workflow.domain.audit_chain import CHECKPOINT, DELETED, HEAD_TYPE, UNSEALED, ChainWalker, Finding
from workflow.domain.ledger import EntryKind
from workflow.domain.receipts import RECEIPT_TYPE, ReceiptChainCheck
from workflow.store import audit_chain
from workflow.store.audit_sequencer import seal_in
from workflow.store.engine import READ_ONLY, make_engine
from workflow.store.receipts import certificate_receipts
from workflow.store.signing import KeyRing, PublicKeys, verify_token
from workflow.store.tables import CertificateLineRow, CertificateRow, LedgerEntryRow, ReceiptQueueRow

Progress = Callable[[int], object]


@dataclass(frozen=True)
class DistrictReport:
    district: str
    events: int
    head_seq: int | None
    checkpoints: int
    finding: Finding | None
    unsealed: int = 0  # written, not sealed yet: normal for a second or so, a finding past UNSEALED_BOUND

    def as_dict(self) -> dict[str, Any]:
        finding = self.finding.as_dict() if self.finding else None
        return {
            "district": self.district,
            "events": self.events,
            "head_seq": self.head_seq,
            "checkpoints": self.checkpoints,
            "unsealed": self.unsealed,
            "finding": finding,
        }


@dataclass(frozen=True)
class ReceiptProblem:
    certificate_no: str
    line_no: int
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return {"certificate_no": self.certificate_no, "line_no": self.line_no, "detail": self.detail}


@dataclass
class TrailReport:
    districts: list[DistrictReport] = field(default_factory=list)
    receipts_checked: int = 0
    receipt_problems: list[ReceiptProblem] = field(default_factory=list)
    receipts_waiting: int = 0  # movements queued for the receipt sequencer: normal for a second or so

    @property
    def ok(self) -> bool:
        return not self.receipt_problems and all(report.finding is None for report in self.districts)

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "districts": [report.as_dict() for report in self.districts],
            "receipts_checked": self.receipts_checked,
            "receipts_waiting": self.receipts_waiting,
            "receipt_problems": [problem.as_dict() for problem in self.receipt_problems],
        }


def total_events(connection: Connection, district: str | None) -> int:
    names = [district] if district else audit_chain.districts(connection)
    return sum(audit_chain.count_events(connection, name) for name in names)


def verify_trail(
    connection: Connection,
    keys: PublicKeys,
    district: str | None = None,
    progress: Progress | None = None,
    jobs: int = 1,
    now: datetime | None = None,
) -> TrailReport:
    """Walk every district's chain (or one), check its signatures, then every line's receipts.

    `now` (UTC) decides which unsealed events are late; the events' own clock, the system's unless a test sets it.
    """
    names = [district] if district else audit_chain.districts(connection)
    report = TrailReport([verify_district(connection, name, keys, progress, jobs, now) for name in names])
    if district is None:
        report.receipts_checked, report.receipt_problems = verify_receipts(connection, keys, now=now)
        report.receipts_waiting = sum(wait.count for wait in _waiting_receipts(connection).values())
    return report


def verify_district(
    connection: Connection,
    district: str,
    keys: PublicKeys,
    progress: Progress | None = None,
    jobs: int = 1,
    now: datetime | None = None,
) -> DistrictReport:
    """Walk the chain in stretches of RANGE events (in `jobs` processes when it is long), then its signatures.

    Every sealed event must be covered by a signature: the hourly checkpoints', or the head's, which the sequencer
    signs each time it seals. Events not sealed yet are counted; one waiting longer than UNSEALED_BOUND is a finding.
    """
    signed, problem = _signed_checkpoints(audit_chain.checkpoints(connection, district), keys)
    head = audit_chain.heads(connection, district).get(district)
    head_signed, head_problem = _signed_head(connection, district, head, signed, keys)
    signed += head_signed
    problem = problem or head_problem
    remember = frozenset(seq for seq, _hash in signed)
    top = max(head[0] if head else 0, audit_chain.last_seq(connection, district))
    walker = ChainWalker(district, remember=remember)
    for walk in _walks(connection, district, _ranges(top), remember, jobs):
        walker = _merge(walker, walk)
        if progress is not None:
            progress(walk.count)
    walker.finding = walker.finding or problem
    for seq, signed_hash in signed:
        walker.checkpoint(seq, signed_hash)
    walker.end(*(head or (None, None)))
    waiting, oldest = audit_chain.unsealed(connection, district)
    finding = walker.finding or _sealed_late(district, waiting, oldest, now)
    checkpoints = len(signed) - len(head_signed)
    return DistrictReport(district, walker.count, head[0] if head else None, checkpoints, finding, waiting)


# An event the sequencer has not sealed this long after it was written: beat is not running it, or it fails.
UNSEALED_BOUND = timedelta(minutes=1)


def _signed_head(
    connection: Connection,
    district: str,
    head: tuple[int, str] | None,
    checkpoints: list[tuple[int, str]],
    keys: PublicKeys,
) -> tuple[list[tuple[int, str]], Finding | None]:
    """The (seq, hash) the head's signature vouches for; an end of the chain no signature covers is a finding."""
    token = audit_chain.head_token(connection, district)
    if not token:
        covered = max((seq for seq, _hash in checkpoints), default=0)
        if head is not None and head[0] > covered:
            detail = (
                f"the chain's end at {head[0]} is signed by nothing: no head signature, checkpoints up to {covered}"
            )
            return [], Finding(CHECKPOINT, district, head[0], None, detail)
        return [], None
    verdict = verify_token(token, keys)
    payload = verdict.payload or {}
    if not verdict.valid or payload.get("type") != HEAD_TYPE or payload.get("district") != district:
        failure = ", ".join(verdict.failures) or "it is not this district's head"
        seq = head[0] if head else 0
        return [], Finding(CHECKPOINT, district, seq, None, f"the head's signature does not verify: {failure}")
    return [(int(payload["seq"]), str(payload["hash"]))], None


def _sealed_late(district: str, waiting: int, oldest: datetime | None, now: datetime | None) -> Finding | None:
    now = now or datetime.now(UTC).replace(tzinfo=None)
    if not waiting or oldest is None or oldest > now - UNSEALED_BOUND:
        return None
    detail = f"{waiting} event(s) written but not sealed, the oldest at {oldest.isoformat(timespec='seconds')}"
    return Finding(UNSEALED, district, 0, None, detail + ": is beat running the audit sequencer?")


RANGE = 50_000


def _ranges(top: int) -> list[tuple[int, int | None]]:
    """Stretches of the chain; the last is open-ended, so events past the head are walked (and reported)."""
    starts = list(range(1, max(top, 1) + 1, RANGE))
    return [(start, start + RANGE - 1) for start in starts[:-1]] + [(starts[-1], None)]


def walk_range(
    connection: Connection, district: str, first: int, last: int | None, remember: frozenset[int]
) -> ChainWalker:
    """Walk one stretch, picking up the chain from the stored event just before it."""
    before = audit_chain.event_at(connection, district, first - 1) if first > 1 else None
    walker = ChainWalker(district, expected_seq=first, remember=remember)
    if first > 1:
        # A missing predecessor is the previous stretch's finding (it ends short); this one just cannot link.
        walker.last_id, walker.head_hash = before if before else (None, "")
    for event in audit_chain.stream_events(connection, district, first, last):
        walker.add(event)
    if last is not None and walker.finding is None and walker.expected_seq <= last:
        walker.finding = Finding(DELETED, district, walker.expected_seq, None, f"events up to {last} are missing")
    return walker


def _walks(
    connection: Connection,
    district: str,
    ranges: list[tuple[int, int | None]],
    remember: frozenset[int],
    jobs: int,
) -> Iterator[ChainWalker]:
    if jobs <= 1 or len(ranges) < 2:
        for first, last in ranges:
            yield walk_range(connection, district, first, last, remember)
        return
    url = connection.engine.url.render_as_string(hide_password=False)
    work = [(url, district, first, last, remember) for first, last in ranges]
    with multiprocessing.get_context("spawn").Pool(jobs) as pool:
        yield from pool.imap(_walk_job, work)


_ENGINES: dict[str, Engine] = {}


def _walk_job(job: tuple[str, str, int, int | None, frozenset[int]]) -> ChainWalker:
    url, district, first, last, remember = job
    engine = _ENGINES.get(url) or _ENGINES.setdefault(url, make_engine(url))
    with engine.connect().execution_options(**{READ_ONLY: True}) as connection:
        return walk_range(connection, district, first, last, remember)


def _merge(walker: ChainWalker, walk: ChainWalker) -> ChainWalker:
    """The whole chain's walk so far, followed by the next stretch: the earlier finding wins."""
    walk.finding = walker.finding or walk.finding
    walk.count += walker.count
    walk.seen = {**walker.seen, **walk.seen}
    return walk


def _signed_checkpoints(
    rows: Iterable[Mapping[Any, Any]], keys: PublicKeys
) -> tuple[list[tuple[int, str]], Finding | None]:
    """The (seq, hash) pairs the checkpoints' signatures vouch for; a checkpoint that fails to verify is a finding.

    The signed payload is what counts, not the row's columns, which anyone with database access can change.
    """
    signed: list[tuple[int, str]] = []
    for row in rows:
        verdict = verify_token(row["token"], keys)
        payload = verdict.payload or {}
        if not verdict.valid or payload.get("district") != row["district"]:
            failure = ", ".join(verdict.failures) or "it names another district"
            detail = f"checkpoint at {row['seq']} does not verify: {failure}"
            return signed, Finding(CHECKPOINT, str(row["district"]), int(row["seq"]), None, detail)
        signed.append((int(payload["seq"]), str(payload["hash"])))
    return signed, None


def verify_receipts(
    connection: Connection, keys: PublicKeys, certificate_id: int | None = None, now: datetime | None = None
) -> tuple[int, list[ReceiptProblem]]:
    """Each line's receipts: signed by a published key, numbered without a gap, linked, adding up to the ledger.

    A movement still queued for its receipt counts toward the ledger's side only; one queued longer than
    UNSEALED_BOUND before `now` (UTC, naive) is a problem of its line: the sequencer is not running, or fails.
    """
    numbers = {row[0]: row[1] for row in connection.execute(select(CertificateRow.id, CertificateRow.certificate_no))}
    waiting = _waiting_receipts(connection)
    nets = {line: net - waiting[line].net if line in waiting else net for line, net in _line_nets(connection).items()}
    rows = certificate_receipts(connection, certificate_id)
    problems = []
    for (cert_id, line_no), line_rows in groupby(rows, key=lambda row: (row.certificate_id, row.line_no)):
        tokens = [row.token for row in line_rows]
        problem = check_receipt_chain(tokens, keys, nets.get((cert_id, line_no)))
        if problem:
            problems.append(ReceiptProblem(numbers.get(cert_id, str(cert_id)), line_no, problem))
    late = (now or datetime.now(UTC).replace(tzinfo=None)) - UNSEALED_BOUND
    for (cert_id, line_no), wait in sorted(waiting.items()):
        if wait.oldest < late and certificate_id in (None, cert_id):
            detail = f"{wait.count} movement(s) waiting for their receipt since {wait.oldest:%Y-%m-%d %H:%M:%S} UTC"
            problems.append(ReceiptProblem(numbers.get(cert_id, str(cert_id)), line_no, detail))
    return len(rows), problems


@dataclass(frozen=True)
class _Waiting:
    """A line's movements queued for their receipts: how many, their net change, since when."""

    count: int
    net: Decimal
    oldest: datetime


def _waiting_receipts(connection: Connection) -> dict[tuple[int, int], _Waiting]:
    """(certificate id, line no) -> the line's queued movements (workflow/store/receipt_sequencer.py)."""
    query = (
        select(
            LedgerEntryRow.certificate_id,
            CertificateLineRow.line_no,
            LedgerEntryRow.kind,
            func.count(),
            func.sum(LedgerEntryRow.qty),
            func.min(LedgerEntryRow.at),
        )
        .select_from(ReceiptQueueRow)
        .join(LedgerEntryRow, LedgerEntryRow.id == ReceiptQueueRow.ledger_entry_id)
        .join(CertificateLineRow, CertificateLineRow.id == LedgerEntryRow.certificate_line_id)
        .group_by(LedgerEntryRow.certificate_id, CertificateLineRow.line_no, LedgerEntryRow.kind)
    )
    waiting: dict[tuple[int, int], _Waiting] = {}
    for cert_id, line_no, kind, count, qty, oldest in connection.execute(query):
        signed = Decimal(qty) if kind == EntryKind.COMMIT.value else -Decimal(qty)
        before = waiting.get((cert_id, line_no))
        if before is not None:
            count, signed, oldest = count + before.count, signed + before.net, min(oldest, before.oldest)
        waiting[(cert_id, line_no)] = _Waiting(count, signed, oldest)
    return waiting


def check_receipt_chain(tokens: list[str], keys: PublicKeys, ledger_net: Any = None) -> str | None:
    """The first problem in one line's receipts (in sequence order), or None."""
    chain: ReceiptChainCheck | None = None
    for token in tokens:
        verdict = verify_token(token, keys)
        payload = verdict.payload or {}
        if not verdict.valid or payload.get("type") != RECEIPT_TYPE:
            return f"receipt {payload.get('seq')} does not verify: {', '.join(verdict.failures) or 'not a receipt'}"
        chain = chain or ReceiptChainCheck(str(payload["certificate_no"]), int(payload["line_no"]))
        chain.add(payload, token)
        if chain.problem:
            return chain.problem
    if chain is not None and ledger_net is not None and chain.head.net_committed != ledger_net:
        return f"the receipts add up to {chain.head.net_committed}, the ledger's line says {ledger_net}"
    return None


def _line_nets(connection: Connection) -> dict[tuple[int, int], Any]:
    query = select(CertificateLineRow.certificate_id, CertificateLineRow.line_no, CertificateLineRow.committed_qty)
    return {(row[0], row[1]): row[2] for row in connection.execute(query)}


def write_checkpoints(session: Session, ring: KeyRing, now: datetime) -> list[dict[str, Any]]:
    """Seal what waits, then sign every district's head that moved since its last checkpoint (beat: hourly)."""
    seal_in(session.connection(), ring.sign_named, now)
    return audit_chain.write_checkpoints(session, ring.sign_named, now)
