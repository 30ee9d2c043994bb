"""SQLAlchemy 2 typed tables: the schema Alembic migrates, on SQLite and PostgreSQL alike."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from workflow.domain import inputs

# Portable constraint names, so migrations can alter them on both engines.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# An absent value is SQL NULL, not JSON null, so "IS NULL" means what it says.
Json = JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")
QUANTITY_SCALE: int = 10**inputs.QUANTITY_PLACES  # ten-thousandths: the scale every quantity input is checked against


class ScaledQuantity(TypeDecorator[Decimal]):
    """A Decimal stored as an exact integer of ten-thousandths.

    SQLite's NUMERIC is a float and a quota ledger must never round; `committed_qty + :qty` stays exact on both.
    """

    impl = BigInteger
    cache_ok = True

    class comparator_factory(TypeDecorator.Comparator[Decimal]):
        """Sums and differences of quantities stay quantities, so `remaining >= :qty` binds :qty scaled too."""

        def _adapt_expression(self, op: Any, other_comparator: Any) -> tuple[Any, Any]:
            return op, self.type

    def process_bind_param(self, value: Decimal | int | None, dialect: object) -> int | None:
        if value is None:
            return None
        scaled = Decimal(value) * QUANTITY_SCALE
        if scaled != scaled.to_integral_value():
            raise ValueError(f"quantity {value} has more than 4 decimal places")
        return int(scaled)

    def process_result_value(self, value: int | None, dialect: object) -> Decimal | None:
        return None if value is None else Decimal(value) / QUANTITY_SCALE


Quantity = ScaledQuantity()
# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets 64-bit ids for the append-only tables.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class EnterpriseRow(Base):
    """特殊物品单位 / 申请人: an applicant enterprise (or a natural person, R10)."""

    __tablename__ = "enterprises"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(inputs.NAME))
    name_en: Mapped[str] = mapped_column(String(inputs.NAME), default="")
    uscc: Mapped[str] = mapped_column(String(18), unique=True)
    district: Mapped[str] = mapped_column(String(32), index=True)
    is_natural_person: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime]
    # The profile its admin keeps (migration 0009); `version` guards edits against a concurrent change.
    address: Mapped[str] = mapped_column(String(inputs.ADDRESS), default="")
    contact_person: Mapped[str] = mapped_column(String(inputs.PERSON), default="")
    phone: Mapped[str] = mapped_column(String(inputs.PHONE), default="")
    version: Mapped[int] = mapped_column(default=0)


class UserRow(Base):
    """A person who logs in: an applicant user of one enterprise, or a customs officer of one district."""

    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(inputs.USERNAME), unique=True)
    display_name: Mapped[str] = mapped_column(String(inputs.PERSON), default="")
    email: Mapped[str] = mapped_column(String(inputs.NAME), default="")
    locale: Mapped[str] = mapped_column(String(8), default="zh")
    password_hash: Mapped[str] = mapped_column(String(255), default="")
    role: Mapped[str] = mapped_column(String(32))
    enterprise_id: Mapped[int | None] = mapped_column(ForeignKey("enterprises.id"))
    district: Mapped[str | None] = mapped_column(String(32))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime]
    # An applicant user who keeps the enterprise's profile and users (an enterprise keeps at least one).
    is_enterprise_admin: Mapped[bool] = mapped_column(default=False)

    __table_args__ = (
        # Who a notice goes to, on the request path (migration 0028): an enterprise's users; a district's officers.
        Index("ix_users_enterprise", "enterprise_id"),
        Index("ix_users_district_role", "district", "role"),
    )


class ApiTokenRow(Base):
    """A per-user API token (docs/api/README.md): only its SHA-256 is kept; the token is shown once, when issued."""

    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(String(inputs.TOKEN_NAME), default="")
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class CreditRecordRow(Base):
    """企业信用: one dated tier of an enterprise under one credit regime (R73)."""

    __tablename__ = "credit_records"
    id: Mapped[int] = mapped_column(primary_key=True)
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprises.id"), index=True)
    tier: Mapped[str] = mapped_column(String(40))
    regime: Mapped[str] = mapped_column(String(40))
    effective_from: Mapped[date]
    effective_to: Mapped[date | None]


class ApplicantBanRow(Base):
    """R26: a period in which the enterprise may not apply, imposed by a denial or a revocation (never edited)."""

    __tablename__ = "applicant_bans"
    id: Mapped[int] = mapped_column(primary_key=True)
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprises.id"))
    ground: Mapped[str] = mapped_column(String(40))
    from_on: Mapped[date]
    until_on: Mapped[date]
    source: Mapped[str] = mapped_column(String(60))  # the decision that imposed it: "application 12", "certificate 3"
    reason: Mapped[str] = mapped_column(String(2000))
    created_at: Mapped[datetime]

    __table_args__ = (Index("ix_applicant_bans_enterprise_until", "enterprise_id", "until_on"),)


class ApplicationRow(Base):
    """审批申请: state, version guard and the facts decided along the way."""

    __tablename__ = "applications"
    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(40), unique=True)
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprises.id"))  # ix_applications_enterprise leads with it
    district: Mapped[str] = mapped_column(String(32))
    direction: Mapped[str] = mapped_column(String(8))
    state: Mapped[str] = mapped_column(String(32))
    version: Mapped[int] = mapped_column(default=0)
    grade: Mapped[str | None] = mapped_column(String(4))
    is_first_time: Mapped[bool | None]
    paperless: Mapped[bool | None]
    received_on: Mapped[date | None]
    accepted_on: Mapped[date | None]
    acceptor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    reviewer_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decider_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    correction_notices: Mapped[int] = mapped_column(default=0)
    screening: Mapped[dict[str, Any] | None] = mapped_column(Json)
    clock: Mapped[dict[str, Any] | None] = mapped_column(Json)
    # R19–R22: the clock's due date while it runs (None when paused or decided), for the queue's urgency filters.
    decision_due_on: Mapped[date | None]
    decision_reason: Mapped[str] = mapped_column(Text, default="")
    policy_id: Mapped[str] = mapped_column(String(40), default="")
    policy_hash: Mapped[str] = mapped_column(String(64), default="")
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    # 口岸: the ports of entry or exit the applicant names (R9's "port and date of entry/exit").
    ports: Mapped[list[str] | None] = mapped_column(Json)
    # Who works the file now (a queue claim, audited); advisory: any officer of the post may still act.
    claimed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    claimed_at: Mapped[datetime | None]

    __table_args__ = (
        Index("ix_applications_district_state", "district", "state", "id"),
        Index("ix_applications_district_due", "district", "decision_due_on"),
        Index("ix_applications_claimed_by", "claimed_by", "id"),
        Index("ix_applications_enterprise", "enterprise_id", "id"),  # an applicant's own list (migration 0027)
    )


class ApplicationLineRow(Base):
    """One goods line with every fact that graded it, kept whole as JSON beside the columns queues filter on."""

    __tablename__ = "application_lines"
    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id", ondelete="CASCADE"))
    line_no: Mapped[int]
    name_zh: Mapped[str] = mapped_column(String(inputs.NAME))
    category: Mapped[str | None] = mapped_column(String(32))
    quantity: Mapped[Decimal] = mapped_column(Quantity)
    unit: Mapped[str] = mapped_column(String(inputs.UNIT))
    facts: Mapped[dict[str, Any]] = mapped_column(Json)

    __table_args__ = (UniqueConstraint("application_id", "line_no"),)


class DocumentRow(Base):
    """A typed attachment (R16); the bytes live in the document store, the row keeps type, size and SHA-256."""

    __tablename__ = "documents"
    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id", ondelete="CASCADE"), index=True)
    doc_type: Mapped[str] = mapped_column(String(inputs.DOC_TYPE))
    filename: Mapped[str] = mapped_column(String(inputs.FILENAME))
    content_type: Mapped[str] = mapped_column(String(64))
    size: Mapped[int]
    sha256: Mapped[str] = mapped_column(String(64))
    uploaded_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    uploaded_at: Mapped[datetime]
    # Removed by the applicant while holding the file (migration 0020): kept for the record, no longer attached.
    removed_at: Mapped[datetime | None]
    removed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class CertificateRow(Base):
    """审批单: the certificate issued on grant, with its computed validity stored once and never recomputed (R37)."""

    __tablename__ = "certificates"
    id: Mapped[int] = mapped_column(primary_key=True)
    certificate_no: Mapped[str] = mapped_column(String(inputs.CODE), unique=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id"), unique=True)
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprises.id"))  # ix_certificates_enterprise leads with it
    district: Mapped[str] = mapped_column(String(32))
    direction: Mapped[str] = mapped_column(String(8))
    grade: Mapped[str] = mapped_column(String(4))
    write_off_mode: Mapped[str] = mapped_column(String(16))
    paperless: Mapped[bool]
    follow_up: Mapped[bool]
    state: Mapped[str] = mapped_column(String(16))
    version: Mapped[int] = mapped_column(default=0)
    hold: Mapped[bool] = mapped_column(default=False)
    valid_from: Mapped[date]
    valid_until: Mapped[date]
    open_uses: Mapped[int] = mapped_column(default=0)
    policy_id: Mapped[str] = mapped_column(String(40))
    policy_hash: Mapped[str] = mapped_column(String(64))
    issued_at: Mapped[datetime]

    # The expiry sweep and the 30-day reminder read active certificates by validity (migration 0017); an applicant
    # reads their enterprise's newest first (migration 0025).
    __table_args__ = (
        Index("ix_certificates_validity", "state", "valid_until"),
        Index("ix_certificates_enterprise", "enterprise_id", "id"),
    )


class CertificateLineRow(Base):
    """Per-line quota (W1–W2) with running balances kept by guarded UPDATEs; the ledger is the record behind them.

    The CHECK constraints are the last line of defence: no statement can ever leave a line over-drawn (W8).
    """

    __tablename__ = "certificate_lines"
    id: Mapped[int] = mapped_column(primary_key=True)
    certificate_id: Mapped[int] = mapped_column(ForeignKey("certificates.id", ondelete="CASCADE"))
    line_no: Mapped[int]
    name_zh: Mapped[str] = mapped_column(String(inputs.NAME))
    unit: Mapped[str] = mapped_column(String(inputs.UNIT))
    approved_qty: Mapped[Decimal] = mapped_column(Quantity)
    committed_qty: Mapped[Decimal] = mapped_column(Quantity, default=Decimal(0))
    reserved_qty: Mapped[Decimal] = mapped_column(Quantity, default=Decimal(0))

    __table_args__ = (
        UniqueConstraint("certificate_id", "line_no"),
        CheckConstraint("committed_qty >= 0 AND reserved_qty >= 0", name="balances_not_negative"),
        CheckConstraint("committed_qty + reserved_qty <= approved_qty", name="never_overdrawn"),
    )


class DeclarationRow(Base):
    """报关单 citing a certificate (licence code 203): one shipment and its route through the port."""

    __tablename__ = "declarations"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    declaration_no: Mapped[str] = mapped_column(String(inputs.CODE))
    certificate_id: Mapped[int] = mapped_column(ForeignKey("certificates.id"), index=True)
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprises.id"))
    district: Mapped[str] = mapped_column(String(32))
    port: Mapped[str] = mapped_column(String(inputs.DECLARATION_PORT), default="")
    declared_on: Mapped[date]
    state: Mapped[str] = mapped_column(String(24))
    version: Mapped[int] = mapped_column(default=0)
    hold_reason: Mapped[str] = mapped_column(Text, default="")
    route: Mapped[dict[str, Any] | None] = mapped_column(Json)
    disposal: Mapped[str | None] = mapped_column(String(16))
    paper_original_collected: Mapped[bool] = mapped_column(default=False)
    released_on: Mapped[date | None]
    follow_up_due_on: Mapped[date | None]
    follow_up_alerted_at: Mapped[datetime | None]
    request_hash: Mapped[str] = mapped_column(String(64))
    policy_id: Mapped[str] = mapped_column(String(40), default="")
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime]

    __table_args__ = (
        Index("ix_declarations_follow_up", "state", "follow_up_due_on"),
        Index("ix_declarations_district", "district", "id"),  # a district's latest declarations (dashboard)
        Index("ix_declarations_enterprise", "enterprise_id", "id"),  # an applicant's own list (migration 0018)
        # Unique per enterprise (migration 0012), led by the number so a lookup by number alone uses it too.
        UniqueConstraint("declaration_no", "enterprise_id"),
    )


class DeclarationLineRow(Base):
    """W2: each line of a declaration draws on exactly one certificate line, in the certificate's unit (W1)."""

    __tablename__ = "declaration_lines"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    declaration_id: Mapped[int] = mapped_column(ForeignKey("declarations.id", ondelete="CASCADE"))
    certificate_line_id: Mapped[int] = mapped_column(ForeignKey("certificate_lines.id"), index=True)
    line_no: Mapped[int]
    requested_qty: Mapped[Decimal] = mapped_column(Quantity)
    drawn_qty: Mapped[Decimal] = mapped_column(Quantity, default=Decimal(0))

    __table_args__ = (UniqueConstraint("declaration_id", "line_no"),)


REVERSAL = text("reverses_entry_id IS NOT NULL")


class LedgerEntryRow(Base):
    """W12: the append-only write-off ledger. Every reservation, commit, release and reversal is one row."""

    __tablename__ = "ledger_entries"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    certificate_id: Mapped[int] = mapped_column(ForeignKey("certificates.id"))
    certificate_line_id: Mapped[int] = mapped_column(ForeignKey("certificate_lines.id"))
    declaration_id: Mapped[int | None] = mapped_column(ForeignKey("declarations.id"), index=True)
    kind: Mapped[str] = mapped_column(String(12))
    qty: Mapped[Decimal] = mapped_column(Quantity)
    unit: Mapped[str] = mapped_column(String(inputs.UNIT))
    reverses_entry_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_entries.id"))
    reason: Mapped[str] = mapped_column(Text, default="")
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    actor_role: Mapped[str] = mapped_column(String(32))
    approver_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    at: Mapped[datetime]
    policy_id: Mapped[str] = mapped_column(String(40), default="")

    __table_args__ = (
        Index("ix_ledger_entries_line", "certificate_line_id", "id"),
        Index("ix_ledger_entries_certificate", "certificate_id", "id"),  # a certificate's write-off history
        # Only a reversal names one: no entry for every reservation and commit (migration 0029).
        Index(
            "ix_ledger_entries_reverses_entry_id", "reverses_entry_id", postgresql_where=REVERSAL, sqlite_where=REVERSAL
        ),
        CheckConstraint("qty > 0", name="qty_positive"),
    )


class ReversalRow(Base):
    """W10: a reversal after release, requested by one port officer and approved by a different decider."""

    __tablename__ = "reversals"
    id: Mapped[int] = mapped_column(primary_key=True)
    commit_entry_id: Mapped[int] = mapped_column(ForeignKey("ledger_entries.id"), index=True)
    qty: Mapped[Decimal] = mapped_column(Quantity)
    reason_code: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(Text, default="")
    state: Mapped[str] = mapped_column(String(12))
    requested_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    requested_at: Mapped[datetime]
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None]


class IdempotencyKeyRow(Base):
    """A request's idempotency key, stored with its first result in the transaction that produced it."""

    __tablename__ = "idempotency_keys"
    key: Mapped[str] = mapped_column(String(120), primary_key=True)
    actor_id: Mapped[int | None]
    request_hash: Mapped[str] = mapped_column(String(64))
    result: Mapped[dict[str, Any]] = mapped_column(Json)
    created_at: Mapped[datetime]


# Decision events, spelt as literal SQL: a partial index serves only a query that repeats its predicate verbatim.
DECISION_EVENTS = text("object_type = 'application' AND trigger IN ('grant', 'deny')")


UNSEALED = text("chain_seq IS NULL")
SEALED = text("chain_seq IS NOT NULL")


class AuditEventRow(Base):
    """One audited state change: written in the transaction that made it, never updated or deleted."""

    __tablename__ = "audit_events"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    object_type: Mapped[str] = mapped_column(String(32))
    object_id: Mapped[int]
    object_ref: Mapped[str] = mapped_column(String(40), default="")
    district: Mapped[str] = mapped_column(String(32))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    actor_role: Mapped[str] = mapped_column(String(32))
    actor_name: Mapped[str] = mapped_column(String(120), default="")
    at: Mapped[datetime]
    trigger: Mapped[str] = mapped_column(String(40))
    from_state: Mapped[str] = mapped_column(String(32))
    to_state: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(Text, default="")
    policy_id: Mapped[str] = mapped_column(String(40), default="")
    policy_hash: Mapped[str] = mapped_column(String(64), default="")
    rule_ids: Mapped[list[str]] = mapped_column(Json)
    inputs: Mapped[dict[str, Any]] = mapped_column(Json)
    # The district's hash chain (workflow/domain/audit_chain.py): place, previous event's hash, this event's hash.
    # Empty while the event waits for the sequencer to seal it (workflow/store/audit_sequencer.py): seconds.
    chain_seq: Mapped[int | None] = mapped_column(BigInteger)
    prev_hash: Mapped[str | None] = mapped_column(String(64))
    event_hash: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (
        Index("ix_audit_events_object", "object_type", "object_id", "id"),
        # A district's latest decisions (the dashboard), newest first without reading the other events.
        Index(
            "ix_audit_events_decisions",
            "district",
            "id",
            postgresql_where=DECISION_EVENTS,
            sqlite_where=DECISION_EVENTS,
        ),
        # A place is unique once sealed; an unsealed event (no place yet) has no entry here (migration 0029).
        Index(
            "ix_audit_events_chain", "district", "chain_seq", unique=True, postgresql_where=SEALED, sqlite_where=SEALED
        ),
        # The events the sequencer has still to seal, oldest first: a handful, however long the chain.
        Index("ix_audit_events_unsealed", "district", "id", postgresql_where=UNSEALED, sqlite_where=UNSEALED),
    )


class AuditChainHeadRow(Base):
    """The last link of a district's chain; the sequencer holds its row lock while it seals, writers never take it."""

    __tablename__ = "audit_chain_heads"
    district: Mapped[str] = mapped_column(String(32), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    event_hash: Mapped[str] = mapped_column(String(64))
    # The head signed at each sealing (district, seq, hash): every sealed event is covered by a signature.
    token: Mapped[str] = mapped_column(Text, default="", server_default="")
    sealed_at: Mapped[datetime | None]


class AuditCheckpointRow(Base):
    """A signed (district, seq, hash): the chain up to here can no longer be rewritten without the signing key."""

    __tablename__ = "audit_checkpoints"
    id: Mapped[int] = mapped_column(primary_key=True)
    district: Mapped[str] = mapped_column(String(32))
    seq: Mapped[int] = mapped_column(BigInteger)
    event_hash: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime]
    key_id: Mapped[str] = mapped_column(String(16))
    token: Mapped[str] = mapped_column(Text)

    __table_args__ = (UniqueConstraint("district", "seq"),)


class WriteOffReceiptRow(Base):
    """A signed receipt for one committed (or reversed) write-off, chained to the line's previous receipt."""

    __tablename__ = "writeoff_receipts"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    ledger_entry_id: Mapped[int] = mapped_column(ForeignKey("ledger_entries.id"), unique=True)
    certificate_id: Mapped[int] = mapped_column(ForeignKey("certificates.id"), index=True)
    certificate_line_id: Mapped[int] = mapped_column(ForeignKey("certificate_lines.id"))
    seq: Mapped[int]
    net_committed: Mapped[Decimal] = mapped_column(Quantity)
    receipt_hash: Mapped[str] = mapped_column(String(64))
    key_id: Mapped[str] = mapped_column(String(16))
    token: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]

    __table_args__ = (UniqueConstraint("certificate_line_id", "seq"),)


class ReceiptHeadRow(Base):
    """The head of a line's receipt chain (its latest receipt): what the next receipt links to (migration 0030).

    Only the receipt sequencer reads or writes it, under this row's lock; a write-off never waits for it.
    """

    __tablename__ = "receipt_heads"
    certificate_line_id: Mapped[int] = mapped_column(
        ForeignKey("certificate_lines.id"), primary_key=True, autoincrement=False
    )
    seq: Mapped[int]
    receipt_hash: Mapped[str] = mapped_column(String(64))
    net_committed: Mapped[Decimal] = mapped_column(Quantity)


class ReceiptQueueRow(Base):
    """A commit or reversal waiting for its receipt: written with the entry, taken by the receipt sequencer.

    No foreign key: the row is written in the statement that inserts its entry, and the sequencer reads the entry
    by joining; a key's check would be one more index probe on the declaration's statement (#15).
    """

    __tablename__ = "receipt_queue"
    ledger_entry_id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=False)


# The rows the redelivery sweep reads: sent, and not yet completed by their task.
OUTBOX_INCOMPLETE = text("completed_at IS NULL AND redeliver_at IS NOT NULL")
UNPUBLISHED = text("published_at IS NULL")


class OutboxRow(Base):
    """A task message written with the change that asked for it; the relay publishes it after commit."""

    __tablename__ = "outbox"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    task: Mapped[str] = mapped_column(String(80))
    payload: Mapped[dict[str, Any]] = mapped_column(Json)
    created_at: Mapped[datetime]
    published_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(default=0)  # publishes the broker refused
    last_error: Mapped[str] = mapped_column(Text, default="")
    deliveries: Mapped[int] = mapped_column(default=0, server_default="0")  # publishes the broker took
    # When the sweep sends the row again if no task has completed it by then (workflow/store/outbox_completion.py).
    redeliver_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]  # committed by the task after its effect committed
    outcome: Mapped[str] = mapped_column(String(12), default="", server_default="")  # done, refused or failed

    __table_args__ = (
        # The relay's rows never sent, oldest first; a sent row leaves no entry behind (migration 0029).
        Index("ix_outbox_unpublished", "id", postgresql_where=UNPUBLISHED, sqlite_where=UNPUBLISHED),
        Index(
            "ix_outbox_incomplete",
            "redeliver_at",
            postgresql_where=OUTBOX_INCOMPLETE,
            sqlite_where=OUTBOX_INCOMPLETE,
        ),
    )


class RiskAssessmentRow(Base):
    """风险评估 (R61–R63): by the district's own panel or referred to headquarters; reusable per enterprise+product."""

    __tablename__ = "risk_assessments"
    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id"), index=True)
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprises.id"))
    product_key: Mapped[str] = mapped_column(String(64))
    assessor_level: Mapped[str] = mapped_column(String(20))
    state: Mapped[str] = mapped_column(String(12))
    panel_size: Mapped[int]
    quorum: Mapped[int]
    conclusion_rule: Mapped[str] = mapped_column(String(12))
    outcome: Mapped[str | None] = mapped_column(String(12))
    started_on: Mapped[date]
    due_on: Mapped[date]
    concluded_on: Mapped[date | None]
    reuse_until: Mapped[date | None]
    reused_from_id: Mapped[int | None] = mapped_column(ForeignKey("risk_assessments.id"))
    # A8: the head's written override of a panel's rejection (the audited event is on the application).
    overridden_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    override_reason: Mapped[str | None] = mapped_column(String(2000))
    overridden_on: Mapped[date | None]
    version: Mapped[int] = mapped_column(default=0)

    __table_args__ = (Index("ix_risk_assessments_reuse", "enterprise_id", "product_key", "state"),)


class PanelSeatRow(Base):
    """One expert drawn onto a panel, with the opinion they give (通过 / 补正材料 / 驳回) and its deadline."""

    __tablename__ = "panel_seats"
    id: Mapped[int] = mapped_column(primary_key=True)
    assessment_id: Mapped[int] = mapped_column(ForeignKey("risk_assessments.id", ondelete="CASCADE"))
    expert_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    opinion: Mapped[str | None] = mapped_column(String(12))
    reason: Mapped[str] = mapped_column(Text, default="")
    due_on: Mapped[date]
    submitted_at: Mapped[datetime | None]
    reminded_at: Mapped[datetime | None]

    __table_args__ = (UniqueConstraint("assessment_id", "expert_id"),)


class ExpertConflictRow(Base):
    """An expert's tie to an enterprise: they are never drawn for its applications."""

    __tablename__ = "expert_conflicts"
    id: Mapped[int] = mapped_column(primary_key=True)
    expert_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprises.id"))
    reason: Mapped[str] = mapped_column(Text, default="")

    __table_args__ = (UniqueConstraint("expert_id", "enterprise_id"),)


class ClockAlertRow(Base):
    """A statutory-clock reminder or breach alert, raised at most once per application and kind (R19–R22)."""

    __tablename__ = "clock_alerts"
    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id"))
    kind: Mapped[str] = mapped_column(String(24))
    raised_at: Mapped[datetime]

    __table_args__ = (UniqueConstraint("application_id", "kind"),)


class NotificationRow(Base):
    """An in-app message to one user, and its e-mail copy's delivery status."""

    __tablename__ = "notifications"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    kind: Mapped[str] = mapped_column(String(40))
    params: Mapped[dict[str, Any]] = mapped_column(Json)
    created_at: Mapped[datetime]
    read_at: Mapped[datetime | None]
    email_status: Mapped[str] = mapped_column(String(12), default="pending")
    email_attempts: Mapped[int] = mapped_column(default=0)
    email_error: Mapped[str] = mapped_column(Text, default="")
    emailed_at: Mapped[datetime | None]
    # event:object:recipient for a notification a task fans out: a re-delivered task writes each one once
    dedup_key: Mapped[str | None] = mapped_column(String(160))

    __table_args__ = (
        Index("ix_notifications_inbox", "user_id", "read_at", "id"),  # the inbox and its unread count
        Index("ux_notifications_dedup_key", "dedup_key", unique=True),
    )


class DeadLetterRow(Base):
    """A task that failed for good: kept for an administrator to inspect and retry."""

    __tablename__ = "dead_letters"
    id: Mapped[int] = mapped_column(primary_key=True)
    task: Mapped[str] = mapped_column(String(80))
    task_id: Mapped[str] = mapped_column(String(64), default="")
    payload: Mapped[dict[str, Any]] = mapped_column(Json)
    error: Mapped[str] = mapped_column(Text)
    failed_at: Mapped[datetime]
    retried_at: Mapped[datetime | None]


class CertificateDocumentRow(Base):
    """The signed PDF of a certificate: its hash, the full signed payload and the detached signature over it."""

    __tablename__ = "certificate_documents"
    id: Mapped[int] = mapped_column(primary_key=True)
    certificate_id: Mapped[int] = mapped_column(ForeignKey("certificates.id", ondelete="CASCADE"), unique=True)
    pdf_sha256: Mapped[str] = mapped_column(String(64), index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(Json)
    signature: Mapped[str] = mapped_column(String(128))
    key_id: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]


class DrawKeyRow(Base):
    """E2: a district's inspection-draw key for one period; its commitment is public from creation, the key after."""

    __tablename__ = "draw_keys"
    id: Mapped[int] = mapped_column(primary_key=True)
    district: Mapped[str] = mapped_column(String(32))
    period: Mapped[str] = mapped_column(String(7))  # YYYY-MM, in the district's local date
    key_hex: Mapped[str] = mapped_column(String(64))
    commitment: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]

    __table_args__ = (UniqueConstraint("district", "period"),)


class PendingInspectionRow(Base):
    """E4: what a declaration drawn for inspection held on one certificate line when it was withdrawn before it."""

    __tablename__ = "pending_inspections"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    certificate_line_id: Mapped[int] = mapped_column(ForeignKey("certificate_lines.id"))
    declaration_id: Mapped[int] = mapped_column(ForeignKey("declarations.id"))
    declaration_no: Mapped[str] = mapped_column(String(inputs.CODE))
    withdrawn_on: Mapped[date]
    qty: Mapped[Decimal] = mapped_column(Quantity)
    carried_qty: Mapped[Decimal] = mapped_column(Quantity, default=Decimal(0))

    __table_args__ = (Index("ix_pending_inspections_line", "certificate_line_id", "withdrawn_on"),)


class GrantedProductRow(Base):
    """R60: a product identity granted to an enterprise, so the first-time check looks up the products it names.

    Written in the grant's own transaction and never removed: a granted application never leaves GRANTED, and a
    product counts as granted whatever became of its certificate since (§8 Q6), as `rules.is_first_time` says.
    """

    __tablename__ = "granted_products"
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprises.id"), primary_key=True)
    product_key: Mapped[str] = mapped_column(String(64), primary_key=True)  # assessment.product_key of the identity
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id"))  # the first grant that carried it


class DistrictCountRow(Base):
    """A dashboard count of a district (applications per state, certificates paperless or not), as last folded."""

    __tablename__ = "district_counts"
    district: Mapped[str] = mapped_column(String(32), primary_key=True)
    counter: Mapped[str] = mapped_column(String(48), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger)


class DistrictCountDeltaRow(Base):
    """+1/−1 on a count, appended in the transaction of the change; folded into `district_counts` by a sweep.

    Append-only so that no row is shared by a district's writers (workflow/store/district_counts.py).
    """

    __tablename__ = "district_count_deltas"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    district: Mapped[str] = mapped_column(String(32))
    counter: Mapped[str] = mapped_column(String(48))
    delta: Mapped[int]

    __table_args__ = (Index("ix_district_count_deltas_district", "district", "id"),)


class LaboratoryRow(Base):
    """实验室 / 设施: an enterprise's lab with its biosafety level and accreditation, verified by a district officer.

    R9(b), R14, R62 (docs/biosafety.md). Every edit by the enterprise's admin bumps `version` and clears the
    verification, so what an officer verified is exactly what the decisions read (migration 0022).
    """

    __tablename__ = "laboratories"
    id: Mapped[int] = mapped_column(primary_key=True)
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprises.id"))
    district: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(inputs.NAME))
    address: Mapped[str] = mapped_column(String(inputs.ADDRESS), default="")
    bsl_level: Mapped[int]
    accreditation_body: Mapped[str] = mapped_column(String(inputs.NAME), default="")
    accreditation_no: Mapped[str] = mapped_column(String(inputs.CODE), default="")
    valid_from: Mapped[date | None]
    valid_until: Mapped[date | None]
    evidence_sha256: Mapped[str] = mapped_column(String(64), default="")
    evidence_filename: Mapped[str] = mapped_column(String(inputs.FILENAME), default="")
    verified_on: Mapped[date | None]
    verified_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    version: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime]

    __table_args__ = (
        CheckConstraint("bsl_level BETWEEN 1 AND 4", name="bsl_level"),
        Index("ix_laboratories_enterprise", "enterprise_id", "id"),
        Index("ix_laboratories_district_verified", "district", "verified_on"),
    )


class CertificateLabRow(Base):
    """Which labs a granted certificate relies on (from its goods lines), and when the lapse sweep flagged the link."""

    __tablename__ = "certificate_labs"
    certificate_id: Mapped[int] = mapped_column(ForeignKey("certificates.id"), primary_key=True)
    lab_id: Mapped[int] = mapped_column(ForeignKey("laboratories.id"), primary_key=True)
    flagged_at: Mapped[datetime | None]

    __table_args__ = (Index("ix_certificate_labs_lab", "lab_id", "certificate_id"),)


class CertificateChangeRow(Base):
    """A holder's request to cancel (注销, C7) or amend (R43) a certificate, with the field-level diff decided on.

    An approved amendment's new values are the certificate's particulars from then on (migration 0023).
    """

    __tablename__ = "certificate_changes"
    id: Mapped[int] = mapped_column(primary_key=True)
    certificate_id: Mapped[int] = mapped_column(ForeignKey("certificates.id"))
    district: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text, default="")
    changes: Mapped[list[dict[str, Any]]] = mapped_column(Json)  # [{field, old, new}]
    requested_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    requested_at: Mapped[datetime]
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None]
    decision_reason: Mapped[str] = mapped_column(Text, default="")

    __table_args__ = (
        Index("ix_certificate_changes_certificate", "certificate_id", "id"),
        Index("ix_certificate_changes_district_state", "district", "state", "id"),
    )


class CertificateReplacementRow(Base):
    """A replacement application (R43) and the certificate it replaces; `new_certificate_id` once it is granted."""

    __tablename__ = "certificate_replacements"
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id"), primary_key=True)
    old_certificate_id: Mapped[int] = mapped_column(ForeignKey("certificates.id"))
    new_certificate_id: Mapped[int | None] = mapped_column(ForeignKey("certificates.id"), unique=True)

    __table_args__ = (Index("ix_certificate_replacements_old", "old_certificate_id"),)


class WorkerHeartbeatRow(Base):
    """A live Celery worker: written by the worker itself every few seconds, read by /readyz (never a ping)."""

    __tablename__ = "worker_heartbeats"
    hostname: Mapped[str] = mapped_column(String(255), primary_key=True)  # the Celery node name, worker@host
    queues: Mapped[str] = mapped_column(Text)  # the queues it consumes, comma-separated
    pid: Mapped[int]
    started_at: Mapped[datetime]
    beat_at: Mapped[datetime]  # UTC, the worker host's clock: hosts keep time by NTP (docs/monitoring.md)


class ViolationCaseRow(Base):
    """R74: 违法案件 — the reference of a case decided against an enterprise; never a fine (docs/credit.md)."""

    __tablename__ = "violation_cases"
    id: Mapped[int] = mapped_column(primary_key=True)
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprises.id"))
    district: Mapped[str] = mapped_column(String(inputs.DISTRICT))
    case_no: Mapped[str] = mapped_column(String(inputs.CODE))
    kind: Mapped[str] = mapped_column(String(32))
    decided_on: Mapped[date]
    summary: Mapped[str] = mapped_column(String(inputs.REASON), default="")
    recorded_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    recorded_at: Mapped[datetime]

    __table_args__ = (
        UniqueConstraint("enterprise_id", "case_no", name="uq_violation_cases_enterprise_case"),
        Index("ix_violation_cases_enterprise_decided", "enterprise_id", "decided_on"),
    )


class CreditChangeRow(Base):
    """信用变更: who moved an enterprise's tier, on what ground, from when (R72, R73); records opened and closed."""

    __tablename__ = "credit_changes"
    id: Mapped[int] = mapped_column(primary_key=True)
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprises.id"))
    district: Mapped[str] = mapped_column(String(inputs.DISTRICT))
    kind: Mapped[str] = mapped_column(String(16))
    regime: Mapped[str] = mapped_column(String(40))
    from_tier: Mapped[str] = mapped_column(String(40))
    to_tier: Mapped[str] = mapped_column(String(40))
    effective_from: Mapped[date]
    ground: Mapped[str] = mapped_column(String(32))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("violation_cases.id"))
    reason: Mapped[str] = mapped_column(String(inputs.REASON), default="")
    opened_record_id: Mapped[int] = mapped_column(ForeignKey("credit_records.id"))
    closed_record_id: Mapped[int | None] = mapped_column(ForeignKey("credit_records.id"))
    recorded_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))  # None: the restoration sweep
    recorded_at: Mapped[datetime]

    __table_args__ = (Index("ix_credit_changes_enterprise", "enterprise_id", "id"),)
