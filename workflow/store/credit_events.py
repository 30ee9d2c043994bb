"""Credit events in the tables: the enterprise locked, its dated credit history extended, cases and changes kept.

Every change first locks the enterprise's row (SELECT … FOR UPDATE; SQLite's BEGIN IMMEDIATE serialises writers
anyway), so two officers recording at once append one after the other and the second sees the first's record.
Declarations never take this lock: a change takes effect from tomorrow at the earliest, so what they read for their
own date (today or before) cannot move underneath them (docs/credit.md).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date, datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from workflow.domain.actors import Actor, Role
from workflow.domain.credit import CreditRecord
from workflow.domain.credit_events import DISCREDITED, RULE_IDS, CreditPlan, RecordCreditChange, RecordViolationCase
from workflow.domain.errors import InvalidInput, NotFound
from workflow.domain.local_days import DistrictScope
from workflow.domain.model import Aggregate, TransitionRecord
from workflow.domain.policy import CreditRegime, CreditTier, Policy
from workflow.service.ports import CreditEnterprise
from workflow.store.repositories import AuditTrail, in_scope
from workflow.store.tables import CreditChangeRow, CreditRecordRow, EnterpriseRow, UserRow, ViolationCaseRow

_RECORD = CreditRecordRow


class SqlCreditEvents:
    def __init__(self, session: Session, audit: AuditTrail, now: Callable[[], datetime]) -> None:
        self.session, self.audit, self.now = session, audit, now

    def lock_enterprise(self, enterprise_id: int) -> CreditEnterprise:
        # NO KEY UPDATE: serialises the credit changes of one enterprise, yet leaves the KEY SHARE lock that a
        # declaration's foreign key takes on the enterprise free, so filings never queue behind an officer.
        query = select(EnterpriseRow).where(EnterpriseRow.id == enterprise_id).with_for_update(key_share=True)
        row = self.session.scalar(query)
        if row is None:
            raise NotFound(f"no enterprise {enterprise_id}")
        return CreditEnterprise(row.id, row.district, row.uscc, row.name)

    def history(self, enterprise_id: int) -> list[CreditRecord]:
        rows = self.session.scalars(select(_RECORD).where(_RECORD.enterprise_id == enterprise_id))
        return [
            CreditRecord(r.enterprise_id, CreditTier(r.tier), CreditRegime(r.regime), r.effective_from, r.effective_to)
            for r in rows
        ]

    def case_dates(self, enterprise_id: int) -> list[date]:
        query = select(ViolationCaseRow.decided_on).where(ViolationCaseRow.enterprise_id == enterprise_id)
        return list(self.session.scalars(query))

    def require_case(self, case_id: int, enterprise_id: int) -> None:
        """The case a change cites is one of this enterprise's (R74); anything else is a field error."""
        found = self.session.scalar(select(ViolationCaseRow.enterprise_id).where(ViolationCaseRow.id == case_id))
        if found != enterprise_id:
            raise InvalidInput(f"no violation case {case_id} of this enterprise", "R74", "case_id")

    def apply(self, plan: CreditPlan, cmd: RecordCreditChange, enterprise: CreditEnterprise, policy: Policy) -> int:
        """Close the record in force on the effective date, open the new one, keep the change, audit it (R73)."""
        closed_id = self._close(plan.closes) if plan.closes is not None else None
        opened = plan.opens
        opened_id = self._insert(
            _RECORD,
            enterprise_id=opened.enterprise_id,
            tier=opened.tier.value,
            regime=opened.regime.value,
            effective_from=opened.effective_from,
            effective_to=None,
        )
        values = self._change_values(plan, cmd, enterprise)
        change_id = self._insert(CreditChangeRow, **values, opened_record_id=opened_id, closed_record_id=closed_id)
        kept = {key: value for key, value in values.items() if key not in ("recorded_at", "recorded_by")}
        inputs = {key: str(value) for key, value in kept.items() if value is not None}
        self._audit(enterprise, cmd.actor, cmd.kind.value, plan.before.value, opened.tier.value, cmd.reason,
                    (*_rule_ids(cmd), policy.credit.regime.rule_id), {**inputs, "change_id": str(change_id)},
                    policy)  # fmt: skip
        return change_id

    def _change_values(self, plan: CreditPlan, cmd: RecordCreditChange, enterprise: CreditEnterprise) -> dict[str, Any]:
        return {
            "enterprise_id": enterprise.id,
            "district": enterprise.district,
            "kind": cmd.kind.value,
            "regime": plan.opens.regime.value,
            "from_tier": plan.before.value,
            "to_tier": plan.opens.tier.value,
            "effective_from": plan.opens.effective_from,
            "ground": cmd.ground.value,
            "case_id": cmd.case_id,
            "reason": cmd.reason,
            "recorded_by": cmd.actor.user_id,
            "recorded_at": self.now(),
        }

    def _close(self, record: CreditRecord) -> int:
        """The record in force on the effective date now ends the day before; its earlier days are untouched."""
        key = (
            _RECORD.enterprise_id == record.enterprise_id,
            _RECORD.regime == record.regime.value,
            _RECORD.effective_from == record.effective_from,
        )
        record_id = self.session.scalar(select(_RECORD.id).where(*key))
        self.session.execute(update(_RECORD).where(_RECORD.id == record_id).values(effective_to=record.effective_to))
        return int(record_id or 0)

    def add_case(self, cmd: RecordViolationCase, enterprise: CreditEnterprise) -> int:
        """R74: the case's reference, once per enterprise and case number (a second entry is a field error)."""
        values = {
            "enterprise_id": enterprise.id,
            "district": enterprise.district,
            "case_no": cmd.case_no,
            "kind": cmd.kind.value,
            "decided_on": cmd.decided_on,
            "summary": cmd.summary,
            "recorded_by": cmd.actor.user_id,
            "recorded_at": self.now(),
        }
        taken = select(ViolationCaseRow.id).where(
            ViolationCaseRow.enterprise_id == enterprise.id, ViolationCaseRow.case_no == cmd.case_no
        )
        twice = InvalidInput(f"case {cmd.case_no} is already recorded for this enterprise", "R74", "case_no")
        if self.session.scalar(taken) is not None:
            raise twice
        try:
            with self.session.begin_nested():
                case_id = self._insert(ViolationCaseRow, **values)
        except IntegrityError:
            raise twice from None
        inputs = {"case_id": str(case_id), "case_no": cmd.case_no, "kind": cmd.kind.value,
                  "decided_on": cmd.decided_on.isoformat()}  # fmt: skip
        self._audit(enterprise, cmd.actor, "record_violation", "", "", cmd.summary, ("R74",), inputs, None)
        return case_id

    def admins(self, enterprise_id: int) -> list[int]:
        """The enterprise's active admins: they are told of its credit events."""
        query = select(UserRow.id).where(
            UserRow.enterprise_id == enterprise_id,
            UserRow.active.is_(True),
            UserRow.is_enterprise_admin.is_(True),
            UserRow.role == Role.APPLICANT.value,
        )
        return list(self.session.scalars(query.order_by(UserRow.id)))

    def restoration_candidates(
        self, scope: DistrictScope, after_id: int = 0, limit: int = 500
    ) -> list[CreditEnterprise]:
        """Enterprises whose open record is a discredited tier, by id after `after_id`, locked; held ones skipped."""
        open_discredited = select(_RECORD.enterprise_id).where(
            _RECORD.effective_to.is_(None), _RECORD.tier.in_([tier.value for tier in DISCREDITED])
        )
        query = (
            select(EnterpriseRow)
            .where(EnterpriseRow.id.in_(open_discredited), in_scope(EnterpriseRow.district, scope))
            .where(EnterpriseRow.id > after_id)
            .order_by(EnterpriseRow.id)
            .limit(limit)
        )
        if self.session.get_bind().dialect.name == "postgresql":  # skip what another sweep or an officer holds
            query = query.with_for_update(skip_locked=True, key_share=True)
        rows = self.session.scalars(query)
        return [CreditEnterprise(row.id, row.district, row.uscc, row.name) for row in rows]

    def _insert(self, table: Any, **values: Any) -> int:
        return int(self.session.execute(insert(table).values(**values).returning(table.id)).scalar_one())

    def _audit(
        self,
        enterprise: CreditEnterprise,
        actor: Actor,
        trigger: str,
        from_state: str,
        to_state: str,
        reason: str,
        rule_ids: tuple[str, ...],
        inputs: Mapping[str, str],
        policy: Policy | None,
    ) -> None:
        """One audit event on the enterprise, chained like every other, in the change's own transaction."""
        entry = TransitionRecord(trigger, from_state, to_state, actor, reason, tuple(dict.fromkeys(rule_ids)), inputs)
        subject = Aggregate(id=enterprise.id)
        if policy is not None:
            subject.policy_id, subject.policy_hash = policy.id, policy.content_hash
        self.audit.write("enterprise", subject, enterprise.uscc[:40], enterprise.district, [entry])


def _rule_ids(cmd: RecordCreditChange) -> tuple[str, ...]:
    return RULE_IDS[cmd.kind] + (("R74",) if cmd.case_id is not None else ())
