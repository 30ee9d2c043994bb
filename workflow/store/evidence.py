"""The evidence pack of one certificate: a zip that proves its history offline, with no database and no server.

`specgoods audit export --certificate NO` writes it; `specgoods audit verify --pack FILE` checks it. Inside:

- `events.json`: every audit event of the certificate, its application and its declarations, with chain fields;
- `chain.json`: the stretch of the district's chain from the first of those events to a signed checkpoint, as
  (seq, prev_hash, hash) triples — the events of other files in between are represented by their hashes only;
- `checkpoint.json`: the signed checkpoint that ends the stretch (written by the export when none covers it yet);
- `receipts.json`: every line's signed write-off receipts, in order;
- `draws.json`: each declaration's inspection draw (E2) with its period's commitment, and the key of every period
  that had closed when the pack was made, so the draws are recomputed offline;
- `certificate.pdf` and `certificate.pdf.sig` when the certificate was rendered; `jwks.json`: the public keys;
- `manifest.json`: the SHA-256 of each file.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import json
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, or_, select
from sqlalchemy.orm import Session

from workflow.domain.audit_chain import event_hash
from workflow.domain.draws import PeriodKey, RecordedDraw, audit_period
from workflow.domain.errors import InvalidInput
from workflow.domain.signature import b64url_decode, compact
from workflow.store import audit_chain
from workflow.store.audit_trail import check_receipt_chain, write_checkpoints
from workflow.store.certificate_documents import document_by_number
from workflow.store.draw_keys import published_keys, recorded_draws
from workflow.store.receipts import certificate_receipts
from workflow.store.signing import KeyRing, PublicKeys, keys_from_jwks, verify_pdf, verify_token
from workflow.store.tables import AuditEventRow, CertificateRow, DeclarationRow

PACK_FORMAT = "specgoods-evidence-pack"
MANIFEST = "manifest.json"


def export_pack(
    session: Session,
    ring: KeyRing,
    certificate_no: str,
    pdf_folder: Path,
    now: datetime,
    today: date | None = None,
    on_phase: Callable[[str], object] = lambda _: None,
) -> bytes:
    """The zip's bytes; what waits is sealed and a checkpoint signed first if the district's head moved since the last.

    `today` (the district's local date) decides which periods' draw keys are revealed; without it, the UTC date,
    which never reveals a key early. `on_phase` hears each step as it starts (the command line shows them).
    """
    certificate = session.execute(select(CertificateRow).where(CertificateRow.certificate_no == certificate_no))
    row = certificate.scalar_one_or_none()
    if row is None:
        raise InvalidInput(f"no certificate {certificate_no}", field="--certificate")
    on_phase("sealing waiting audit events and signing a checkpoint")
    write_checkpoints(session, ring, now)  # seals what waits first
    session.commit()
    connection = session.connection()
    on_phase("collecting the events, the chain segment and the receipts")
    files = _pack_files(connection, row, ring)
    on_phase("collecting the inspection draws")
    files["draws.json"] = _draws_file(connection, row, json.loads(files["events.json"]), today or now.date())
    files.update(_pdf_files(session, certificate_no, pdf_folder))
    on_phase(f"zipping {len(files)} files")
    return _zip(files, certificate_no, now)


def _pack_files(connection: Connection, certificate: CertificateRow, ring: KeyRing) -> dict[str, bytes]:
    # The stretch ends at the newest checkpoint; events sealed after it wait for the next pack.
    checkpoint = audit_chain.checkpoints(connection, certificate.district)[-1]
    events = _events(connection, certificate, int(checkpoint["seq"]))
    first = min(event["chain_seq"] for event in events)
    segment = audit_chain.segment(connection, certificate.district, first, int(checkpoint["seq"]))
    receipts = [
        {"line_no": row.line_no, "seq": row.seq, "token": row.token}
        for row in certificate_receipts(connection, certificate.id)
    ]
    return {
        "events.json": _json(events),
        "chain.json": _json({"district": certificate.district, "segment": segment}),
        "checkpoint.json": _json({"token": checkpoint["token"]}),
        "receipts.json": _json(receipts),
        "jwks.json": _json(ring.jwks()),
    }


def _events(connection: Connection, certificate: CertificateRow, last_seq: int) -> list[dict[str, Any]]:
    declarations = select(DeclarationRow.id).where(DeclarationRow.certificate_id == certificate.id)
    query = (
        select(*audit_chain.EVENT_COLUMNS)
        .where(
            or_(
                (AuditEventRow.object_type == "application") & (AuditEventRow.object_id == certificate.application_id),
                (AuditEventRow.object_type == "certificate") & (AuditEventRow.object_id == certificate.id),
                (AuditEventRow.object_type == "declaration") & AuditEventRow.object_id.in_(declarations),
            ),
            AuditEventRow.district == certificate.district,
            AuditEventRow.chain_seq <= last_seq,
        )
        .order_by(AuditEventRow.chain_seq)
    )
    return [dict(row) for row in connection.execute(query).mappings()]


def _draws_file(
    connection: Connection, certificate: CertificateRow, events: list[dict[str, Any]], today: date
) -> bytes:
    """E2: the draws whose route events the pack carries, and their periods' commitments (and keys, once closed)."""
    in_pack = {event["id"] for event in events}
    declarations = [event["object_id"] for event in events if event["object_type"] == "declaration"]
    draws: list[dict[str, Any]] = [
        {"declaration_no": draw.declaration_no, "event_id": draw.event_id, "route": dict(draw.route)}
        for draw in recorded_draws(connection, certificate.district, None, declarations)
        if draw.event_id in in_pack
    ]
    periods = {draw["route"]["draw_period"] for draw in draws}
    keys = [key for key in published_keys(connection, today, certificate.district) if key["period"] in periods]
    return _json({"district": certificate.district, "keys": keys, "draws": draws})


def _pdf_files(session: Session, certificate_no: str, folder: Path) -> dict[str, bytes]:
    document = document_by_number(session, certificate_no)
    pdf = folder / f"{certificate_no}.pdf"
    if document is None or not pdf.exists():
        return {}
    token = compact(document.payload, b64url_decode(document.signature))
    return {"certificate.pdf": pdf.read_bytes(), "certificate.pdf.sig": token.encode("ascii")}


def _json(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, indent=1, default=_plain).encode("utf-8")


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON")


def _zip(files: Mapping[str, bytes], certificate_no: str, now: datetime) -> bytes:
    manifest = {
        "format": PACK_FORMAT,
        "v": 1,
        "certificate_no": certificate_no,
        "created_at": now.isoformat(timespec="seconds"),
        "files": {name: hashlib.sha256(content).hexdigest() for name, content in sorted(files.items())},
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(MANIFEST, _json(manifest))
        for name, content in sorted(files.items()):
            archive.writestr(name, content)
    return buffer.getvalue()


# -- verifying a pack, offline --------------------------------------------------------------------------------------


@dataclass
class PackReport:
    certificate_no: str = ""
    events: int = 0
    segment: int = 0
    receipts: int = 0
    draws: int = 0
    draws_recomputed: int = 0
    pdf: str = "absent"
    problems: list[str] = field(default_factory=list)
    keys_from_pack: bool = False

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "certificate_no": self.certificate_no,
            "events": self.events,
            "chain_segment": self.segment,
            "receipts": self.receipts,
            "draws": self.draws,
            "draws_recomputed": self.draws_recomputed,
            "pdf": self.pdf,
            "keys_from_pack": self.keys_from_pack,
            "problems": self.problems,
        }


def verify_pack(content: bytes, trusted: PublicKeys | None = None) -> PackReport:
    """Every check that needs nothing but the zip (and, preferably, the keys the verifier already trusts)."""
    files = _read_zip(content)
    report = PackReport()
    manifest = _load(files, MANIFEST)
    if not isinstance(manifest, dict) or manifest.get("format") != PACK_FORMAT:
        raise InvalidInput("not a specgoods evidence pack (manifest.json missing or foreign)", field="--pack")
    report.certificate_no = str(manifest.get("certificate_no", ""))
    report.problems += _check_manifest(files, manifest)
    report.keys_from_pack = trusted is None
    keys = trusted if trusted is not None else keys_from_jwks(_load(files, "jwks.json"))
    _check_chain(files, keys, report)
    _check_receipts(files, keys, report)
    _check_draws(files, report)
    _check_pdf(files, keys, report)
    return report


def _read_zip(content: bytes) -> dict[str, bytes]:
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            return {name: archive.read(name) for name in archive.namelist()}
    except zipfile.BadZipFile as error:
        raise InvalidInput(f"not a zip file: {error}", field="--pack") from None


def _load(files: Mapping[str, bytes], name: str) -> Any:
    if name not in files:
        raise InvalidInput(f"the pack has no {name}", field="--pack")
    try:
        return json.loads(files[name])
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InvalidInput(f"{name} is not JSON: {error}", field="--pack") from None


def _check_manifest(files: Mapping[str, bytes], manifest: Mapping[str, Any]) -> list[str]:
    listed = manifest.get("files", {})
    problems = [
        f"{name} was altered (its SHA-256 differs from the manifest's)"
        for name, digest in sorted(listed.items())
        if name in files and hashlib.sha256(files[name]).hexdigest() != digest
    ]
    problems += [f"{name} is missing" for name in sorted(listed) if name not in files]
    problems += [f"{name} is not in the manifest" for name in sorted(files) if name not in listed and name != MANIFEST]
    return problems


def _check_chain(files: Mapping[str, bytes], keys: PublicKeys, report: PackReport) -> None:
    chain, events = _load(files, "chain.json"), _load(files, "events.json")
    segment = [tuple(link) for link in chain.get("segment", [])]
    report.events, report.segment = len(events), len(segment)
    problem = _segment_problem(segment) or _checkpoint_problem(files, keys, chain.get("district"), segment)
    if problem:
        report.problems.append(problem)
    by_seq = {link[0]: link for link in segment}
    for event in events:
        link = by_seq.get(event.get("chain_seq"))
        if event_hash(event) != event.get("event_hash"):
            report.problems.append(f"event id {event.get('id')} (seq {event.get('chain_seq')}) was altered")
        elif link is None or (link[1], link[2]) != (event.get("prev_hash"), event.get("event_hash")):
            report.problems.append(f"event id {event.get('id')} is not where the chain segment says")


def _segment_problem(segment: list[tuple[Any, ...]]) -> str | None:
    for before, after in itertools.pairwise(segment):
        if after[0] != before[0] + 1:
            return f"the chain segment jumps from {before[0]} to {after[0]}: events were deleted"
        if after[1] != before[2]:
            return f"the chain segment breaks at {after[0]}: an event was altered or inserted"
    return None if segment else "the chain segment is empty"


def _checkpoint_problem(
    files: Mapping[str, bytes], keys: PublicKeys, district: Any, segment: list[tuple[Any, ...]]
) -> str | None:
    token = _load(files, "checkpoint.json").get("token", "")
    verdict = verify_token(str(token), keys)
    payload = verdict.payload or {}
    if not verdict.valid:
        return f"the checkpoint does not verify: {', '.join(verdict.failures)}"
    if payload.get("district") != district or [payload.get("seq"), payload.get("hash")] != list(segment[-1][::2]):
        return "the chain segment does not end at the signed checkpoint"
    return None


def _check_receipts(files: Mapping[str, bytes], keys: PublicKeys, report: PackReport) -> None:
    receipts = _load(files, "receipts.json")
    report.receipts = len(receipts)
    for line_no in sorted({receipt["line_no"] for receipt in receipts}):
        tokens = [receipt["token"] for receipt in receipts if receipt["line_no"] == line_no]
        problem = check_receipt_chain(tokens, keys)
        if problem:
            report.problems.append(f"line {line_no}: {problem}")


def _check_draws(files: Mapping[str, bytes], report: PackReport) -> None:
    """E2: each draw is the one the chained route event recorded, and recomputes from its period's revealed key."""
    if "draws.json" not in files:  # packs made before period keys carry no draws
        return
    content, events = _load(files, "draws.json"), _load(files, "events.json")
    routes = {event.get("id"): event.get("inputs") for event in events}
    draws = content.get("draws", [])
    report.draws = len(draws)
    for draw in draws:
        if routes.get(draw.get("event_id")) != draw.get("route"):
            report.problems.append(f"draws.json: the draw of {draw.get('declaration_no')} is not its audited route")
    for key in content.get("keys", []):
        if key.get("key") is not None:  # None: the period had not closed when the pack was made
            _recompute_draws(content.get("district", ""), key, draws, report)


def _recompute_draws(district: str, key: Mapping[str, str], draws: list[dict[str, Any]], report: PackReport) -> None:
    period = PeriodKey(district, key["period"], key["commitment"], bytes.fromhex(key["key"]))
    recorded = [
        RecordedDraw(draw["declaration_no"], draw["event_id"], draw["route"], None)
        for draw in draws
        if draw["route"].get("draw_period") == key["period"]
    ]
    audit = audit_period(period, recorded)
    report.draws_recomputed += audit.draws
    report.problems += [
        f"draws.json: {f.declaration_no or key['period']}: {f.kind}: {f.detail}" for f in audit.findings
    ]


def _check_pdf(files: Mapping[str, bytes], keys: PublicKeys, report: PackReport) -> None:
    if "certificate.pdf" not in files:
        return
    verdict = verify_pdf(files["certificate.pdf"], files.get("certificate.pdf.sig", b"").decode("ascii"), keys)
    report.pdf = "valid" if verdict.valid else f"tampered ({', '.join(verdict.failures)})"
    if not verdict.valid:
        report.problems.append(f"certificate.pdf: {', '.join(verdict.failures)}")
