"""Commands: imperative requests to the workflow, one handler each. Actors travel with every command."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from workflow.domain.actors import Actor
from workflow.domain.assessment import Opinion
from workflow.domain.biosafety import LabDetails
from workflow.domain.certificate_changes import ChangeKind, Particulars
from workflow.domain.goods import Direction, GoodsLine, RiskGrade
from workflow.domain.ledger import Disposal, ReversalReason
from workflow.domain.review import Recommendation


@dataclass(frozen=True)
class Command:
    """Base of every command; `actor` is who asks."""

    actor: Actor


@dataclass(frozen=True)
class CreateApplication(Command):
    enterprise_id: int
    district: str
    direction: Direction
    lines: tuple[GoodsLine, ...]
    ports: tuple[str, ...] = ()


@dataclass(frozen=True)
class ReviseDraft(Command):
    """Change a draft's (or a corrected application's) direction and goods lines before it is submitted again."""

    application_id: int
    direction: Direction
    lines: tuple[GoodsLine, ...]
    version: int | None = None  # the version the applicant edited; a stale edit is a conflict, not an overwrite
    ports: tuple[str, ...] | None = None  # None keeps the ports as they are


@dataclass(frozen=True)
class AttachDocument(Command):
    application_id: int
    doc_type: str
    filename: str
    content_type: str
    content: bytes = field(repr=False)


@dataclass(frozen=True)
class RemoveDocument(Command):
    """Take back an attachment while the applicant holds the file (draft or correction); kept for the record."""

    application_id: int
    document_id: int


@dataclass(frozen=True)
class ApplicationCommand(Command):
    """A command on one application; `reason` is required by some triggers (R18, R20, R25)."""

    application_id: int
    reason: str = ""


@dataclass(frozen=True)
class SubmitApplication(ApplicationCommand):
    pass


@dataclass(frozen=True)
class RecordReviewOpinion(ApplicationCommand):
    """The reviewer's recommendation to the decider, with its reasons in `reason` (A6; audited, no transition)."""

    recommendation: Recommendation = Recommendation.GRANT


@dataclass(frozen=True)
class ClaimApplication(ApplicationCommand):
    """An officer takes a file from the review queue (advisory; audited)."""


@dataclass(frozen=True)
class UnclaimApplication(ApplicationCommand):
    """The holder or the head puts a claimed file back in the queue."""


@dataclass(frozen=True)
class ReassignApplication(ApplicationCommand):
    """The head hands a file to another officer of the district."""

    user_id: int = 0


@dataclass(frozen=True)
class ResubmitApplication(ApplicationCommand):
    pass


@dataclass(frozen=True)
class WithdrawApplication(ApplicationCommand):
    pass


@dataclass(frozen=True)
class ScreenApplication(ApplicationCommand):
    pass


@dataclass(frozen=True)
class AcceptApplication(ApplicationCommand):
    pass


@dataclass(frozen=True)
class RequestCorrection(ApplicationCommand):
    deficiencies: tuple[str, ...] = ()


@dataclass(frozen=True)
class NotAcceptApplication(ApplicationCommand):
    rule_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class StartReview(ApplicationCommand):
    pass


@dataclass(frozen=True)
class ReferAssessment(ApplicationCommand):
    pass


@dataclass(frozen=True)
class ExtendDeadline(ApplicationCommand):
    pass


@dataclass(frozen=True)
class OverrideAssessment(ApplicationCommand):
    """A8: the head overrides the panel's rejection; `reason` is the written ground, shown to every decider."""


@dataclass(frozen=True)
class GrantApplication(ApplicationCommand):
    grade: RiskGrade | None = None


@dataclass(frozen=True)
class DenyApplication(ApplicationCommand):
    """A11; `false_information` also bars the applicant for a year (R26)."""

    false_information: bool = False


@dataclass(frozen=True)
class DeclareShipment(Command):
    """D1: a customs declaration citing a certificate, drawing per line in the certificate's unit (W1, W2)."""

    declaration_no: str
    certificate_no: str
    declared_on: date
    direction: Direction
    lines: tuple[tuple[int, Decimal], ...]
    port: str = ""
    idempotency_key: str = ""


@dataclass(frozen=True)
class DeclareShipments(Command):
    """D1 for a batch (a port's or a broker's feed): every declaration is filed, or none is (atomic, like AIP-233).

    Each item is judged exactly as if declared alone, in the order given, so a later item sees the quota an earlier
    one drew. Items are declared by the batch's actor; their own actor and idempotency key are not used.
    """

    declarations: tuple[DeclareShipment, ...]
    idempotency_key: str = ""


@dataclass(frozen=True)
class DeclarationCommand(Command):
    declaration_id: int
    reason: str = ""
    idempotency_key: str = ""


@dataclass(frozen=True)
class ResolveHold(DeclarationCommand):
    """W6: split (release the in-quota part, a disposal notice for the excess) or reject the whole shipment."""

    split: bool = True
    disposal: Disposal = Disposal.RETURN


@dataclass(frozen=True)
class RecordInspection(DeclarationCommand):
    """D4/D5: the port check passed, the goods are sampled for the laboratory, or they failed."""

    outcome: str = "pass"
    disposal: Disposal | None = None


@dataclass(frozen=True)
class RecordLabResult(DeclarationCommand):
    passed: bool = True
    disposal: Disposal | None = None


@dataclass(frozen=True)
class CompleteDisposal(DeclarationCommand):
    pass


@dataclass(frozen=True)
class WithdrawDeclaration(DeclarationCommand):
    pass


@dataclass(frozen=True)
class ReportFollowUp(DeclarationCommand):
    """D9 / R55: whether the user lab and the goods match the certificate."""

    lab_matches: bool = True
    goods_match: bool = True


@dataclass(frozen=True)
class RequestReversal(Command):
    """W10: a port officer asks to reverse (part of) a committed write-off."""

    entry_id: int
    qty: Decimal
    reason_code: ReversalReason
    reason: str = ""
    idempotency_key: str = ""


@dataclass(frozen=True)
class DecideReversal(Command):
    """W10: a decider other than the requester approves or refuses the reversal."""

    reversal_id: int
    approve: bool = True
    reason: str = ""
    idempotency_key: str = ""


@dataclass(frozen=True)
class EndCertificate(Command):
    """C5–C7: cancel, withdraw or revoke a certificate; open reservations are released (W9)."""

    certificate_id: int
    trigger: str
    reason: str = ""
    fraud: bool = False  # a revocation because the licence was obtained by fraud or bribery: a 3-year ban (R26)


@dataclass(frozen=True)
class RequestCertificateChange(Command):
    """R43 / C7: the holder asks to cancel the certificate or amend its particulars (`particulars`: all of them)."""

    certificate_id: int
    kind: ChangeKind
    reason: str = ""
    particulars: Particulars | None = None


@dataclass(frozen=True)
class DecideCertificateChange(Command):
    """R43 / C7: a decider of the district approves the request (cancel, amend) or refuses it with a reason."""

    change_id: int
    approve: bool
    reason: str = ""


@dataclass(frozen=True)
class StartReplacement(Command):
    """R43: a draft application pre-filled from the certificate, to change what an amendment may not."""

    certificate_id: int


@dataclass(frozen=True)
class ExpireCertificates(Command):
    """C4: the daily sweep of certificates past their validity."""


@dataclass(frozen=True)
class ExhaustUsedUp(Command):
    """C3: the sweep that exhausts active certificates whose every line is used up."""


@dataclass(frozen=True)
class FlagOverdueFollowUps(Command):
    """D8 / R54: alert the destination customs about follow-up reports not in within the window."""


@dataclass(frozen=True)
class SubmitOpinion(Command):
    """A8: an expert's opinion on a panel (通过 / 补正材料 / 驳回), with reasons."""

    assessment_id: int
    opinion: Opinion
    reason: str = ""


@dataclass(frozen=True)
class RecordHeadquartersOpinion(Command):
    """legacy-2015: the conclusion of headquarters' experts, recorded by the reviewer."""

    assessment_id: int
    opinion: Opinion
    reason: str = ""


@dataclass(frozen=True)
class DeclareConflict(Command):
    """An expert's tie to an enterprise (R61: never on a panel for its goods)."""

    expert_id: int
    enterprise_id: int
    reason: str = ""


@dataclass(frozen=True)
class RemindPanels(Command):
    """The sweep reminding experts of opinions due by the next working day."""


@dataclass(frozen=True)
class SweepClocks(Command):
    """The sweep raising statutory-clock reminders (75 %) and breach alerts (R19–R22)."""


@dataclass(frozen=True)
class DeemAcceptances(Command):
    """The sweep accepting applications with no correction notice within the window (R17)."""


# -- the enterprise's own administration (workflow/service/enterprises.py) ------------------------------------------


@dataclass(frozen=True)
class UpdateEnterpriseProfile(Command):
    """The enterprise admin edits the profile; None keeps a field. The USCC is the identity and never changes."""

    enterprise_id: int
    name: str | None = None
    name_en: str | None = None
    address: str | None = None
    contact_person: str | None = None
    phone: str | None = None
    version: int | None = None  # the version the admin edited; a stale edit is a conflict, not an overwrite


@dataclass(frozen=True)
class AddEnterpriseUser(Command):
    """Another applicant user of the admin's enterprise; the web layer hashes the password (never sent here)."""

    enterprise_id: int
    username: str
    display_name: str
    email: str
    password_hash: str
    is_admin: bool = False


@dataclass(frozen=True)
class ChangeEnterpriseUser(Command):
    """Deactivate or reactivate a user, make or unmake an admin; None keeps a flag."""

    enterprise_id: int
    user_id: int
    active: bool | None = None
    is_admin: bool | None = None


# -- biosafety capability (R9(b), R14, R62; workflow/service/biosafety.py) -------------------------------------------


@dataclass(frozen=True)
class RegisterLaboratory(Command):
    """The enterprise's admin adds a lab; `evidence` is the stored document (sha256, file name) when one came."""

    enterprise_id: int
    details: LabDetails
    evidence: tuple[str, str] | None = None


@dataclass(frozen=True)
class ChangeLaboratory(Command):
    """The admin edits a lab or attaches new evidence (None keeps either); the verification starts again."""

    lab_id: int
    details: LabDetails | None = None
    evidence: tuple[str, str] | None = None
    version: int | None = None


@dataclass(frozen=True)
class VerifyLaboratory(Command):
    """An officer of the district confirms the lab's level and accreditation against its evidence (R9(b))."""

    lab_id: int
    version: int | None = None


@dataclass(frozen=True)
class FlagLapsedLaboratories(Command):
    """The daily sweep: active certificates whose lab's qualification lapsed are held for officer review (R62)."""
