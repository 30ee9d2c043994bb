"""Audit-chain verification speed: `specgoods audit verify` over a chain of 1,000,000 events, beside raw SHA-256.

Run from the repository root: `.venv/bin/python bench/audit_verify.py [--events N] [--json out.json]`.
It makes a scratch PostgreSQL database at the latest migration, writes one district's chain of N events (realistic
field sizes, Chinese text, JSON inputs; linked with the production code, then COPied in), signs a checkpoint, and
times three things in this one process:

- raw:     SHA-256 over the very bytes the chain hashes (each event's canonical encoding), nothing else;
- fetch:   reading the same rows from PostgreSQL the way the verifier does, without hashing;
- verify:  the verifier itself (workflow.store.audit_trail.verify_trail: fetch, re-encode, hash, follow links,
  checkpoint).

The ratio verify/raw says what the encoding and the database cost on top of hashing. Target: verify under 30 s for
1,000,000 events on this machine. Figures go into docs/performance.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


from bench.scratch import plain_dsn, scratch_database
from workflow.domain.audit_chain import EVENT_FIELDS, GENESIS, checkpoint_payload, encode_event, link
from workflow.store import audit_chain
from workflow.store.audit_trail import verify_trail
from workflow.store.engine import make_engine
from workflow.store.signing import KeyRing

DISTRICT = "xiamen"
TARGET_SECONDS = 30.0
# The smoke test's chain: just over one verifier stretch, so two processes each walk a part.
RANGE_FOR_SMOKE = 50_200
COLUMNS = (*EVENT_FIELDS, "event_hash")
# What real events look like: the write-off path's four kinds, and an application's decisions.
TEMPLATES = (
    ("declaration", "declare", "", "declared", "", ["D1"], {"requested": {"1": "2.5"}, "declared_on": "2016-06-01"}),
    ("declaration", "pass_check", "declared", "doc_checked", "", ["D2"], {}),
    (
        "declaration",
        "release",
        "doc_checked",
        "released",
        "",
        ["D3", "D6", "E1", "E2", "E3"],
        {"rate": "0.1", "draw": "0.991552", "inspected": False, "key_id": "67e366a797c1", "grade": "C"},
    ),
    (
        "application",
        "grant",
        "under_review",
        "granted",
        "准予：第3类病原微生物，风险评估通过",
        ["A10", "R11"],
        {"grade": "B"},
    ),
)


def make_events(count: int) -> Iterator[dict[str, Any]]:
    start = datetime(2016, 6, 1, 9, 0, 0)
    for n in range(count):
        object_type, trigger, before, after, reason, rule_ids, inputs = TEMPLATES[n % len(TEMPLATES)]
        yield {
            "object_type": object_type,
            "object_id": n // 3 + 1,
            "object_ref": f"DEC{n // 3:010d}",
            "district": DISTRICT,
            "actor_id": None,
            "actor_role": "port_officer",
            "actor_name": "厦门海关 口岸 officer",
            "at": start + timedelta(microseconds=n * 1_037),
            "trigger": trigger,
            "from_state": before,
            "to_state": after,
            "reason": reason,
            "policy_id": "xiamen-2016",
            "policy_hash": "1e18d67139b71217cca6e98b3027da4559d41605c065233def09b1efc4227823",
            "rule_ids": rule_ids,
            "inputs": inputs,
        }


def write_chain(dsn: str, count: int, batch: int = 50_000) -> tuple[list[bytes], int, str]:
    """Link and COPY the events; returns the canonical bytes of each (for the raw rate) and the head."""
    encoded: list[bytes] = []
    seq, head = 0, GENESIS
    events = make_events(count)
    with psycopg.connect(dsn) as conn:
        while chunk := [event for _, event in zip(range(batch), events, strict=False)]:
            seq, head = link(chunk, seq, head)
            encoded += [encode_event(event) for event in chunk]
            with conn.cursor().copy(f"COPY audit_events ({', '.join(COLUMNS)}) FROM STDIN") as copy:
                for event in chunk:
                    copy.write_row([_cell(event[name]) for name in COLUMNS])
        conn.execute(
            "INSERT INTO audit_chain_heads (district, seq, event_hash) VALUES (%s, %s, %s)", (DISTRICT, seq, head)
        )
    return encoded, seq, head


def _cell(value: Any) -> Any:
    return json.dumps(value, ensure_ascii=False) if isinstance(value, list | dict) else value


def sign_checkpoint(dsn: str, ring: KeyRing, seq: int, head: str) -> None:
    kid, token = ring.sign_named(checkpoint_payload(DISTRICT, seq, head, datetime(2016, 6, 2)))
    with psycopg.connect(dsn) as conn:
        conn.execute(
            "INSERT INTO audit_checkpoints (district, seq, event_hash, at, key_id, token) VALUES (%s,%s,%s,%s,%s,%s)",
            (DISTRICT, seq, head, datetime(2016, 6, 2), kid, token),
        )


def time_raw(encoded: list[bytes]) -> float:
    started = time.perf_counter()
    for data in encoded:
        hashlib.sha256(data).hexdigest()
    return time.perf_counter() - started


def time_fetch(url: str) -> float:
    engine = make_engine(url)
    started = time.perf_counter()
    with engine.connect() as connection:
        fetched = sum(1 for _row in audit_chain.stream_events(connection, DISTRICT))
    elapsed = time.perf_counter() - started
    engine.dispose()
    assert fetched > 0
    return elapsed


def time_verify(url: str, ring: KeyRing, jobs: int) -> tuple[float, Any]:
    engine = make_engine(url)
    started = time.perf_counter()
    with engine.connect() as connection:
        report = verify_trail(connection, ring.public_keys(), DISTRICT, jobs=jobs)
    elapsed = time.perf_counter() - started
    engine.dispose()
    return elapsed, report


def run(count: int, jobs: int) -> dict[str, Any]:
    with scratch_database("audit") as url, tempfile.TemporaryDirectory() as keys:
        dsn = plain_dsn(url)
        ring = KeyRing(Path(keys))
        started = time.perf_counter()
        encoded, seq, head = write_chain(dsn, count)
        sign_checkpoint(dsn, ring, seq, head)
        written = time.perf_counter() - started
        raw = time_raw(encoded)
        fetch = time_fetch(url)
        single, _report = time_verify(url, ring, 1)
        verify, report = time_verify(url, ring, jobs)
    finding = report.districts[0].finding
    return {
        "events": count,
        "bytes": sum(map(len, encoded)),
        "write_seconds": round(written, 2),
        "raw_sha256_seconds": round(raw, 3),
        "fetch_seconds": round(fetch, 2),
        "verify_one_process_seconds": round(single, 2),
        "jobs": jobs,
        "verify_seconds": round(verify, 2),
        "raw_events_per_second": round(count / raw),
        "verify_events_per_second": round(count / verify),
        "verify_to_raw_ratio": round(raw / verify, 4),
        "verified_ok": report.ok and report.districts[0].events == count,
        "finding": finding.as_dict() if finding else None,
        "target_seconds": TARGET_SECONDS,
        "within_target": verify <= TARGET_SECONDS,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="chain length (default 1,000,000)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="verifier processes (default: CPUs)")
    parser.add_argument("--json", dest="json_path", default=None, help="also write the figures to this file")
    options = parser.parse_args(argv)
    result = run(options.events, options.jobs)
    print(f"chain of {result['events']:,} events, {result['bytes'] / 1e6:.0f} MB canonical encoding")
    print(f"  written (link + COPY): {result['write_seconds']} s")
    print(f"  raw SHA-256 of the same bytes: {result['raw_sha256_seconds']} s = {result['raw_events_per_second']:,}/s")
    print(f"  fetch only: {result['fetch_seconds']} s")
    print(f"  verify, one process: {result['verify_one_process_seconds']} s")
    print(
        f"  verify, {result['jobs']} processes: {result['verify_seconds']} s = {result['verify_events_per_second']:,}/s"
    )
    print(
        f"  raw/verify ratio: {result['verify_to_raw_ratio']}; target ≤ {TARGET_SECONDS:g} s: {result['within_target']}"
    )
    print(f"  chain verified OK: {result['verified_ok']}")
    if options.json_path:
        Path(options.json_path).write_text(json.dumps(result, indent=2))
    return 0 if result["verified_ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
