"""The outbox's completion: a row is done when its task says so, and is sent again, less and less often, until then.

The relay's bookkeeping runs on SQLite and PostgreSQL with a publisher that records what it was handed and a clock
the test moves; the worker's half (the task marking its row once its effect has committed) runs on a real worker
process over Redis. The fault suite (test_reliability.py) kills what it can around both.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, func, select

from config.bootstrap import Container
from tasks.completion import outcome_of
from tests.conftest import WorkerProcess, make_cast, wait_for, wait_for_worker
from tests.integration.support import cli, file_application
from workflow.domain import commands as c
from workflow.domain.actors import SYSTEM_ACTOR
from workflow.store.outbox import OutboxRelay
from workflow.store.outbox_completion import MAX_REDELIVERY_WAIT, Outcome, complete, redelivery_wait, row_id_of
from workflow.store.repositories import SqlOutbox
from workflow.store.tables import OutboxRow
from workflow.store.uow import SqlUnitOfWork

AFTER = timedelta(minutes=5)


@dataclass
class MovableClock:
    moment: datetime = field(default_factory=lambda: datetime(2026, 12, 6, 2, 0, tzinfo=UTC).replace(tzinfo=None))

    def now(self) -> datetime:
        return self.moment

    def move(self, by: timedelta) -> None:
        self.moment += by


@dataclass
class Recorder:
    sent: list[str] = field(default_factory=list)

    def publish(self, task: str, payload: dict[str, Any], message_id: str) -> None:
        self.sent.append(message_id)


@pytest.fixture
def relay_parts(container: Container) -> tuple[OutboxRelay, Recorder, MovableClock]:
    clock, recorder = MovableClock(), Recorder()
    return OutboxRelay(container.sessions, recorder.publish, clock.now, AFTER), recorder, clock


def add_row(container: Container, task: str = "screen_application", **payload: Any) -> int:
    with container.sessions() as session, session.begin():
        outbox = SqlOutbox(session, datetime.now)
        outbox.add(task, payload or {"application_id": 1})
        outbox.insert()
        return int(session.scalar(select(OutboxRow.id).order_by(OutboxRow.id.desc()).limit(1)) or 0)


def row(container: Container, row_id: int) -> OutboxRow:
    with container.sessions() as session:
        found = session.get(OutboxRow, row_id)
        assert found is not None
        session.expunge(found)
        return found


def mark(container: Container, row_id: int, outcome: str = Outcome.DONE) -> bool:
    with container.sessions() as session, session.begin():
        return complete(session, row_id, outcome, datetime.now(UTC).replace(tzinfo=None))


def test_a_sent_row_goes_again_only_when_no_task_completed_it_and_each_time_it_waits_twice_as_long(
    container: Container, relay_parts: tuple[OutboxRelay, Recorder, MovableClock]
) -> None:
    relay, recorder, clock = relay_parts
    row_id = add_row(container)

    assert relay.relay() == 1 and recorder.sent == [f"outbox-{row_id}"]
    assert relay.relay() == 0 and relay.redeliver() == 0  # sent, and not yet due again
    clock.move(AFTER - timedelta(seconds=1))
    assert relay.redeliver() == 0
    clock.move(timedelta(seconds=1))
    assert relay.redeliver() == 1 and row(container, row_id).deliveries == 2
    clock.move(AFTER)
    assert relay.redeliver() == 0  # the second wait is twice the first
    clock.move(AFTER)
    assert relay.redeliver() == 1 and recorder.sent == [f"outbox-{row_id}"] * 3

    assert mark(container, row_id) and not mark(container, row_id)  # a second run's mark changes nothing
    clock.move(MAX_REDELIVERY_WAIT * 2)
    assert relay.redeliver() == 0 and relay.relay() == 0
    done = row(container, row_id)
    assert (done.outcome, done.deliveries) == (Outcome.DONE, 3) and done.completed_at is not None


def test_a_row_a_fast_task_completed_before_the_relay_recorded_its_send_is_not_sent_again(
    container: Container, relay_parts: tuple[OutboxRelay, Recorder, MovableClock]
) -> None:
    relay, recorder, clock = relay_parts
    row_id = add_row(container)
    assert mark(container, row_id)  # the relay's commit was lost after the broker took the message

    clock.move(MAX_REDELIVERY_WAIT)
    assert relay.relay() == 0 and relay.redeliver() == 0 and recorder.sent == []


def test_a_refused_publish_is_counted_and_the_row_stays_unsent_for_the_next_sweep(
    container: Container, relay_parts: tuple[OutboxRelay, Recorder, MovableClock]
) -> None:
    relay, recorder, _clock = relay_parts
    row_id = add_row(container)

    def refuse(task: str, payload: dict[str, Any], message_id: str) -> None:
        raise ConnectionRefusedError("broker down")

    relay.publish = refuse
    assert relay.relay() == 0
    stuck = row(container, row_id)
    assert (stuck.attempts, stuck.deliveries, stuck.published_at, stuck.redeliver_at) == (1, 0, None, None)
    relay.publish = recorder.publish
    assert relay.relay() == 1 and row(container, row_id).deliveries == 1


def test_the_wait_doubles_per_delivery_and_never_exceeds_its_ceiling() -> None:
    assert [redelivery_wait(AFTER, n) for n in (1, 2, 3)] == [AFTER, AFTER * 2, AFTER * 4]
    assert redelivery_wait(AFTER, 10_000) == MAX_REDELIVERY_WAIT


def test_only_outbox_task_ids_name_a_row() -> None:
    assert [row_id_of(task_id) for task_id in ("outbox-42", "outbox-", "outbox-x1", "beat-1", None)] == [
        42,
        None,
        None,
        None,
        None,
    ]


def test_a_task_that_will_retry_leaves_its_row_open_and_every_ending_closes_it() -> None:
    assert outcome_of("SUCCESS", {"ok": True, "result": True}) == Outcome.DONE
    assert outcome_of("SUCCESS", "sent") == Outcome.DONE
    assert outcome_of("SUCCESS", {"ok": False, "error": {}}) == Outcome.REFUSED
    assert outcome_of("FAILURE", None) == Outcome.FAILED
    assert [outcome_of(state, None) for state in ("RETRY", "REJECTED", "IGNORED", None)] == [None] * 4


# -- the worker's half, on a real worker process ---------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.worker
def test_a_real_worker_marks_each_row_once_its_task_has_ended_done_refused_or_failed(
    make_container: Callable[..., Container],
    postgres_url: str,
    redis_url: str,
    start_worker: Callable[..., WorkerProcess],
) -> None:
    container = make_container(postgres_url, redis_url=redis_url, relay_after_commit=True)
    worker = start_worker(postgres_url, redis_url)
    wait_for_worker(container, worker)
    cast = make_cast(container)
    application_id = file_application(container, cast)
    container.bus.handle(c.SubmitApplication(cast.applicant, application_id))
    refused = add_row(container, application_id=10**9)  # no such application: the rule's answer is final
    failed = add_row(container, bogus_argument=1)  # the task cannot even be called: it fails for good
    container.relay.relay()

    def ended() -> dict[int, str]:
        with container.sessions() as session:
            rows = session.execute(select(OutboxRow.id, OutboxRow.outcome).where(OutboxRow.completed_at.is_not(None)))
            return {row_id: outcome for row_id, outcome in rows}

    # The submit's row (the screening, which also tells the acceptors) and the two added here.
    with container.sessions() as session:
        submitted = dict(session.execute(select(OutboxRow.task, OutboxRow.id).where(OutboxRow.id < refused)).all())
    assert set(submitted) == {"screen_application"}
    expected = {refused, failed, *submitted.values()}
    outcomes = wait_for(lambda: expected <= set(found := ended()) and found, timeout=60, what="the rows to complete")
    assert outcomes[refused] == Outcome.REFUSED and outcomes[failed] == Outcome.FAILED
    assert {outcomes[row_id] for row_id in submitted.values()} == {Outcome.DONE}
    assert row(container, submitted["screen_application"]).payload == {"application_id": application_id}


# -- reconciliation: `specgoods tasks overdue` -----------------------------------------------------------------------


def test_the_reconciliation_lists_unsent_incomplete_and_unscreened_work_and_exits_1_until_it_is_done(
    container: Container, relay_parts: tuple[OutboxRelay, Recorder, MovableClock]
) -> None:
    relay, _recorder, _clock = relay_parts
    cast = make_cast(container)
    application_id = file_application(container, cast)
    container.bus.handle(c.SubmitApplication(cast.applicant, application_id))  # no relay: its row stays unsent
    [unsent] = open_rows(container, "screen_application")
    sent = add_row(container, "render_certificate", certificate_id=7)
    relay.relay(limit=10)  # sends both; then the first is marked unsent again to stand for a broker that refused it
    with container.sessions() as session, session.begin():
        stuck = session.get(OutboxRow, unsent)
        assert stuck is not None
        stuck.published_at = stuck.redeliver_at = None
        stuck.deliveries, stuck.attempts, stuck.last_error = 0, 3, "ConnectionRefusedError: broker down"

    found = cli(container, "tasks", "overdue", "--older-than", "0", "--json")
    assert found.returncode == 1, found.stderr
    kinds = {kind["kind"]: kind for kind in json.loads(found.stdout)}
    assert [(item["id"], item["attempts"]) for item in kinds["unsent"]["items"]] == [(unsent, 3)]
    assert (sent, 1) in [(item["id"], item["deliveries"]) for item in kinds["incomplete"]["items"]]
    assert [item["id"] for item in kinds["unscreened"]["items"]] == [application_id]
    assert kinds["dead_letters"]["count"] == kinds["email_pending"]["count"] == 0
    assert kinds["unsealed_events"]["count"] == 1  # no beat here: the submit's events wait for the sequencer
    assert kinds["unsigned_receipts"]["count"] == 0  # nothing was written off
    in_words = cli(container, "tasks", "overdue", "--older-than", "0")
    assert in_words.returncode == 1 and "Open applications whose submission has no screening: 1" in in_words.stdout

    # The fixture's clock dates the work in 2016: a bound reaching further back than that finds none of it overdue.
    since_before_2016 = str(int(timedelta(days=5000).total_seconds()))
    young = cli(container, "tasks", "overdue", "--older-than", since_before_2016, "--json")
    assert young.returncode == 0 and all(kind["count"] == 0 for kind in json.loads(young.stdout))

    container.bus.handle(c.ScreenApplication(SYSTEM_ACTOR, application_id))
    for row_id in (unsent, sent):
        assert mark(container, row_id)
    container.sequencer.seal()
    settled = cli(container, "tasks", "overdue", "--older-than", "0")
    assert settled.returncode == 0, settled.stdout


def open_rows(container: Container, task: str) -> list[int]:
    with container.sessions() as session:
        query = select(OutboxRow.id).where(OutboxRow.completed_at.is_(None), OutboxRow.task == task)
        return list(session.scalars(query))


# -- rows a unit of work writes as sent, published from memory once it has committed ------------------------------


def _commits(container: Container) -> list[str]:
    committed: list[str] = []
    event.listen(container.engine, "commit", lambda _conn: committed.append("commit"))
    return committed


def _change_asking_for_a_task(container: Container, relay: OutboxRelay, clock: MovableClock) -> int:
    with SqlUnitOfWork(container.sessions, clock.now, relay) as uow:
        uow.outbox.add("screen_application", {"application_id": 7})
        uow.commit()
    with container.sessions() as session:
        return int(session.scalar(select(OutboxRow.id).order_by(OutboxRow.id.desc()).limit(1)) or 0)


def test_a_change_publishes_its_rows_after_its_commit_with_no_transaction_of_its_own(
    container: Container, relay_parts: tuple[OutboxRelay, Recorder, MovableClock]
) -> None:
    relay, recorder, clock = relay_parts
    committed = _commits(container)
    row_id = _change_asking_for_a_task(container, relay, clock)

    assert committed == ["commit"] and recorder.sent == [f"outbox-{row_id}"]
    written = row(container, row_id)
    assert (written.published_at, written.deliveries, written.redeliver_at) == (clock.now(), 1, clock.now() + AFTER)
    assert relay.relay() == 0 and recorder.sent == [f"outbox-{row_id}"]  # the sweep does not send it again


def test_a_rolled_back_change_writes_no_row_and_publishes_nothing(
    container: Container, relay_parts: tuple[OutboxRelay, Recorder, MovableClock]
) -> None:
    relay, recorder, clock = relay_parts
    with SqlUnitOfWork(container.sessions, clock.now, relay) as uow:
        uow.outbox.add("screen_application", {"application_id": 7})
    with container.sessions() as session:
        assert session.scalar(select(func.count()).select_from(OutboxRow)) == 0
    assert recorder.sent == []


def test_a_publish_the_broker_refuses_after_the_commit_leaves_the_row_unsent_for_the_sweep(
    container: Container, relay_parts: tuple[OutboxRelay, Recorder, MovableClock]
) -> None:
    relay, recorder, clock = relay_parts

    def refuse(task: str, payload: dict[str, Any], message_id: str) -> None:
        raise ConnectionRefusedError("broker down")

    relay.publish = refuse
    row_id = _change_asking_for_a_task(container, relay, clock)
    stuck = row(container, row_id)
    assert (stuck.published_at, stuck.deliveries, stuck.redeliver_at, stuck.attempts) == (None, 0, None, 1)
    assert "broker down" in stuck.last_error
    relay.publish = recorder.publish
    assert relay.relay() == 1 and recorder.sent == [f"outbox-{row_id}"] and row(container, row_id).deliveries == 1


def test_a_process_that_dies_between_the_commit_and_the_publish_has_its_row_sent_again_when_due(
    container: Container, relay_parts: tuple[OutboxRelay, Recorder, MovableClock]
) -> None:
    relay, recorder, clock = relay_parts

    class DiesBeforePublishing(OutboxRelay):
        def publish_sent(self, rows: Any) -> int:
            return 0  # the process is gone: nothing after the commit runs

    dead = DiesBeforePublishing(container.sessions, recorder.publish, clock.now, AFTER)
    row_id = _change_asking_for_a_task(container, dead, clock)
    assert recorder.sent == [] and relay.relay() == 0  # written as sent: the first-send sweep leaves it
    clock.move(AFTER - timedelta(seconds=1))
    assert relay.redeliver() == 0
    clock.move(timedelta(seconds=1))
    assert relay.redeliver() == 1 and recorder.sent == [f"outbox-{row_id}"]
    assert row(container, row_id).deliveries == 2
