"""The tamper-evident trail (issue #8 §3–5): hash chains, signed checkpoints, write-off receipts, evidence packs.

Every tamper here is done the way an insider would: plain SQL against the database, or a byte edit in the zip.
"""

from __future__ import annotations

import io
import itertools
import json
import os
import subprocess
import sys
import zipfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text

from config.bootstrap import Container
from config.keys import key_ring
from tests.conftest import Cast
from tests.integration.support import declare, fx09_hek293, fx10_cytokine, grant
from workflow.domain import commands as c
from workflow.domain.audit_chain import (
    ALTERED,
    BROKEN_LINK,
    CHECKPOINT,
    DELETED,
    EVENT_FIELDS,
    GENESIS,
    INSERTED,
    event_hash,
)
from workflow.domain.ledger import ReversalReason
from workflow.domain.signature import b64url, parse_compact
from workflow.store import audit_chain
from workflow.store.audit_trail import verify_trail, write_checkpoints
from workflow.store.evidence import export_pack, verify_pack
from workflow.store.signing import KeyRing
from workflow.store.tables import AuditEventRow, CertificateRow, LedgerEntryRow, WriteOffReceiptRow


@pytest.fixture
def history(container: Container, cast: Cast) -> str:
    """A granted two-line certificate with three write-offs and one reversal: a few dozen chained events."""
    number = grant(container, cast, fx10_cytokine(100), fx09_hek293(50))
    for qty, line_no in ((10, 1), ("2.5", 1), (5, 2)):
        shipment = declare(container, cast, number, qty, line_no=line_no, rate=Decimal("0.99"))
        assert shipment["state"] in ("released", "follow_up"), shipment
    commit_id = _entries(container, number, "commit")[0]
    request = c.RequestReversal(
        cast.port_officer, commit_id, Decimal(1), ReversalReason.QUANTITY_CORRECTION, "counted twice"
    )
    reversal = container.bus.handle(request)
    container.bus.handle(c.DecideReversal(cast.decider, reversal["reversal_id"]))
    container.sequencer.seal()  # what beat does every second: the events are chained and the head signed
    return number


def _entries(container: Container, number: str, kind: str) -> list[int]:
    with container.sessions() as session:
        query = (
            select(LedgerEntryRow.id)
            .join(CertificateRow, CertificateRow.id == LedgerEntryRow.certificate_id)
            .where(CertificateRow.certificate_no == number, LedgerEntryRow.kind == kind)
            .order_by(LedgerEntryRow.id)
        )
        return list(session.scalars(query))


def _verify(container: Container, **options: Any) -> Any:
    with container.engine.connect() as connection:
        return verify_trail(connection, key_ring(container.settings).public_keys(), **options)


def _sql(container: Container, statement: str, **params: Any) -> Any:
    with container.engine.begin() as connection:
        return connection.execute(text(statement), params)


def _events(container: Container) -> list[Any]:
    with container.engine.connect() as connection:
        query = select(AuditEventRow).where(AuditEventRow.district == "xiamen").order_by(AuditEventRow.chain_seq)
        return list(connection.execute(query).mappings())


def _checkpoint(container: Container) -> None:
    with container.sessions() as session:
        write_checkpoints(session, key_ring(container.settings), container.deps.clock.now())
        session.commit()


def _forge(token: str, **changes: Any) -> str:
    """The token's payload changed, with its original signature: what a forger without the key can make."""
    payload = dict(parse_compact(token).payload) | changes
    encoded = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    return f"{b64url(encoded)}.{token.split('.')[1]}"


def _finding(container: Container) -> Any:
    report = _verify(container)
    assert not report.ok
    (finding,) = [district.finding for district in report.districts if district.finding]
    return finding


# -- the chain -------------------------------------------------------------------------------------------------------


def test_every_event_is_chained_to_the_previous_one_of_its_district(container: Container, history: str) -> None:
    events = _events(container)
    assert len(events) > 10
    assert [event["chain_seq"] for event in events] == list(range(1, len(events) + 1))
    assert events[0]["prev_hash"] == GENESIS
    for before, after in itertools.pairwise(events):
        assert after["prev_hash"] == before["event_hash"]
        assert after["id"] > before["id"]
    assert all(event_hash(event) == event["event_hash"] for event in events)
    report = _verify(container)
    assert report.ok, report.as_dict()
    assert report.districts[0].head_seq == len(events)


def test_an_altered_event_is_named_by_its_id(container: Container, history: str) -> None:
    victim = _events(container)[5]
    _sql(container, "UPDATE audit_events SET reason = 'nothing to see' WHERE id = :id", id=victim["id"])
    finding = _finding(container)
    assert (finding.kind, finding.event_id, finding.seq) == (ALTERED, victim["id"], victim["chain_seq"])


def test_an_altered_event_whose_hash_was_recomputed_breaks_the_next_link(container: Container, history: str) -> None:
    events = _events(container)
    victim = dict(events[5]) | {"reason": "rewritten"}
    forged = event_hash(victim)
    _sql(
        container,
        "UPDATE audit_events SET reason = 'rewritten', event_hash = :h WHERE id = :id",
        h=forged,
        id=victim["id"],
    )
    finding = _finding(container)
    assert (finding.kind, finding.event_id) == (BROKEN_LINK, events[6]["id"])
    assert str(victim["id"]) in finding.detail


def test_a_deleted_event_is_named_by_its_sequence_number(container: Container, history: str) -> None:
    victim = _events(container)[7]
    _sql(container, "DELETE FROM audit_events WHERE id = :id", id=victim["id"])
    finding = _finding(container)
    assert (finding.kind, finding.seq) == (DELETED, victim["chain_seq"])


def test_an_event_inserted_and_rechained_is_caught_by_the_signed_head(container: Container, history: str) -> None:
    """The insider renumbers and rehashes the whole tail and moves the head, so every link holds: the head's
    signature, made by the sequencer when it last sealed, vouches for the old end and gives it away."""
    events = _events(container)
    position = 4
    forged = dict(events[position]) | {"reason": "approved by phone", "trigger": "note"}
    tail = [forged, *(dict(event) for event in events[position:])]
    _sql(container, "DELETE FROM audit_events WHERE chain_seq >= :s", s=events[position]["chain_seq"])
    previous = events[position - 1]["event_hash"]
    for seq, event in enumerate(tail, start=events[position]["chain_seq"]):
        event |= {"chain_seq": seq, "prev_hash": previous}
        event["event_hash"] = previous = event_hash(event)
    _reinsert(container, tail)
    _sql(container, "UPDATE audit_chain_heads SET seq = seq + 1, event_hash = :h", h=previous)
    finding = _finding(container)
    assert (finding.kind, finding.seq) == (CHECKPOINT, events[-1]["chain_seq"]) and "signed" in finding.detail


def _reinsert(container: Container, events: list[dict[str, Any]]) -> int:
    """Old events keep their ids; the forged one gets a new, higher id."""
    with container.engine.begin() as connection:
        connection.execute(AuditEventRow.__table__.insert(), events[1:])
        fresh = {key: value for key, value in events[0].items() if key != "id"}
        inserted = connection.execute(AuditEventRow.__table__.insert().values(**fresh).returning(AuditEventRow.id))
        return int(inserted.scalar_one())


def test_an_event_appended_past_the_head_is_reported_as_inserted(container: Container, history: str) -> None:
    last = dict(_events(container)[-1])
    extra = {key: value for key, value in last.items() if key != "id"} | {"reason": "backdated"}
    extra |= {"chain_seq": last["chain_seq"] + 1, "prev_hash": last["event_hash"]}
    extra["event_hash"] = event_hash(extra)
    with container.engine.begin() as connection:
        connection.execute(AuditEventRow.__table__.insert().values(**extra))
    assert _finding(container).kind == INSERTED


def test_a_chain_rebuilt_from_scratch_is_caught_by_the_signed_checkpoint(container: Container, history: str) -> None:
    _checkpoint(container)
    events = [dict(event) for event in _events(container)]
    events[3]["reason"] = "rewritten history"
    previous = GENESIS
    for event in events:
        event["prev_hash"] = previous
        event["event_hash"] = previous = event_hash(event)
        _sql(
            container,
            "UPDATE audit_events SET reason = :r, prev_hash = :p, event_hash = :h WHERE id = :id",
            r=event["reason"],
            p=event["prev_hash"],
            h=event["event_hash"],
            id=event["id"],
        )
    _sql(container, "UPDATE audit_chain_heads SET event_hash = :h", h=previous)
    _sql(container, "UPDATE audit_checkpoints SET event_hash = :h", h=previous)  # the row, not the signed token
    assert _finding(container).kind == CHECKPOINT


def test_events_cut_from_the_end_are_caught_by_the_signed_checkpoint(container: Container, history: str) -> None:
    _checkpoint(container)
    events = _events(container)
    _sql(container, "DELETE FROM audit_events WHERE chain_seq > :s", s=events[-3]["chain_seq"])
    _sql(
        container,
        "UPDATE audit_chain_heads SET seq = :s, event_hash = :h",
        s=events[-3]["chain_seq"],
        h=events[-3]["event_hash"],
    )
    finding = _finding(container)
    assert (finding.kind, finding.seq) == (DELETED, events[-2]["chain_seq"])


def test_a_forged_checkpoint_is_reported(container: Container, history: str) -> None:
    _checkpoint(container)
    with container.engine.connect() as connection:
        token = connection.execute(text("SELECT token FROM audit_checkpoints")).scalar_one()
    _sql(container, "UPDATE audit_checkpoints SET token = :t", t=_forge(token, seq=1))
    finding = _finding(container)
    assert finding.kind == CHECKPOINT and "signature" in finding.detail


def test_checkpoints_signed_before_a_key_rotation_still_verify(container: Container, cast: Cast, history: str) -> None:
    _checkpoint(container)
    ring = key_ring(container.settings)
    old = ring.key_infos()[0].kid
    new = ring.rotate()
    declare(container, cast, history, 1, rate=Decimal("0.99"))
    _checkpoint(container)
    with container.engine.connect() as connection:
        kids = list(connection.execute(text("SELECT key_id FROM audit_checkpoints ORDER BY seq")).scalars())
    assert kids == [old, new]
    report = _verify(container)
    assert report.ok, report.as_dict()
    assert report.districts[0].checkpoints == 2


def test_concurrent_commits_still_form_one_unbroken_chain(container: Container, cast: Cast) -> None:
    """Sealing is ordered by the head's row lock, which writers never wait for: eight threads, no gap, no fork."""
    number = grant(container, cast, fx10_cytokine(1000))
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda _: declare(container, cast, number, 1, rate=Decimal("0.99")), range(40)))
    container.sequencer.seal()  # beat's run: what a commit's own sealing skipped while another held the head
    report = _verify(container)
    assert report.ok, report.as_dict()
    assert report.receipts_checked == 40


# -- receipts ---------------------------------------------------------------------------------------------------------


def _receipts(container: Container) -> list[Any]:
    with container.engine.connect() as connection:
        query = select(WriteOffReceiptRow).order_by(WriteOffReceiptRow.certificate_line_id, WriteOffReceiptRow.seq)
        return list(connection.execute(query).mappings())


def test_every_commit_and_reversal_gets_a_signed_receipt_chained_per_line(container: Container, history: str) -> None:
    receipts = _receipts(container)
    payloads = [parse_compact(receipt["token"]).payload for receipt in receipts]
    line1 = [payload for payload in payloads if payload["line_no"] == 1]
    assert [(p["seq"], p["kind"], p["qty"], p["net_committed"]) for p in line1] == [
        (1, "commit", "10", "10"),
        (2, "commit", "2.5", "12.5"),
        (3, "reverse", "1", "11.5"),
    ]
    assert [(p["seq"], p["net_committed"]) for p in payloads if p["line_no"] == 2] == [(1, "5")]
    assert line1[0]["prev"] == GENESIS
    report = _verify(container)
    assert report.ok and report.receipts_checked == 4


@pytest.mark.parametrize(
    ("tamper", "expected"),
    [
        ("UPDATE writeoff_receipts SET token = :forged WHERE seq = 2", "does not verify"),
        ("DELETE FROM writeoff_receipts WHERE seq = 2", "missing or duplicated"),
        ("DELETE FROM writeoff_receipts WHERE seq = 3", "the ledger's line says"),
    ],
)
def test_a_tampered_missing_or_dropped_receipt_is_detected(
    container: Container, history: str, tamper: str, expected: str
) -> None:
    token = next(receipt["token"] for receipt in _receipts(container) if receipt["seq"] == 2)
    _sql(
        container,
        tamper.replace(
            "WHERE", "WHERE certificate_line_id = (SELECT MIN(certificate_line_id) FROM writeoff_receipts) AND"
        ),
        forged=_forge(token, qty="0.5"),
    )
    report = _verify(container)
    assert not report.ok
    assert expected in report.receipt_problems[0].detail


# -- the evidence pack -----------------------------------------------------------------------------------------------


def _pack(container: Container, number: str) -> bytes:
    with container.sessions() as session:
        return export_pack(
            session,
            key_ring(container.settings),
            number,
            container.settings.instance_path / "certificates",
            container.deps.clock.now(),
        )


def _edit_zip(content: bytes, name: str, change: Callable[[Any], Any]) -> bytes:
    """Rewrite one JSON file of the pack (and leave the manifest alone, or fix it, as the caller wants)."""
    source = zipfile.ZipFile(io.BytesIO(content))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as target:
        for item in source.namelist():
            data = source.read(item)
            if item == name:
                data = json.dumps(change(json.loads(data)), ensure_ascii=False).encode()
            target.writestr(item, data)
    return buffer.getvalue()


def _fix_manifest(content: bytes) -> bytes:
    """A careful forger also updates the manifest's hashes: the signatures must still catch them."""
    import hashlib

    files = {
        name: zipfile.ZipFile(io.BytesIO(content)).read(name)
        for name in zipfile.ZipFile(io.BytesIO(content)).namelist()
    }

    def rehash(manifest: dict[str, Any]) -> dict[str, Any]:
        manifest["files"] = {name: hashlib.sha256(files[name]).hexdigest() for name in manifest["files"]}
        return manifest

    return _edit_zip(content, "manifest.json", rehash)


def test_an_evidence_pack_verifies_offline(container: Container, history: str) -> None:
    content = _pack(container, history)
    names = set(zipfile.ZipFile(io.BytesIO(content)).namelist())
    assert {"manifest.json", "events.json", "chain.json", "checkpoint.json", "receipts.json", "jwks.json"} <= names
    report = verify_pack(content)
    assert report.ok, report.problems
    assert report.receipts == 4 and report.events > 10 and report.segment >= report.events
    assert report.keys_from_pack


def _alter_event(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    events[2]["reason"] = "approved without review"
    return events


def _drop_receipt(receipts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [receipt for receipt in receipts if (receipt["line_no"], receipt["seq"]) != (1, 2)]


def _cut_segment(chain: dict[str, Any]) -> dict[str, Any]:
    chain["segment"] = chain["segment"][:3] + chain["segment"][4:]
    return chain


@pytest.mark.parametrize(
    ("name", "change", "expected"),
    [
        ("events.json", _alter_event, "was altered"),
        ("receipts.json", _drop_receipt, "missing or duplicated"),
        ("chain.json", _cut_segment, "events were deleted"),
    ],
)
def test_a_tampered_pack_is_detected_even_with_a_rewritten_manifest(
    container: Container, history: str, name: str, change: Callable[[Any], Any], expected: str
) -> None:
    content = _edit_zip(_pack(container, history), name, change)
    assert any("altered" in problem and name in problem for problem in verify_pack(content).problems)
    forged = _fix_manifest(content)
    problems = verify_pack(forged).problems
    assert problems and any(expected in problem for problem in problems), problems


# -- the command line ---------------------------------------------------------------------------------------------


def _cli(container: Container, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    environment = {key: value for key, value in os.environ.items() if not key.startswith("SPECGOODS_")}
    environment |= {
        "SPECGOODS_DATABASE_URL": container.settings.effective_database_url,
        "SPECGOODS_INSTANCE_PATH": str(container.settings.instance_path),
    }
    return subprocess.run(
        [sys.executable, "-m", "cli", "audit", *args],
        capture_output=True,
        text=True,
        env=environment,
        timeout=120,
        check=False,
        cwd=cwd,
    )


def test_audit_verify_exits_0_then_1_naming_the_altered_event(container: Container, history: str) -> None:
    clean = _cli(container, "verify")
    assert clean.returncode == 0, clean.stderr
    assert "audit trail OK" in clean.stdout and "xiamen" in clean.stdout
    victim = _events(container)[3]
    _sql(container, "UPDATE audit_events SET actor_name = 'someone else' WHERE id = :id", id=victim["id"])
    tampered = _cli(container, "verify", "--json")
    assert tampered.returncode == 1, tampered.stderr
    report = json.loads(tampered.stdout)
    assert report["districts"][0]["finding"]["event_id"] == victim["id"]
    assert report["districts"][0]["finding"]["kind"] == ALTERED


def test_audit_export_then_verify_pack_round_trip(container: Container, history: str, tmp_path: Path) -> None:
    target = tmp_path / "pack.zip"
    exported = _cli(container, "export", "--certificate", history, "--output", str(target))
    assert exported.returncode == 0, exported.stderr
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps(key_ring(container.settings).jwks()))
    checked = _cli(container, "verify", "--pack", str(target), "--jwks", str(jwks))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "pack OK" in checked.stdout
    target.write_bytes(_edit_zip(target.read_bytes(), "events.json", _alter_event))
    assert _cli(container, "verify", "--pack", str(target)).returncode == 1


def test_audit_verify_pack_on_a_file_that_is_not_a_pack_exits_2(container: Container, tmp_path: Path) -> None:
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"not a zip")
    result = _cli(container, "verify", "--pack", str(junk))
    assert result.returncode == 2 and "not a zip" in result.stderr
    missing = _cli(container, "export", "--certificate", "NOPE")
    assert missing.returncode == 2 and "NOPE" in missing.stderr


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_chain_walked_in_stretches_and_processes_finds_the_same_first_problem(
    container: Container, history: str, monkeypatch: pytest.MonkeyPatch, jobs: int
) -> None:
    import workflow.store.audit_trail

    monkeypatch.setattr(workflow.store.audit_trail, "RANGE", 4)
    assert _verify(container, jobs=jobs).ok
    events = _events(container)
    boundary = events[7]  # seq 8: the last of the second stretch
    _sql(container, "DELETE FROM audit_events WHERE id = :id", id=boundary["id"])
    altered = events[12]
    _sql(container, "UPDATE audit_events SET reason = 'later' WHERE id = :id", id=altered["id"])
    report = _verify(container, jobs=jobs)
    finding = report.districts[0].finding
    assert (finding.kind, finding.seq) == (DELETED, boundary["chain_seq"])
    assert report.districts[0].events == len(events) - 1


def test_specgoods_verify_checks_a_single_receipt_token(container: Container, history: str) -> None:
    token = _receipts(container)[1]["token"]
    command = [sys.executable, "-m", "cli", "verify"]
    environment = {key: value for key, value in os.environ.items() if not key.startswith("SPECGOODS_")}
    environment["SPECGOODS_INSTANCE_PATH"] = str(container.settings.instance_path)
    valid = subprocess.run([*command, token], capture_output=True, text=True, env=environment, check=False)
    assert valid.returncode == 0, valid.stderr
    assert "write-off receipt 2 of certificate" in valid.stdout and "net written off" in valid.stdout
    tampered = subprocess.run(
        [*command, _forge(token, qty="99")], capture_output=True, text=True, env=environment, check=False
    )
    assert tampered.returncode == 1 and "TAMPERED: failed signature" in tampered.stdout


# -- the beat task --------------------------------------------------------------------------------------------------


@pytest.mark.worker
def test_a_worker_signs_the_checkpoint_task_that_beat_schedules(
    make_container: Callable[..., Container],
    postgres_url: str,
    redis_url: str,
    start_worker: Callable[..., Any],
    tmp_path: Path,
) -> None:
    from tasks.app import beat_schedule
    from tests.conftest import _empty_tables, make_cast, wait_for, wait_for_worker

    _empty_tables(postgres_url)
    container = make_container(postgres_url, redis_url=redis_url)
    assert beat_schedule(container)["checkpoint-audit-chains"]["task"] == "specgoods.checkpoint_audit_chains"
    grant(container, make_cast(container), fx10_cytokine(100))
    worker = start_worker(postgres_url, redis_url, concurrency=1)
    wait_for_worker(container, worker)
    container.celery.send_task("specgoods.checkpoint_audit_chains", queue="sweeps")

    def signed() -> list[Any]:
        with container.engine.connect() as connection:
            return list(connection.execute(text("SELECT district, seq, key_id FROM audit_checkpoints")))

    (row,) = wait_for(signed, timeout=90, what="the worker to sign a checkpoint")
    assert row.district == "xiamen"

    # The sequencer's beat task: an event left unsealed is sealed by the worker, which signs the head with its key.
    with container.engine.begin() as connection:
        late = connection.execute(select(*audit_chain.EVENT_COLUMNS).order_by(AuditEventRow.id.desc())).mappings()
        event = {key: value for key, value in next(iter(late)).items() if key in EVENT_FIELDS and key != "chain_seq"}
        audit_chain.insert_unsealed(connection, [event | {"prev_hash": None, "reason": "left unsealed"}])
    container.celery.send_task("specgoods.seal_audit_chains", queue="outbox")

    def sealed() -> bool:
        with container.engine.connect() as connection:
            return audit_chain.unsealed(connection, "xiamen")[0] == 0

    wait_for(sealed, timeout=90, what="the worker to seal the event")
    with container.engine.connect() as connection:
        report = verify_trail(connection, KeyRing(tmp_path / "worker-instance" / "keys").public_keys(), "xiamen")
    assert report.ok and report.districts[0].checkpoints == 1, report.as_dict()
