"""Thin task wrappers: ids in, a command to the bus; domain errors are logged, infrastructure errors retried."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from celery import Celery, Task
from sqlalchemy.exc import IntegrityError, OperationalError

from config.bootstrap import Container
from config.keys import key_ring
from tasks.completion import completing_with_effect
from workflow.domain.actors import SYSTEM_ACTOR
from workflow.domain.commands import (
    DeemAcceptances,
    ExhaustUsedUp,
    ExpireCertificates,
    FlagLapsedLaboratories,
    FlagOverdueFollowUps,
    RemindPanels,
    ScreenApplication,
    SweepClocks,
)
from workflow.domain.credit_events import ApplyCreditRestorations
from workflow.domain.errors import ConcurrencyConflict, DomainError
from workflow.domain.policy import Districts
from workflow.service import reminders
from workflow.service.inspection_draws import publish_commitments
from workflow.service.officer_notifications import fan_out
from workflow.store import district_counts
from workflow.store.audit_trail import write_checkpoints

log = logging.getLogger(__name__)
# A lost race with a concurrent change (an officer acting on the file) is transient too: the task runs again.
TRANSIENT = (OperationalError, ConnectionError, TimeoutError, ConcurrencyConflict)
# shared=False: the tasks belong to this app only, so building a second app in one process is no conflict.
RETRY = {"autoretry_for": TRANSIENT, "retry_backoff": True, "retry_backoff_max": 60, "max_retries": 8, "shared": False}
# A keyed notification written by a concurrent run of the same task loses on the unique key: run again, it skips it.
NOTIFY_RETRY = {**RETRY, "autoretry_for": (*TRANSIENT, IntegrityError)}


def register_tasks(app: Celery, container: Callable[[], Container]) -> None:
    """Tasks are idempotent, so late acknowledgement and re-delivery after a crash are safe."""

    @app.task(name="specgoods.screen_application", bind=True, **RETRY)
    def screen_application(self: Task[Any, Any], application_id: int) -> dict[str, Any]:
        """One transaction: the screening, its audit event, the acceptors' notices and its outbox row's completion."""
        with completing_with_effect(container(), self.request.id):
            return _run(container, ScreenApplication(SYSTEM_ACTOR, application_id))

    @app.task(name="specgoods.relay_outbox", **RETRY)
    def relay_outbox() -> int:
        """First sends, then the rows no task has completed in time (workflow/store/outbox_completion.py)."""
        relay = container().relay
        return relay.relay() + relay.redeliver()

    @app.task(name="specgoods.expire_certificates", **RETRY)
    def expire_certificates() -> dict[str, Any]:
        return _run(container, ExpireCertificates(SYSTEM_ACTOR))

    @app.task(name="specgoods.remind_panels", **RETRY)
    def remind_panels() -> dict[str, Any]:
        return _run(container, RemindPanels(SYSTEM_ACTOR))

    @app.task(name="specgoods.sweep_clocks", **RETRY)
    def sweep_clocks() -> dict[str, Any]:
        return _run(container, SweepClocks(SYSTEM_ACTOR))

    @app.task(name="specgoods.deem_acceptances", **RETRY)
    def deem_acceptances() -> dict[str, Any]:
        return _run(container, DeemAcceptances(SYSTEM_ACTOR))

    @app.task(name="specgoods.exhaust_used_up", **RETRY)
    def exhaust_used_up() -> dict[str, Any]:
        return _run(container, ExhaustUsedUp(SYSTEM_ACTOR))

    @app.task(name="specgoods.flag_overdue_follow_ups", **RETRY)
    def flag_overdue_follow_ups() -> dict[str, Any]:
        return _run(container, FlagOverdueFollowUps(SYSTEM_ACTOR))

    @app.task(name="specgoods.flag_lapsed_laboratories", **NOTIFY_RETRY)
    def flag_lapsed_laboratories() -> dict[str, Any]:
        """R62: certificates whose lab's qualification lapsed are held and told of, each (certificate, lab) once."""
        return _run(container, FlagLapsedLaboratories(SYSTEM_ACTOR))

    @app.task(name="specgoods.apply_credit_restorations", **NOTIFY_RETRY)
    def apply_credit_restorations() -> dict[str, Any]:
        """R69/R71: the profile's restorations, from tomorrow; a second run finds nothing left to restore."""
        return _run(container, ApplyCreditRestorations(SYSTEM_ACTOR))

    @app.task(name="specgoods.notify_officers", **NOTIFY_RETRY)
    def notify_officers(kind: str, district: str, roles: list[str], params: dict[str, str], key: str) -> dict[str, Any]:
        """One transition's fan-out to the district's officers; keyed, so a re-delivery writes nothing twice."""
        payload = {"kind": kind, "district": district, "roles": roles, "params": params, "key": key}
        return {"ok": True, "result": fan_out(container().deps, payload)}

    @app.task(name="specgoods.send_reminders", **NOTIFY_RETRY)
    def send_reminders() -> dict[str, Any]:
        """Certificates expiring within 30 days, follow-up reports coming due: each reminder once (daily beat)."""
        return {"ok": True, "result": reminders.send_reminders(container().deps)}

    @app.task(name="specgoods.publish_draw_commitments", **RETRY)
    def publish_draw_commitments() -> dict[str, Any]:
        """Every district's draw key for this period and the next, so each commitment is public before its period."""
        built = container()
        policies = built.deps.policies
        codes = policies.by_code if isinstance(policies, Districts) else [built.settings.district]
        return {"ok": True, "result": publish_commitments(built.deps, codes)}

    @app.task(name="specgoods.fold_district_counts", **RETRY)
    def fold_district_counts() -> dict[str, Any]:
        """The dashboard's pending count deltas into their totals, so its read stays a few rows per district."""
        with container().sessions() as session:
            folded = district_counts.fold(session)
            session.commit()
        return {"ok": True, "result": folded}

    @app.task(name="specgoods.seal_audit_chains", **RETRY)
    def seal_audit_chains() -> dict[str, Any]:
        """The audit sequencer's run: seal the waiting events, then sign the queued receipts (workflow/store/)."""
        sequencer = container().sequencer
        return {"ok": True, "result": sequencer.seal_events(), "receipts": sequencer.seal_receipts()}

    @app.task(name="specgoods.checkpoint_audit_chains", **RETRY)
    def checkpoint_audit_chains() -> dict[str, Any]:
        """Sign each district's chain head: after this, rewriting the chain up to it needs the signing key."""
        built = container()
        with built.sessions() as session:
            written = write_checkpoints(session, key_ring(built.settings), built.deps.clock.now())
            session.commit()
        return {"ok": True, "result": [{"district": row["district"], "seq": row["seq"]} for row in written]}


def _run(container: Callable[[], Container], command: Any) -> dict[str, Any]:
    try:
        return {"ok": True, "result": container().bus.handle(command)}
    except ConcurrencyConflict:
        raise  # retried with backoff (RETRY): the work is idempotent and the other change has committed
    except DomainError as error:
        # A rule refused: retrying cannot change the answer, so it is recorded instead.
        log.warning("%s refused: %s", type(command).__name__, error.message)
        return {"ok": False, "error": error.as_dict()}
