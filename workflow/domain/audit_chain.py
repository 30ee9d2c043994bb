"""The tamper-evident audit trail: each district's events form one hash chain, checked by walking it.

Every audit event carries its district's sequence number, the hash of the previous event in that chain and its own
hash: SHA-256 over a canonical encoding of the event that includes the previous hash. Changing, removing or
inserting an event breaks the chain at that point; signatures over a (district, sequence number, hash) — the head,
signed at every sealing, and the hourly checkpoints — stop anyone who can write to the database from rebuilding it.

Pure: the store's sequencer seals events shortly after they commit (workflow/store/audit_chain.py); the CLI, the
evidence pack and the benchmark all walk chains with `ChainWalker`. docs/audit-trail.md has the format.
"""

from __future__ import annotations

import hashlib
import json
import operator
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

ENCODING_VERSION = 1
GENESIS = "0" * 64

# The event fields the hash covers, in the order they are encoded. The database id is not among them: it is
# allocated by the insert, and the (district, seq) pair already names the event's place in its chain.
EVENT_FIELDS = (
    "district",
    "chain_seq",
    "prev_hash",
    "object_type",
    "object_id",
    "object_ref",
    "actor_id",
    "actor_role",
    "actor_name",
    "at",
    "trigger",
    "from_state",
    "to_state",
    "reason",
    "policy_id",
    "policy_hash",
    "rule_ids",
    "inputs",
)

# What a walk found wrong, first finding per district.
ALTERED = "altered"
DELETED = "deleted"
INSERTED = "inserted"
BROKEN_LINK = "broken link"
CHECKPOINT = "checkpoint"
UNSEALED = "unsealed"

CHECKPOINT_TYPE = "audit-checkpoint"
HEAD_TYPE = "audit-head"


def as_stored(value: Any) -> Any:
    """A JSON value as the database gives it back (tuples become lists, keys strings), so the hash survives storage."""
    return json.loads(json.dumps(value, ensure_ascii=False))


def encode_event(event: Mapping[str, Any]) -> bytes:
    """One byte string per event: a JSON array in EVENT_FIELDS order, nested keys sorted, UTF-8, no spaces."""
    values = [ENCODING_VERSION, *_EVENT_VALUES(event)]
    at = values[_AT]
    if isinstance(at, datetime):
        values[_AT] = at.isoformat()
    return _CANONICAL.encode(values).encode("utf-8")


# Built once: a verifier encodes a million events, and json.dumps with options builds an encoder on every call.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
_EVENT_VALUES = operator.itemgetter(*EVENT_FIELDS)
_AT = 1 + EVENT_FIELDS.index("at")


def event_hash(event: Mapping[str, Any]) -> str:
    """The hash an event must carry: SHA-256 of its canonical encoding, which includes the previous hash."""
    return hashlib.sha256(encode_event(event)).hexdigest()


def link(events: Sequence[dict[str, Any]], head_seq: int, head_hash: str) -> tuple[int, str]:
    """Give each event (in commit order) its place after the chain's head; returns the new head."""
    for event in events:
        head_seq += 1
        event["chain_seq"], event["prev_hash"] = head_seq, head_hash
        head_hash = event["event_hash"] = event_hash(event)
    return head_seq, head_hash


def checkpoint_payload(district: str, seq: int, head_hash: str, at: datetime) -> dict[str, Any]:
    """What a signed checkpoint vouches for: this district's chain had this hash at this sequence number.

    The signer adds its key id ("kid") before signing.
    """
    return {
        "v": 1,
        "type": CHECKPOINT_TYPE,
        "district": district,
        "seq": seq,
        "hash": head_hash,
        "at": at.isoformat(timespec="seconds"),
    }


def head_payload(district: str, seq: int, head_hash: str, at: datetime) -> dict[str, Any]:
    """What the sequencer signs each time it seals: the chain's end, so no sealed event is ever unsigned for."""
    return checkpoint_payload(district, seq, head_hash, at) | {"type": HEAD_TYPE}


@dataclass(frozen=True)
class Finding:
    """The first thing wrong in a district's chain: what, where (sequence number, database id) and why."""

    kind: str
    district: str
    seq: int
    event_id: int | None
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "district": self.district,
            "seq": self.seq,
            "event_id": self.event_id,
            "detail": self.detail,
        }


@dataclass
class ChainWalker:
    """Walks one district's events in sequence order and keeps the first finding.

    Events come as mappings with EVENT_FIELDS plus `event_hash` and, when known, `id`. The walker recomputes each
    hash and follows the links; `checkpoint` then compares a signed (seq, hash) pair with what the walk saw.
    """

    district: str
    expected_seq: int = 1
    head_hash: str = GENESIS
    last_id: int | None = None
    count: int = 0
    finding: Finding | None = None
    seen: dict[int, str] = field(default_factory=dict)
    remember: frozenset[int] = frozenset()

    def add(self, event: Mapping[Any, Any]) -> None:
        self.count += 1
        if self.finding is None:
            self.finding = self._check(event)
        seq = int(event["chain_seq"])
        if seq in self.remember:
            self.seen[seq] = str(event["event_hash"])
        self.expected_seq = max(self.expected_seq, seq + 1)
        self.head_hash, self.last_id = str(event["event_hash"]), event.get("id")

    def _check(self, event: Mapping[Any, Any]) -> Finding | None:
        seq, event_id = int(event["chain_seq"]), event.get("id")
        if seq < self.expected_seq:
            return self._found(INSERTED, seq, event_id, f"a second event with sequence number {seq}")
        if seq > self.expected_seq:
            missing = self.expected_seq if seq == self.expected_seq + 1 else f"{self.expected_seq}–{seq - 1}"
            return self._found(DELETED, self.expected_seq, event_id, f"event(s) {missing} missing before id {event_id}")
        if event_hash(event) != event["event_hash"]:
            return self._found(ALTERED, seq, event_id, "its content no longer matches its hash")
        if event["prev_hash"] != self.head_hash:
            return self._found(
                BROKEN_LINK,
                seq,
                event_id,
                f"it does not follow event id {self.last_id}: an event before it was altered, deleted or inserted",
            )
        return None

    def _found(self, kind: str, seq: int, event_id: int | None, detail: str) -> Finding:
        return Finding(kind, self.district, seq, event_id, detail)

    def checkpoint(self, seq: int, signed_hash: str) -> None:
        """A signed checkpoint: the walk must have reached `seq` and seen `signed_hash` there."""
        if self.finding is not None:
            return
        if seq >= self.expected_seq:
            self.finding = self._found(
                DELETED, self.expected_seq, None, f"the chain ends at {self.expected_seq - 1}; checkpoint signed {seq}"
            )
        elif self.seen.get(seq) != signed_hash:
            self.finding = self._found(
                CHECKPOINT, seq, None, "the chain's hash here differs from the signed checkpoint: it was rewritten"
            )

    def end(self, head_seq: int | None, head_hash: str | None) -> None:
        """The stored head must be where the walk ended: events removed from the end show here."""
        walked = self.expected_seq - 1
        if self.finding is None and head_seq is not None and head_seq > walked:
            self.finding = self._found(
                DELETED, walked + 1, None, f"the chain ends at {walked}; its head says {head_seq}"
            )
        elif self.finding is None and head_seq is not None and head_seq < walked:
            detail = f"the chain goes on to {walked} past its head at {head_seq}"
            self.finding = self._found(INSERTED, head_seq + 1, self.last_id, detail)
        elif self.finding is None and head_hash is not None and head_seq and head_hash != self.head_hash:
            self.finding = self._found(BROKEN_LINK, self.expected_seq - 1, self.last_id, "the head's hash differs")
