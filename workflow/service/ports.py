"""Ports: what the use cases need from the outside world, as Protocols the store and config implement."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from types import TracebackType
from typing import Any, Protocol, Self

from workflow.domain.actors import Actor, Role
from workflow.domain.assessment import Assessment, Opinion
from workflow.domain.bans import ApplicantBan
from workflow.domain.biosafety import LabDetails, Laboratory
from workflow.domain.calendar import WorkingCalendar
from workflow.domain.certificate_changes import ChangeKind, ChangeRequest, ChangeState, FieldChange, Particulars
from workflow.domain.credit import CreditRecord
from workflow.domain.credit_events import CreditPlan, RecordCreditChange, RecordViolationCase
from workflow.domain.declaration import Declaration
from workflow.domain.draws import PendingInspection, PeriodKey
from workflow.domain.enterprise import EnterpriseProfile, EnterpriseUser
from workflow.domain.goods import ProductIdentity
from workflow.domain.guards import AssessmentStanding
from workflow.domain.ledger import CertificateFacts, LedgerEntry, LineBalance, NewIds, Reversal
from workflow.domain.local_days import EVERY_DISTRICT, DistrictScope
from workflow.domain.model import Application, Certificate
from workflow.domain.policy import Policy


class Clock(Protocol):
    """Instants in UTC; dates as each district reads them, in its own time zone."""

    def now(self) -> datetime: ...

    def today(self, district: str | None = None) -> date:
        """The district's local date (the default zone's for None): the only date a rule reads."""
        ...

    def local_days(self) -> list[tuple[date, DistrictScope]]:
        """Each local date of the moment with the districts that have it: a sweep acts per district date."""
        ...


class PolicyBook(Protocol):
    """Which policy profile a district had adopted on a given day."""

    def policy_for(self, district: str, on: date) -> Policy: ...


@dataclass(frozen=True)
class EnterpriseInfo:
    id: int
    name: str
    district: str
    is_natural_person: bool


@dataclass(frozen=True)
class Wanted:
    """What a step reads besides its application; each part costs a few rows of the one statement, not a query."""

    enterprise: bool = False  # R10/R13's natural person, and R15's whether it was granted anything at all
    banned_on: date | None = None  # R26: the last day of a ban in force on this day
    documents: bool = False  # R16: the types attached and not removed
    credit: bool = False  # R73: the enterprise's credit records
    products: tuple[ProductIdentity, ...] = ()  # R60: which of these the enterprise was granted
    assessment: bool = False  # R32 / A8: where the application's latest risk assessment stands
    replacement: bool = False  # R43: the certificate the application replaces, if it is a replacement
    certificate_id: bool = False  # a grant's: its certificate's id drawn ahead (PostgreSQL), to go with the commit


@dataclass(frozen=True)
class StepFacts:
    """The answers; a part not asked for keeps its default."""

    natural_person: bool = False
    has_grant: bool = False
    banned_until: date | None = None
    attached: frozenset[str] = frozenset()
    credit_records: tuple[CreditRecord, ...] = ()
    granted: frozenset[ProductIdentity] = frozenset()
    assessment: AssessmentStanding | None = None
    replaces: int | None = None  # the id of the certificate the application replaces
    certificate_id: int | None = None  # drawn from the certificates' sequence, when asked for on PostgreSQL


class StepReads(Protocol):
    """The facts a lifecycle step reads beside its application, in one round trip (workflow/store/step_reads.py)."""

    def read(self, application_id: int, enterprise_id: int, wanted: Wanted) -> StepFacts: ...


class ApplicationRepository(Protocol):
    def add(self, application: Application) -> Application: ...

    def get(self, application_id: int) -> Application: ...

    def save(self, application: Application, at_commit: bool = False) -> None:
        """The version-guarded UPDATE: now, or `at_commit` with the commit's last rows.

        At commit when nothing read after it needs it; a lost race then fails the commit with the same conflict.
        """

    def count_decision(self, application: Application, decided_on: date) -> None:
        """The dashboard's counts of a grant or denial, by the district's date it was taken on."""

    def replace_lines(self, application: Application) -> None: ...


class CertificateRepository(Protocol):
    def add(self, certificate: Certificate, at_commit: bool = False) -> Certificate:
        """The certificate and its lines, numbered by its id: drawn now, or drawn ahead and set on `certificate`.

        With an id drawn ahead and `at_commit`, its rows go with the commit's last statement: only when nothing read
        before the commit needs them in the table.
        """

    def get(self, certificate_id: int) -> Certificate: ...

    def save(self, certificate: Certificate) -> None: ...


class CertificateChanges(Protocol):
    """The holder's change requests on certificates (R43, C7), and the particulars they change."""

    def add(self, certificate_id: int, district: str, kind: ChangeKind, reason: str, changes: tuple[FieldChange, ...],
            requested_by: int | None) -> int: ...  # fmt: skip

    def get(self, change_id: int) -> ChangeRequest: ...

    def open_for(self, certificate_id: int) -> ChangeRequest | None: ...

    def decide(self, change_id: int, state: ChangeState, decided_by: int | None, reason: str) -> bool: ...

    def lapse_open(self, certificate_id: int, reason: str) -> int: ...

    def particulars(self, certificate_id: int) -> Particulars: ...

    def set_ports(self, certificate_id: int, ports: tuple[str, ...]) -> None: ...


class Replacements(Protocol):
    """R43: replacement applications and the certificates they replace."""

    def add(self, application_id: int, old_certificate_id: int) -> None: ...

    def open_for(self, certificate_id: int) -> int | None: ...

    def replaced_by(self, application_id: int) -> int | None: ...

    def link(self, application_id: int, new_certificate_id: int) -> None: ...

    def copy_documents(self, from_application_id: int, to_application_id: int) -> None: ...

    def passed_assessment(self, application_id: int) -> int | None: ...


class EnterpriseDirectory(Protocol):
    def get(self, enterprise_id: int) -> EnterpriseInfo: ...

    def credit_records(self, enterprise_id: int) -> list[CreditRecord]: ...

    def granted_among(self, enterprise_id: int, identities: Iterable[ProductIdentity]) -> set[ProductIdentity]:
        """R60: which of these product identities the enterprise was granted before (one lookup, whatever its history).

        A product counts whatever became of its certificate since (§8 Q6): revoked, withdrawn or expired alike.
        """
        ...

    def has_grant(self, enterprise_id: int) -> bool:
        """R15: whether the enterprise was granted anything at all (else this is its first application)."""
        ...

    def add_granted(self, enterprise_id: int, application_id: int, identities: Iterable[ProductIdentity]) -> None:
        """The products of a grant, recorded in the grant's transaction; a product granted before is kept as it is."""
        ...

    def banned_until(self, enterprise_id: int, on: date) -> date | None: ...

    def add_ban(self, ban: ApplicantBan, source: str, reason: str, at: datetime) -> None: ...

    def officer(self, user_id: int) -> Actor | None: ...


class DocumentIndex(Protocol):
    def attached_types(self, application_id: int) -> set[str]: ...

    def remove(self, application_id: int, document_id: int, removed_by: int | None) -> dict[str, str] | None: ...

    def add(
        self,
        application_id: int,
        doc_type: str,
        filename: str,
        content_type: str,
        size: int,
        sha256: str,
        uploaded_by: int | None,
    ) -> int: ...


class Ledger(Protocol):
    """Balance changes as guarded statements (each returns False when the quota was not there)."""

    def lock_certificate_by_id(self, certificate_id: int) -> CertificateFacts: ...

    def share_certificates(self, numbers: Iterable[str]) -> dict[str, CertificateFacts]: ...

    def share_certificates_drawing_ids(
        self, numbers: Iterable[str], declarations: int, entries: int
    ) -> tuple[dict[str, CertificateFacts], NewIds]: ...

    def claim_single_use(self, certificate_id: int) -> bool: ...

    def change_uses(self, certificate_id: int, delta: int) -> None: ...

    def draw(self, line_id: int, qty: Decimal, commit: bool) -> Decimal | None: ...

    def draw_many(self, changes: Mapping[int, tuple[Decimal, Decimal]]) -> dict[int, Decimal] | None: ...

    def lock_lines(self, line_ids: Sequence[int]) -> None: ...

    def commit(self, line_id: int, qty: Decimal) -> bool: ...

    def release(self, line_id: int, qty: Decimal) -> bool: ...

    def reverse(self, line_id: int, qty: Decimal) -> bool: ...

    def line_balances(self, certificate_id: int) -> list[LineBalance]: ...

    def append(self, entries: Sequence[dict[str, Any]]) -> list[int]: ...

    def open_declarations(self, certificate_id: int) -> list[int]: ...

    def entry(self, entry_id: int) -> LedgerEntry: ...

    def reversed_qty(self, commit_entry_id: int) -> Decimal: ...

    def pending_reversal_qty(self, commit_entry_id: int) -> Decimal: ...

    def add_reversal(self, entry_id: int, qty: Decimal, reason_code: str, reason: str, requested_by: int) -> int: ...

    def reversal(self, reversal_id: int) -> Reversal: ...

    def decide_reversal(self, reversal_id: int, state: str, decided_by: int | None) -> bool: ...

    def expiring(self, today: date, scope: DistrictScope = EVERY_DISTRICT, limit: int = 500) -> list[int]: ...

    def used_up(self, limit: int = 500) -> list[int]: ...

    def overdue_follow_ups(self, today: date, scope: DistrictScope = EVERY_DISTRICT, limit: int = 500) -> list[int]: ...

    def mark_alerted(self, declaration_id: int) -> None: ...


class DeclarationRepository(Protocol):
    def find_many(self, owned_numbers: Sequence[tuple[int, str]]) -> dict[tuple[int, str], tuple[int, str]]: ...

    def add_many(
        self, filings: Sequence[tuple[Declaration, Mapping[int, int], str]], created_by: int | None, ids: NewIds
    ) -> None: ...

    def get(self, declaration_id: int) -> Declaration: ...

    def save(self, declaration: Declaration) -> None: ...


class Idempotency(Protocol):
    def replay(self, key: str) -> tuple[str, dict[str, Any]] | None: ...

    def claim(self, key: str, actor_id: int | None, request_hash: str) -> None: ...

    def record(self, key: str, result: dict[str, Any]) -> None: ...


class Assessments(Protocol):
    """Risk assessments, panels and the review sweeps' queries."""

    def eligible_experts(self, district: str, enterprise_id: int) -> list[int]: ...

    def users_with_role(self, district: str, role: Role) -> list[int]: ...

    def reusable(self, enterprise_id: int, product_key: str, today: date) -> int | None: ...

    def create(self, **values: Any) -> int: ...

    def add_seats(self, assessment_id: int, expert_ids: list[int], due_on: date) -> None: ...

    def get(self, assessment_id: int) -> Assessment: ...

    def cancel_open(self, application_id: int, on: date) -> None: ...

    def standing(self, application_id: int) -> AssessmentStanding | None: ...

    def override(self, assessment_id: int, by: int | None, reason: str, on: date) -> bool: ...

    def record_opinion(self, seat_id: int, opinion: Opinion, reason: str) -> bool: ...

    def conclude(self, assessment_id: int, outcome: Opinion, on: date, reuse_until: date | None) -> bool: ...

    def seats_to_remind(
        self, due_by: date, scope: DistrictScope = EVERY_DISTRICT, limit: int = 500
    ) -> list[tuple[int, int, int, date]]: ...

    def mark_reminded(self, seat_id: int) -> None: ...

    def running_clocks(self, limit: int = 1000) -> list[Any]: ...

    def store_due_on(self, application_id: int, due_on: date | None) -> None: ...

    def awaiting_acceptance(self, limit: int = 1000) -> list[Any]: ...

    def raise_clock_alert(self, application_id: int, kind: str) -> bool: ...

    def add_conflict(self, expert_id: int, enterprise_id: int, reason: str) -> None: ...


class Draws(Protocol):
    """E2/E4: the districts' period keys for the inspection draw, and withdrawn declarations' pending inspections."""

    def period_key(self, district: str, period: str) -> PeriodKey: ...

    def open_pending(self, line_ids: Sequence[int]) -> list[PendingInspection]: ...

    def carry(self, pending_id: int, qty: Decimal) -> None: ...

    def add_pending(
        self, declaration_id: int, declaration_no: str, withdrawn_on: date, held: Mapping[int, Decimal]
    ) -> None: ...


class Outbox(Protocol):
    def add(self, task: str, payload: dict[str, Any]) -> None: ...


class Notifications(Protocol):
    def add(self, user_id: int, kind: str, params: Mapping[str, str], key: str | None = None) -> int: ...

    def add_for_enterprise(self, enterprise_id: int, kind: str, params: Mapping[str, str], email_task: str) -> None:
        """One notification per active user of the enterprise, each with an e-mail copy: an `email_task` outbox row.

        Found and written in one statement: the commit's, where the store can (so no ids come back).
        """

    def add_inbox_only_to_role(
        self, district: str, role: str, kind: str, params: Mapping[str, str], key: str, why: str
    ) -> int:
        """Inbox-only rows for the district's active users of the role, keyed `key:<user id>`, in one statement.

        A key already taken is left alone; returns how many were written.
        """

    def add_inbox_only_to_role_at_commit(
        self, district: str, role: str, kind: str, params: Mapping[str, str], key: str, why: str
    ) -> None:
        """The same rows, written with the commit's statement where the store can: how many is then not known."""

    def enterprise_users(self, enterprise_id: int) -> list[int]: ...

    def users_with_role(self, district: str, role: str) -> list[int]: ...

    def keys_taken(self, keys: Collection[str]) -> set[str]: ...

    def certificates_expiring(
        self, first: date, last: date, scope: DistrictScope = EVERY_DISTRICT, limit: int = 1000
    ) -> list[Any]: ...

    def follow_ups_due(
        self, first: date, last: date, scope: DistrictScope = EVERY_DISTRICT, limit: int = 1000
    ) -> list[Any]: ...


class Receipts(Protocol):
    """Write-off receipts: each commit and reversal queued, signed and chained per line after the commit."""

    def queue(self, entry_ids: Sequence[int]) -> None: ...


class EnterpriseAdmin(Protocol):
    """The enterprise's own administration (workflow/service/enterprises.py): profile, users, their audit events."""

    def lock(self, enterprise_id: int) -> EnterpriseProfile: ...

    def user(self, user_id: int) -> EnterpriseUser | None: ...

    def other_active_admins(self, enterprise_id: int, user_id: int) -> int: ...

    def update_profile(self, enterprise_id: int, version: int, values: Mapping[str, str]) -> bool: ...

    def add_user(self, enterprise_id: int, username: str, display_name: str, email: str, password_hash: str,
                 is_admin: bool) -> int: ...  # fmt: skip

    def set_user(self, user_id: int, active: bool, is_admin: bool) -> None: ...

    def record(self, object_type: str, object_id: int, ref: str, district: str, actor: Actor, trigger: str,
               inputs: Mapping[str, Any]) -> None: ...  # fmt: skip


class Laboratories(Protocol):
    """The enterprises' labs and the certificates that rely on them (workflow/service/biosafety.py, R9(b)/R14/R62)."""

    def add(self, enterprise_id: int, district: str, details: LabDetails, evidence: tuple[str, str] | None) -> int: ...

    def get(self, lab_id: int, lock: bool = False) -> Laboratory: ...

    def change(self, lab_id: int, version: int, details: LabDetails | None,
               evidence: tuple[str, str] | None) -> bool: ...  # fmt: skip

    def verify(self, lab_id: int, version: int, on: date, by: int | None) -> bool: ...

    def of_enterprise(self, enterprise_id: int) -> dict[int, Laboratory]: ...

    def link(self, certificate_id: int, lab_ids: Iterable[int]) -> None: ...

    def lapsed_links(self, today: date, limit: int = 500) -> list[tuple[int, int]]: ...

    def set_flag(self, certificate_id: int, lab_id: int, flagged: bool) -> None: ...

    def flagged_certificates(self, lab_id: int) -> list[int]: ...

    def still_flagged(self, certificate_id: int) -> bool: ...


@dataclass(frozen=True)
class CreditEnterprise:
    """The enterprise a credit event is about, as locked for it."""

    id: int
    district: str
    uscc: str
    name: str

    @property
    def enterprise_id(self) -> int:
        return self.id


class CreditEvents(Protocol):
    """R68–R74: the enterprise's dated credit history, violation cases and credit changes (workflow/store)."""

    def lock_enterprise(self, enterprise_id: int) -> CreditEnterprise: ...

    def history(self, enterprise_id: int) -> list[CreditRecord]: ...

    def case_dates(self, enterprise_id: int) -> list[date]: ...

    def require_case(self, case_id: int, enterprise_id: int) -> None: ...

    def apply(self, plan: CreditPlan, cmd: RecordCreditChange, enterprise: CreditEnterprise, policy: Policy) -> int: ...

    def add_case(self, cmd: RecordViolationCase, enterprise: CreditEnterprise) -> int: ...

    def admins(self, enterprise_id: int) -> list[int]: ...

    def restoration_candidates(
        self, scope: DistrictScope, after_id: int = 0, limit: int = 500
    ) -> list[CreditEnterprise]: ...


class UnitOfWork(Protocol):
    """One database transaction: state, audit events and outbox rows commit together or not at all."""

    laboratories: Laboratories
    step_reads: StepReads

    applications: ApplicationRepository
    certificates: CertificateRepository
    certificate_changes: CertificateChanges
    replacements: Replacements
    enterprises: EnterpriseDirectory
    documents: DocumentIndex
    outbox: Outbox
    ledger: Ledger
    declarations: DeclarationRepository
    idempotency: Idempotency
    notifications: Notifications
    assessments: Assessments
    receipts: Receipts
    enterprise_admin: EnterpriseAdmin
    draws: Draws
    credit: CreditEvents

    def __enter__(self) -> Self: ...

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...

    def reading(self) -> Self:
        """Mark it as one that only reads, before it is entered: nothing it does may write, and it ends so."""

    def write_declared(
        self, entries: Sequence[dict[str, Any]], changes: Mapping[int, tuple[Decimal, Decimal]]
    ) -> dict[int, Decimal] | None:
        """Ledger rows, the audit events so far and the declarations added, written now; then the lines drawn.

        What each line has left comes back, as `Ledger.draw_many` gives it (None if one lacked its change). Each
        row comes with the id drawn for it ahead. A hot path writes them before it takes a row lock; on PostgreSQL
        they are one statement, with a single line's draw.
        """

    def commit(self) -> None: ...

    def rollback(self) -> None: ...


class UnitOfWorkFactory(Protocol):
    def __call__(self) -> UnitOfWork: ...


class DocumentStore(Protocol):
    """Where attachment bytes live, outside `static/`, named by content hash so no path comes from the user."""

    def put(self, content: bytes) -> str: ...

    def get(self, sha256: str) -> bytes: ...


@dataclass(frozen=True)
class Dependencies:
    """Everything handlers need, wired by the composition root."""

    uow: UnitOfWorkFactory
    clock: Clock
    policies: PolicyBook
    calendar: WorkingCalendar
    documents: DocumentStore
    # Signs a payload under the active key, naming it: (kid, compact token). Receipts are signed in the write-off.
    sign: Callable[[Mapping[str, Any]], tuple[str, str]]
