"""The API's request and response bodies as pydantic models: they validate input and are the OpenAPI 3.1 schemas.

Inputs forbid unknown fields, so a misspelt field is an error naming it rather than silently ignored. Quantities are
decimal strings in responses (a ledger never rounds through a float).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, model_validator

from workflow.domain import inputs
from workflow.domain.goods import Direction, RiskGrade
from workflow.domain.ledger import Disposal, ReversalReason
from workflow.domain.review import Recommendation
from workflow.service.input_types import QuantityText, Reason, clean
from workflow.service.precheck import LineFacts

INT_MAX, BIGINT_MAX = inputs.INT_MAX, inputs.BIGINT_MAX
Id = Annotated[StrictInt, Field(ge=1, le=INT_MAX)]
Code = Annotated[StrictStr, Field(min_length=1, max_length=inputs.CODE, pattern=r"^[A-Za-z0-9_.\-/]+$")]


def text(max_length: int, min_length: int = 0) -> Any:
    """A one-line string field: its limit in the schema (OpenAPI) and checked with the shared rules."""
    return Annotated[StrictStr, Field(min_length=min_length, max_length=max_length), clean(max_length)]


def _utc(value: datetime) -> datetime:
    """The tables keep naive UTC; RFC 3339 (OpenAPI's date-time) needs the offset said."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


Timestamp = Annotated[datetime, AfterValidator(_utc)]


class In(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Out(BaseModel):
    model_config = ConfigDict(frozen=True)


# -- paging ---------------------------------------------------------------------------------------------------------


class PageQuery(In):
    """Keyset paging: `before` is the `next` of the previous page; pages are newest first."""

    limit: Annotated[int, Field(ge=1, le=100)] = 20
    before: Annotated[int, Field(ge=1, le=INT_MAX)] | None = None


class BigPageQuery(PageQuery):
    """Paging over an append-only table with 64-bit ids."""

    before: Annotated[int, Field(ge=1, le=BIGINT_MAX)] | None = None


class ApplicationQuery(PageQuery):
    state: Annotated[str, Field(max_length=32, pattern=r"^[a-z_]+$")] | None = None


class AuditQuery(BigPageQuery):
    object_type: Annotated[str, Field(max_length=32, pattern=r"^[a-z_]+$")] | None = None


Period = Annotated[StrictStr, Field(pattern=r"^2\d{3}-(0[1-9]|1[0-2])$", description="YYYY-MM")]


class DrawAuditQuery(In):
    district: Code
    period: Period


class DrawFindingOut(Out):
    declaration_no: str
    kind: str = Field(description="key, commitment, draw, outcome or stored_route")
    detail: str


class DrawAuditOut(Out):
    """E2: a closed period's draws recomputed from its revealed key."""

    ok: bool
    district: str
    period: str
    commitment: str
    key: str
    draws: int
    inspected: int
    findings: list[DrawFindingOut]


class DrawKeysQuery(In):
    district: Code | None = None


class DrawKeyOut(Out):
    district: str
    period: str
    commitment: str
    closed: bool
    key: str | None = Field(description="revealed once the period has closed")


class DrawKeysOut(Out):
    items: list[DrawKeyOut]


# -- sign-in --------------------------------------------------------------------------------------------------------


class TokenIn(In):
    name: text(inputs.TOKEN_NAME) = ""
    lifetime_days: Annotated[StrictInt, Field(ge=1, le=365)] = 90


class TokenOut(Out):
    id: int
    token: str = Field(description="shown once: only its SHA-256 is stored")
    name: str
    expires_at: Timestamp


class TokenInfo(Out):
    id: int
    name: str
    created_at: Timestamp
    expires_at: Timestamp
    last_used_at: Timestamp | None
    revoked: bool


class TokenList(Out):
    items: list[TokenInfo]


class Me(Out):
    id: int | None
    name: str
    role: str
    enterprise_id: int | None
    district: str | None


# -- enterprises ----------------------------------------------------------------------------------------------------


class EnterpriseIn(In):
    name: text(inputs.NAME, min_length=1)
    name_en: text(inputs.NAME) = ""
    uscc: text(18, min_length=18)
    district: Code
    is_natural_person: StrictBool = False


class EnterpriseOut(Out):
    id: int
    name: str
    name_en: str
    uscc: str
    district: str
    is_natural_person: bool
    address: str
    contact_person: str
    phone: str
    version: int


class EnterprisePage(Out):
    items: list[EnterpriseOut]
    next: int | None


class EnterprisePatch(In):
    """The profile fields to change (absent ones stay); the USCC is the enterprise's identity and not editable."""

    name: text(inputs.NAME) | None = None
    name_en: text(inputs.NAME) | None = None
    address: text(inputs.ADDRESS) | None = None
    contact_person: text(inputs.PERSON) | None = None
    phone: text(inputs.PHONE) | None = None
    version: Annotated[StrictInt, Field(ge=0, le=INT_MAX)] | None = Field(
        None, description="the version you read; a stale one is 409"
    )


class EnterpriseUserIn(In):
    username: text(inputs.USERNAME, min_length=3)
    display_name: text(inputs.PERSON, min_length=1)
    email: text(inputs.NAME, min_length=3)
    password: Annotated[
        StrictStr,
        Field(min_length=10, max_length=inputs.PASSWORD, description="the initial password"),
        clean(inputs.PASSWORD),
    ]
    is_admin: StrictBool = False


class EnterpriseUserPatch(In):
    active: StrictBool | None = None
    is_admin: StrictBool | None = None


class EnterpriseUserOut(Out):
    id: int
    username: str
    display_name: str
    email: str
    active: bool
    is_admin: bool


class EnterpriseUserList(Out):
    items: list[EnterpriseUserOut]


# -- applications ---------------------------------------------------------------------------------------------------


Port = text(inputs.PORT, min_length=1)
Ports = Annotated[list[Port], Field(max_length=10, description="口岸: ports of entry or exit")]


class ApplicationLine(LineFacts):
    """A goods line as the API takes it: the pre-check's facts, with the quantity a decimal string."""

    quantity: QuantityText


Lines = Annotated[list[ApplicationLine], Field(min_length=1, max_length=inputs.LINES)]


class ApplicationIn(In):
    enterprise_id: Id | None = Field(None, description="defaults to the applicant's own enterprise")
    district: Code
    direction: Direction
    lines: Lines
    ports: Ports = []


class DraftIn(In):
    direction: Direction
    lines: Lines
    ports: Ports | None = Field(None, description="omit to keep the ports as they are")
    version: Annotated[int, Field(ge=0, le=2**31 - 1)] | None = Field(
        None, description="the version you edited (from GET); a stale edit is refused with 409"
    )


class ReassignIn(In):
    user_id: Id


class ReasonIn(In):
    reason: Reason = ""


class ReviewOpinionIn(In):
    """A6: the reviewer's recommendation to the decider, with its reasons (a working paper: never the applicant's)."""

    recommendation: Recommendation
    reason: Reason = ""  # required by the domain (A6), which says so at the field


class CorrectionIn(In):
    """R17: one notice lists every deficiency; together they fit the notice (what the form also allows)."""

    deficiencies: Annotated[list[text(inputs.DETAIL, min_length=1)], Field(min_length=1, max_length=100)]

    @model_validator(mode="after")
    def _fits_the_notice(self) -> CorrectionIn:
        inputs.clean_text("\n".join(self.deficiencies), inputs.NOTICE, "deficiencies", multiline=True)
        return self


class NotAcceptIn(In):
    reason: Reason = ""
    rule_ids: Annotated[list[Code], Field(max_length=50)] = []


class DenyIn(In):
    reason: Reason = ""
    false_information: StrictBool = Field(
        False, description="R26: the applicant gave false or concealed information; bars it from applying for a year"
    )


class EndCertificateIn(In):
    reason: Reason = ""
    fraud: StrictBool = Field(
        False, description="C6 / R26: revoked because obtained by fraud or bribery; bars the holder for three years"
    )


class GrantIn(In):
    reason: Reason = ""
    grade: RiskGrade | None = None


class LineOut(Out):
    line_no: int
    name_zh: str
    category: str | None
    quantity: str
    unit: str


class DocumentOut(Out):
    id: int
    doc_type: str
    filename: str
    size: int
    sha256: str


class CertificateSummary(Out):
    id: int
    certificate_no: str
    state: str
    grade: str
    write_off_mode: str
    paperless: bool
    follow_up: bool
    valid_from: date
    valid_until: date


class ApplicationOut(Out):
    id: int
    reference: str
    enterprise_id: int
    district: str
    direction: str
    state: str
    version: int
    grade: str | None
    received_on: date | None
    accepted_on: date | None
    screening: dict[str, Any] | None
    policy: dict[str, str]
    lines: list[LineOut]
    documents: list[DocumentOut]
    certificate: CertificateSummary | None
    clock: dict[str, Any] | None
    ports: list[str]
    claimed_by: int | None


class ApplicationItem(Out):
    id: int
    reference: str
    enterprise_id: int
    district: str
    direction: str
    state: str
    grade: str | None
    updated_at: Timestamp


class ApplicationPage(Out):
    items: list[ApplicationItem]
    next: int | None


class DocumentIn(In):
    doc_type: Annotated[StrictStr, Field(min_length=1, max_length=48, pattern=r"^[a-z0-9_]+$")]


class AttachedOut(Out):
    id: int
    doc_type: str
    filename: str
    content_type: str
    size: int


class AuditEvent(Out):
    id: int
    object_type: str
    object_id: int
    object_ref: str
    district: str
    at: Timestamp
    trigger: str
    from_: str = Field(alias="from")
    to: str
    actor: dict[str, Any]
    reason: str
    rule_ids: list[str]
    policy: dict[str, str]
    inputs: dict[str, Any]

    model_config = ConfigDict(frozen=True, populate_by_name=True)


class AuditPage(Out):
    items: list[AuditEvent]
    next: int | None


# -- certificates, declarations, write-offs -------------------------------------------------------------------------


class CertificateLineOut(Out):
    line_no: int
    name_zh: str
    unit: str
    approved_qty: str
    committed_qty: str
    reserved_qty: str
    remaining_qty: str


class CertificateOut(Out):
    id: int
    certificate_no: str
    application_id: int
    enterprise_id: int
    district: str
    direction: str
    state: str
    grade: str
    write_off_mode: str
    paperless: bool
    follow_up: bool
    valid_from: date
    valid_until: date
    lines: list[CertificateLineOut]


class CertificatePage(Out):
    items: list[CertificateOut]
    next: int | None


class RemainingOut(Out):
    certificate_id: int
    certificate_no: str
    state: str
    valid_until: date
    lines: list[CertificateLineOut]


class WriteOffOut(Out):
    id: int
    kind: str
    line_no: int
    qty: str
    unit: str
    declaration_id: int | None
    declaration_no: str | None
    reverses_entry_id: int | None
    actor_role: str
    at: Timestamp
    reason: str


class WriteOffPage(Out):
    items: list[WriteOffOut]
    next: int | None


class DeclaredLine(In):
    line_no: Annotated[StrictInt, Field(ge=1, le=inputs.LINES, description="a line number of the certificate")]
    qty: QuantityText


class DeclarationIn(In):
    declaration_no: Annotated[StrictStr, Field(min_length=1, max_length=inputs.CODE, pattern=r"^[A-Za-z0-9\-]+$")]
    certificate_no: text(inputs.CODE, min_length=1)
    declared_on: date
    direction: Direction
    lines: Annotated[list[DeclaredLine], Field(min_length=1, max_length=inputs.LINES)]
    port: text(inputs.DECLARATION_PORT) = ""


class DeclarationBatchIn(In):
    """A feed's burst: judged in order, filed in one transaction, all or none."""

    declarations: Annotated[list[DeclarationIn], Field(min_length=1, max_length=500)]


class InspectionIn(In):
    outcome: Annotated[StrictStr, Field(pattern=r"^(pass|sample|fail)$")]
    disposal: Disposal | None = None
    reason: Reason = ""


class LabResultIn(In):
    passed: StrictBool
    disposal: Disposal | None = None
    reason: Reason = ""


class ResolveHoldIn(In):
    split: StrictBool = True
    disposal: Disposal = Disposal.RETURN
    reason: Reason = ""


class DeclarationLineOut(Out):
    line_no: int
    requested_qty: str
    drawn_qty: str


class DeclarationRouteOut(Out):
    """D3 / E1–E4: how the declaration was routed, for anyone who may see the declaration."""

    rate: str
    draw: str
    outcome: Annotated[str, Field(description="inspect or release")]
    inspected: bool
    draw_period: str | None = Field(description="the period whose key drew it (YYYY-MM)")
    draw_commitment: str | None = Field(description="SHA-256 of that key, published before the period")
    inherited_from: list[str] = Field(description="E4: withdrawn declarations whose pending inspection it took on")


class DeclarationOut(Out):
    id: int
    declaration_no: str
    certificate_id: int
    enterprise_id: int
    district: str
    port: str
    declared_on: date
    state: str
    hold_reason: str
    disposal: str | None
    released_on: date | None
    follow_up_due_on: date | None
    lines: list[DeclarationLineOut]
    route: DeclarationRouteOut | None = None
    replayed: bool = False


class DeclarationBatchOut(Out):
    declarations: list[DeclarationOut]
    replayed: bool = False


class DeclarationPage(Out):
    items: list[DeclarationOut]
    next: int | None


class ReversalIn(In):
    qty: QuantityText
    reason_code: ReversalReason
    reason: Reason = ""


class ReversalDecisionIn(In):
    approve: StrictBool
    reason: Reason = ""


class ReversalOut(Out):
    id: int
    entry_id: int
    qty: str
    reason_code: str
    reason: str
    state: str
    requested_at: Timestamp
    decided_at: Timestamp | None
    replayed: bool = False


# -- pre-check ------------------------------------------------------------------------------------------------------


class PrecheckOut(Out):
    policy: dict[str, Any]
    direction: str
    district: str | None
    date: str | None
    lines: list[dict[str, Any]]
    overall: dict[str, Any]
