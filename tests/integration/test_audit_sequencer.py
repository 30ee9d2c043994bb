"""No district-wide lock on the request path: events are written unsealed and the sequencer seals them.

A writer never waits for the chain's head (here another transaction holds it while a declaration commits); the
sequencer, beat's task every second, then seals what waits, in one chain, and signs the head; every sealed event is
covered by a signature, and an event left unsealed past the bound is a finding of `specgoods audit verify`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select, text

from config.bootstrap import Container
from config.keys import key_ring
from tests.conftest import Cast, make_cast, wait_for
from tests.integration.support import declare, fx10_cytokine, grant
from workflow.domain.actors import SYSTEM_ACTOR
from workflow.domain.audit_chain import CHECKPOINT, UNSEALED, event_hash
from workflow.domain.model import Aggregate, TransitionRecord
from workflow.store import audit_chain
from workflow.store.audit_trail import UNSEALED_BOUND, verify_trail
from workflow.store.tables import AuditEventRow


def verify(container: Container) -> Any:
    """As `specgoods audit verify` does, at the events' own clock (the fixture's, in 2016)."""
    with container.engine.connect() as connection:
        return verify_trail(connection, key_ring(container.settings).public_keys(), now=container.deps.clock.now())


def unsealed_count(container: Container) -> int:
    with container.engine.connect() as connection:
        return audit_chain.unsealed(connection, "xiamen")[0]


def test_commits_leave_their_events_unsealed_and_the_sequencer_chains_them_and_signs_the_head(
    container: Container, cast: Cast
) -> None:
    grant(container, cast, fx10_cytokine(100))
    waiting = unsealed_count(container)
    assert waiting >= 5  # submit, accept, review, grant and the certificate's issue
    young = verify(container)
    assert young.ok and young.districts[0].unsealed == waiting and young.districts[0].head_seq is None

    assert container.sequencer.seal() == {"xiamen": waiting}
    assert container.sequencer.seal() == {}  # nothing left: a second run writes nothing
    report = verify(container)
    assert report.ok, report.as_dict()
    with container.engine.connect() as connection:
        events = list(connection.execute(select(AuditEventRow).order_by(AuditEventRow.chain_seq)).mappings())
        token = audit_chain.head_token(connection, "xiamen")
    assert [event["chain_seq"] for event in events] == list(range(1, len(events) + 1))
    assert all(event_hash(event) == event["event_hash"] for event in events) and token.count(".") == 1


@pytest.mark.postgres
def test_a_writer_never_waits_for_the_head_and_the_sequencer_seals_what_it_left(
    make_container: Callable[..., Container], postgres_url: str
) -> None:
    from tests.conftest import _empty_tables

    _empty_tables(postgres_url)
    container = make_container(postgres_url)
    cast = make_cast(container)
    number = grant(container, cast, fx10_cytokine(100))
    container.sequencer.seal()
    sealed_before = verify(container).districts[0].head_seq

    holder = container.engine.connect()
    holder.begin()
    holder.execute(text("SELECT * FROM audit_chain_heads WHERE district = 'xiamen' FOR UPDATE"))  # a sequencer at work
    try:
        done = threading.Event()
        worker = threading.Thread(
            target=lambda: (declare(container, cast, number, 2, rate=Decimal("0.99")), done.set()), daemon=True
        )
        worker.start()
        # The declaration commits while the head is held: before, its commit would have queued behind this lock.
        wait_for(done.is_set, timeout=30, what="the declaration to commit while the head is locked")
        waiting = unsealed_count(container)
        assert waiting > 0  # its events are in, unsealed
        assert container.sequencer.seal() == {}  # a run while another holds the head skips it, never waits
        report = verify(container)
        assert report.ok and report.districts[0].unsealed == waiting  # young: counted, not a finding
    finally:
        holder.rollback()
        holder.close()

    assert container.sequencer.seal() == {"xiamen": waiting}  # beat's run
    report = verify(container)
    assert report.ok and report.districts[0].unsealed == 0
    assert report.districts[0].head_seq == sealed_before + waiting


def test_an_event_left_unsealed_past_the_bound_is_a_finding(container: Container, cast: Cast) -> None:
    grant(container, cast, fx10_cytokine(100))
    container.sequencer.seal()
    late = container.deps.clock.now() - UNSEALED_BOUND - timedelta(seconds=5)
    with container.engine.begin() as connection:
        audit_chain.insert_unsealed(connection, [_event(late)])
    finding = verify(container).districts[0].finding
    assert finding is not None and finding.kind == UNSEALED and "1 event(s)" in finding.detail

    container.sequencer.seal()
    report = verify(container)
    assert report.ok, report.as_dict()


def test_a_chain_end_no_signature_covers_is_a_finding_until_the_sequencer_signs_the_head(
    container: Container, cast: Cast
) -> None:
    grant(container, cast, fx10_cytokine(100))
    container.sequencer.seal()
    with container.engine.begin() as connection:
        connection.execute(text("UPDATE audit_chain_heads SET token = ''"))  # as a head made before migration 0016
    finding = verify(container).districts[0].finding
    assert finding is not None and finding.kind == CHECKPOINT and "signed by nothing" in finding.detail

    assert container.sequencer.seal() == {"xiamen": 0}  # nothing to seal, but the head is signed
    assert verify(container).ok


def test_a_head_signature_for_another_district_is_a_finding(container: Container, cast: Cast) -> None:
    grant(container, cast, fx10_cytokine(100))
    with container.engine.begin() as connection:
        audit_chain.insert_unsealed(connection, [_event(container.deps.clock.now()) | {"district": "fuzhou"}])
    assert container.sequencer.seal()["fuzhou"] == 1
    with container.engine.begin() as connection:
        fuzhou = connection.execute(text("SELECT token FROM audit_chain_heads WHERE district = 'fuzhou'")).scalar_one()
        connection.execute(text("UPDATE audit_chain_heads SET token = :t WHERE district = 'xiamen'"), {"t": fuzhou})
    report = verify(container)
    [finding] = [district.finding for district in report.districts if district.finding]
    assert finding.district == "xiamen" and finding.kind == CHECKPOINT


def test_many_unsealed_events_are_sealed_in_id_order_in_batches(
    container: Container, cast: Cast, monkeypatch: pytest.MonkeyPatch
) -> None:
    from workflow.store import audit_sequencer

    grant(container, cast, fx10_cytokine(100))
    container.sequencer.seal()
    monkeypatch.setattr(audit_sequencer, "SEAL_BATCH", 3)
    now = datetime.now(UTC).replace(tzinfo=None)
    with container.engine.begin() as connection:
        audit_chain.insert_unsealed(connection, [_event(now, reason=f"note {n}") for n in range(8)])
    assert container.sequencer.seal() == {"xiamen": 8}
    with container.engine.connect() as connection:
        tail = list(
            connection.execute(
                select(AuditEventRow.id, AuditEventRow.chain_seq).order_by(AuditEventRow.chain_seq.desc()).limit(8)
            )
        )
        left = connection.scalar(select(func.count()).where(AuditEventRow.chain_seq.is_(None)))
    assert [row.id for row in reversed(tail)] == sorted(row.id for row in tail) and left == 0
    assert verify(container).ok


def _event(at: datetime, reason: str = "") -> dict[str, Any]:
    return {
        "object_type": "certificate",
        "object_id": 1,
        "object_ref": "",
        "district": "xiamen",
        "actor_id": None,
        "actor_role": "system",
        "actor_name": "",
        "at": at,
        "trigger": "note",
        "from_state": "active",
        "to_state": "active",
        "reason": reason,
        "policy_id": "",
        "policy_hash": "",
        "rule_ids": [],
        "inputs": {},
    }


def test_an_event_s_inputs_are_stored_in_json_s_form_and_their_seal_verifies(container: Container) -> None:
    """A tuple becomes a list and a number key text, as the insert encodes them: what the sequencer hashes is what
    was stored, so the chain verifies (the unit of work no longer round-trips the inputs through JSON first)."""
    inputs = {"pair": (1, 2), 3: "三", "nested": {"list": [(4, "五")], "empty": {}}, "big": 2**70}
    record = TransitionRecord("note", "a", "b", SYSTEM_ACTOR, "为何", ("R1", "R2"), inputs)
    with container.deps.uow() as uow:
        uow.audit.write("application", Aggregate(id=424242, policy_id="p"), "XM-1", "xiamen", [record])
        uow.commit()
    container.sequencer.seal()
    assert verify(container).ok
    with container.engine.connect() as connection:
        stored = connection.execute(
            select(AuditEventRow.rule_ids, AuditEventRow.inputs).where(AuditEventRow.object_id == 424242)
        ).one()
    assert stored.rule_ids == ["R1", "R2"]
    assert stored.inputs == {"pair": [1, 2], "3": "三", "nested": {"list": [[4, "五"]], "empty": {}}, "big": 2**70}
