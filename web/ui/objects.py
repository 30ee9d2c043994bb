"""The page of each object (application, certificate, declaration), shared by every role that may see it.

An application page offers exactly the actions its lifecycle allows from the current state to the reader's role
(workflow/domain/lifecycle.py), and says who held each post so separation of duties (R11) is visible.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any, Protocol, TypeVar, cast

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_wtf import FlaskForm
from sqlalchemy.orm import Session

from web import certificate_pdf as pdfs
from web.authz import visible
from web.context import container
from web.request_reads import keep_for_the_page, request_reads
from web.ui import diagram
from web.ui.auth import actor, allow, allow_each
from web.ui.forms import (
    CorrectionForm,
    DocumentForm,
    OptionalReasonForm,
    ReasonForm,
    options,
    posted_deficiencies,
    posted_reason,
)
from web.ui.i18n import label
from web.ui.refusals import AT_FIELDS, Refusal, back_to_the_form, back_to_the_page, show_at_field
from web.uploads import attachment, read_upload
from workflow.domain import commands as c
from workflow.domain import rules
from workflow.domain.actors import Actor, Role
from workflow.domain.errors import InvalidInput, NotFound
from workflow.domain.goods import Direction, GoodsLine, RiskGrade
from workflow.domain.lifecycle import APPLICATION, CERTIFICATE, DECLARATION, CertState
from workflow.domain.permissions import ENDING_ACTIONS, Action, role_may
from workflow.domain.review import WORKING_PAPERS, Recommendation
from workflow.service.handlers import documents_needed
from workflow.store import (
    api_reads,
    certificate_documents,
    credit_reads,
    granted_products,
    journey_reads,
    queries,
    ui_queries,
)
from workflow.store.tables import ApplicationRow, CertificateRow

OwnedRow = ApplicationRow | CertificateRow

blueprint = Blueprint("ui_objects", __name__, url_prefix="/ui")
READERS = tuple(role for role in Role if role is not Role.SYSTEM)
CLOSED = ("draft", "granted", "denied", "not_accepted", "withdrawn")  # no queue holds these: nobody claims them


class _Read(Protocol):
    """A page's first read: the object's row (whose owner the check asks) and what was read with it."""

    @property
    def row(self) -> OwnedRow: ...


R = TypeVar("R", bound=_Read)


def require_visible(kind: str, object_id: int, read: Callable[[Session, int], R | None] | None = None) -> R | None:
    """Another enterprise's or district's object is not found, exactly as if it did not exist.

    Given the page's first read (the application's or the certificate's row with what is joined to it), it reads
    that instead of the owner's two columns, keeps it in the page's session, where the page's own reads by id find
    the row, and returns it: the page needs no second read. A certificate is always read so (its row is small).
    """
    if not 1 <= object_id <= api_reads.max_id(kind):
        raise NotFound(_("Not found."))
    if read is None and kind == "certificate_id":
        read = cast(Callable[[Session, int], R | None], certificate_documents.certificate_read)
    with request_reads() as session:
        if read is None:
            found = api_reads.owner(session, kind, object_id)
            done = None
        else:
            done = read(session, object_id)
            keep_for_the_page(session, done)
            found = api_reads.Owner(done.row.enterprise_id, done.row.district) if done is not None else None
    if found is None or not visible(actor(), found):
        raise NotFound(_("Not found."))
    return done


# -- application ----------------------------------------------------------------------------------------------------


@blueprint.get("/applications/<int:application_id>")
@allow(READERS)
def application(application_id: int) -> str:
    return _application_page(
        application_id, read=require_visible("application_id", application_id, queries.application_read)
    )


def _application_page(
    application_id: int, refusal: Refusal | None = None, read: queries.ApplicationRead | None = None
) -> str:
    """The page; after a refused action, that action's form holds what was posted, with the message at it.

    Everything is read in the page's one session (web/request_reads.py), each table once: the application's row,
    its certificate and the certificate it replaces come in one read (the visibility check's on a GET), the lines
    once for the view and the goods table, the enterprise with R15's answer; its credit and earlier approvals only
    for a reader shown them.
    """
    me, deps = actor(), container().deps
    with request_reads() as session:
        read = read or queries.application_read(session, application_id)
        if read is None:
            raise NotFound(_("Not found."))
        view, goods = queries.application_page_view(session, read, deps.calendar)
        trail = api_reads.audit_trail(session, "application", application_id)
        posts = ui_queries.application_posts(session, application_id)
        queue_open = view["state"] not in CLOSED
        claimable = queue_open and role_may(me.role, Action.CLAIM)  # the claim box is the only one naming officers
        # It names them for the holder's name and the head's reassignment list: an unclaimed file, to anyone else,
        # needs neither.
        names_officers = claimable and (view["claimed_by"] is not None or role_may(me.role, Action.REASSIGN))
        officers = ui_queries.district_officers(session, view["district"]) if names_officers else []
        found = ui_queries.file_enterprise(session, view["enterprise_id"], _shows_history(me))
        if found is not None:
            keep_for_the_page(session, found.row)  # the applicant's local time reads its district from it
        enterprise = found.profile if found is not None else None
        assessments = ui_queries.assessments_of(session, application_id)
        panel = journey_reads.panel_opinions(session, application_id) if assessments and _reads_internals(me) else {}
        required, lines = _file_facts(session, application_id, enterprise, goods, found.has_grant if found else None)
    missing = [doc for doc in required if doc not in {document["doc_type"] for document in view["documents"]}]
    return render_template(
        "ui/application.html",
        app=view,
        replaces_certificate_id=read.replaces_certificate_id,
        lines=lines,
        trail=trail if _reads_internals(me) else [e for e in trail if e["trigger"] not in WORKING_PAPERS],
        posts=posts,
        enterprise=enterprise,
        credit=_credit_today(enterprise) if _shows_history(me) else None,
        assessments=assessments,
        panel=panel,
        review_opinion=_last_review_opinion(trail) if _reads_internals(me) else None,
        required=required,
        missing=missing,
        notice=_last_notice(trail),
        actions=_offered(me, view["state"], missing),
        own_posts=[post for post, user in posts.items() if user and user["id"] == me.user_id],
        officers=officers,
        holder=next((officer for officer in officers if officer["id"] == view["claimed_by"]), None),
        queue_open=queue_open,
        svg=diagram.render(APPLICATION, view["state"]),
        grades=[grade.value for grade in RiskGrade],
        forms=_action_forms(required, posted=False, refusal=refusal),
        refusal=refusal,
        refused_forms=_refused_forms(required, refusal),
        at_fields=AT_FIELDS,
    )


def _shows_history(me: Actor) -> bool:
    """The enterprise's credit and earlier approvals are customs' reading (ui/application.html), not the holder's."""
    return me.role is not Role.APPLICANT


def _credit_today(enterprise: dict[str, Any] | None) -> dict[str, Any] | None:
    """R73: the tier in force today and a pending change, from the credit records the profile has already read."""
    if enterprise is None:
        return None
    return credit_reads.summary_today(enterprise["credit_records"], enterprise["district"], container().deps)


def _action_forms(required: list[str], posted: bool, refusal: Refusal | None = None) -> Mapping[str, FlaskForm]:
    """The forms of the action buttons; only a refused action's are filled from what was posted.

    The document form keeps the chosen type (a browser never lets a page fill in a file again).
    """
    data = {} if posted else {"formdata": None}

    def document() -> FlaskForm:
        form = _document_form(required)
        if refusal is not None and refusal.action == "attach":
            show_at_field(form, refusal)
        return form

    return _FormsOnDemand({"reason": lambda: ReasonForm(**data), "optional": lambda: OptionalReasonForm(**data),
                           "correction": lambda: CorrectionForm(**data), "document": document})  # fmt: skip


class _FormsOnDemand(Mapping[str, FlaskForm]):
    """Forms by name, each built when the page first asks for it.

    Most readers are offered one action or none: building all four forms on every view (the document form with its
    choices in words) was work for nothing.
    """

    def __init__(self, builders: dict[str, Callable[[], FlaskForm]]) -> None:
        self._builders = builders
        self._built: dict[str, FlaskForm] = {}

    def __getitem__(self, name: str) -> FlaskForm:
        if name not in self._built:
            self._built[name] = self._builders[name]()
        return self._built[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._builders)

    def __len__(self) -> int:
        return len(self._builders)


def _refused_forms(required: list[str], refusal: Refusal | None) -> Mapping[str, FlaskForm] | None:
    if refusal is None:
        return None
    forms = _action_forms(required, posted=True)
    for name in ("reason", "optional", "correction"):
        show_at_field(forms[name], refusal)
    return forms


def _offered(me: Actor, state: str, missing: list[str]) -> list[str]:
    """The lifecycle's triggers this role may fire now; submit only once every required document is attached (A1)."""
    offered = [trigger for trigger in APPLICATION.allowed_triggers(state) if _may(me, trigger)]
    if state == "under_review" and _may(me, "review_opinion"):
        offered.append("review_opinion")
    return [trigger for trigger in offered if not (trigger == "submit" and missing)]


def _reads_internals(me: Actor) -> bool:
    """The reviewer's opinion and each expert's are customs' working papers: not the applicant's, not other experts'."""
    return me.role.is_customs and me.role is not Role.EXPERT


def _may(me: Actor, trigger: str) -> bool:
    """A button only for what `act` would let this role do: the same table, the same question."""
    return trigger in TRIGGER_ACTIONS and role_may(me.role, TRIGGER_ACTIONS[trigger])


def _required_documents(application_id: int) -> list[str]:
    with request_reads() as session:
        row = session.get(ApplicationRow, application_id)
        found = ui_queries.file_enterprise(session, row.enterprise_id, with_history=False) if row else None
        if found is None:
            raise NotFound(_("Not found."))
        return _file_facts(session, application_id, found.profile, has_grant=found.has_grant)[0]


def _file_facts(
    session: Session,
    application_id: int,
    enterprise: dict[str, Any] | None,
    lines: list[GoodsLine] | None = None,
    has_grant: bool | None = None,
) -> tuple[list[str], list[GoodsLine]]:
    """The documents R12–R16 ask for, and the goods lines with their identity (manufacturer, origin, use, BSL…).

    The submission check's own list (`documents_needed`, which `required_documents` applies to what the unit of work
    reads) on the facts this page read already (the lines and R15's answer, when read with the view and the
    enterprise); R10 refuses the applicant outright: none.
    """
    row = session.get(ApplicationRow, application_id)
    if row is None or enterprise is None:
        raise NotFound(_("Not found."))
    lines = ui_queries.goods_lines(session, application_id) if lines is None else lines
    natural_person = bool(enterprise["is_natural_person"])
    if not rules.applicant_may_apply(lines, natural_person).result:
        return [], lines
    if has_grant is None:
        has_grant = granted_products.has_grant(session.connection(), row.enterprise_id)  # R15: the entity's first
    return list(documents_needed(lines, Direction(row.direction), has_grant, natural_person).result), lines


def _document_form(required: list[str]) -> DocumentForm:
    form = DocumentForm()
    form.doc_type.choices = options((doc, label("document", doc)) for doc in (*required, "other"))
    return form


def _last_review_opinion(trail: list[dict[str, Any]]) -> dict[str, Any] | None:
    """A6: the reviewer's latest opinion, as the decider reads it before deciding."""
    return next((event for event in reversed(trail) if event["trigger"] == "review_opinion"), None)


def _last_notice(trail: list[dict[str, Any]]) -> list[str]:
    """The deficiencies of the latest correction notice (R17: one notice lists them all)."""
    notices = [event for event in trail if event["trigger"] == "request_correction"]
    return [item for item in notices[-1]["reason"].split("; ") if item] if notices else []


@blueprint.post("/applications/<int:application_id>/documents")
@allow(Action.ATTACH_DOCUMENT)
@back_to_the_page(lambda application_id, refusal: _application_page(application_id, refusal), lambda **_: "attach")
def attach(application_id: int) -> Response:
    """The API's upload checks: size limit, type sniffed from the bytes, safe name; stored by SHA-256."""
    require_visible("application_id", application_id)
    form = _document_form(_required_documents(application_id))
    if not form.validate_on_submit():
        raise InvalidInput(_("Choose a document type from the list."), field="doc_type")
    upload = read_upload(request.files.get("file"))
    command = c.AttachDocument(
        actor(), application_id, form.doc_type.data, upload.filename, upload.content_type, upload.content
    )
    container().bus.handle(command)
    flash(_("Document attached."))
    return _back(application_id)


@blueprint.post("/applications/<int:application_id>/documents/<int:document_id>/remove")
@allow(Action.REMOVE_DOCUMENT)
@back_to_the_page(
    lambda application_id, document_id, refusal: _application_page(application_id, refusal),
    lambda document_id, **_: f"remove-{document_id}",
)
def remove_document(application_id: int, document_id: int) -> Response:
    """A wrong attachment taken back while the applicant holds the file; kept for the record, the trail says so."""
    require_visible("application_id", application_id)
    container().bus.handle(c.RemoveDocument(actor(), application_id, document_id))
    flash(_("Document removed."))
    return _back(application_id)


@blueprint.post("/applications/<int:application_id>/copy")
@allow(Action.CREATE_APPLICATION)
@back_to_the_page(lambda application_id, refusal: _application_page(application_id, refusal), lambda **_: "copy")
def copy(application_id: int) -> Response:
    """A new draft with the same direction, district and goods lines; documents are attached afresh."""
    require_visible("application_id", application_id)
    with container().deps.uow().reading() as uow:
        found = uow.applications.get(application_id)
    me = actor()
    command = c.CreateApplication(me, me.enterprise_id or -1, found.district, found.direction, tuple(found.lines))
    flash(_("Copied into a new draft."))
    return _back(container().bus.handle(command))


@blueprint.get("/documents/<int:document_id>")
@allow(READERS)
def document(document_id: int) -> Response:
    """An attachment, to whoever may see its application; always a download, in the type its bytes were sniffed as."""
    require_visible("document_id", document_id)
    with request_reads() as session:
        found = ui_queries.document(session, document_id)
    if found is None:
        raise NotFound(_("Not found."))
    content = container().deps.documents.get(found["sha256"])
    response = Response(content, mimetype=found["content_type"])
    response.headers["Content-Disposition"] = attachment(found["filename"])
    response.headers["Cache-Control"] = "private, no-store"
    return response


Build = Callable[[Actor, int], c.Command]


def _reason() -> str:
    return posted_reason(request.form.get("reason", ""))


def _checked(name: str) -> bool:
    return request.form.get(name) == "yes"


def _deficiencies() -> tuple[str, ...]:
    return posted_deficiencies(request.form.get("deficiencies", ""))


def _grade() -> RiskGrade | None:
    chosen = request.form.get("grade", "")
    if chosen and chosen not in {grade.value for grade in RiskGrade}:
        raise InvalidInput(_("Unknown risk grade."), field="grade")
    return RiskGrade(chosen) if chosen else None


ACTIONS: dict[str, Build] = {
    "submit": lambda a, i: c.SubmitApplication(a, i),
    "resubmit": lambda a, i: c.ResubmitApplication(a, i),
    "withdraw": lambda a, i: c.WithdrawApplication(a, i, _reason()),
    "accept": lambda a, i: c.AcceptApplication(a, i),
    "request_correction": lambda a, i: c.RequestCorrection(a, i, deficiencies=_deficiencies()),
    "not_accept": lambda a, i: c.NotAcceptApplication(a, i, _reason(), ("R18",)),
    "start_review": lambda a, i: c.StartReview(a, i),
    "review_opinion": lambda a, i: c.RecordReviewOpinion(a, i, _reason(), _recommendation()),
    "refer_assessment": lambda a, i: c.ReferAssessment(a, i, _reason()),
    "extend": lambda a, i: c.ExtendDeadline(a, i, _reason()),
    "override_assessment": lambda a, i: c.OverrideAssessment(a, i, _reason()),
    "grant": lambda a, i: c.GrantApplication(a, i, _reason(), _grade()),
    "deny": lambda a, i: c.DenyApplication(a, i, _reason(), false_information=_checked("false_information")),
    # The queue's claims: advisory and audited, not lifecycle transitions.
    "claim": lambda a, i: c.ClaimApplication(a, i),
    "unclaim": lambda a, i: c.UnclaimApplication(a, i),
    "reassign": lambda a, i: c.ReassignApplication(a, i, user_id=_user_id()),
}
TRIGGER_ACTIONS = {trigger: Action(f"application.{trigger}") for trigger in ACTIONS}


def _recommendation() -> Recommendation:
    chosen = request.form.get("recommendation", "")
    if chosen not in {choice.value for choice in Recommendation}:
        raise InvalidInput(_("Choose a recommendation."), field="recommendation")
    return Recommendation(chosen)


def _user_id() -> int:
    chosen = request.form.get("user_id", "")
    if not chosen.isdigit():
        raise InvalidInput(_("Choose an officer."), field="user_id")
    return int(chosen)


@blueprint.post("/applications/<int:application_id>/act/<trigger>")
@allow_each("trigger", TRIGGER_ACTIONS)
@back_to_the_form(lambda application_id, refusal: _application_page(application_id, refusal), "trigger")
def act(application_id: int, trigger: str) -> Response:
    """One action: 403 for a role the permission table does not give it, as on the API; the engine checks again."""
    require_visible("application_id", application_id)
    container().bus.handle(ACTIONS[trigger](actor(), application_id))
    flash(_("Done."))
    return _back(application_id)


@blueprint.post("/certificates/<int:certificate_id>/end/<trigger>")
@allow_each("trigger", ENDING_ACTIONS)
@back_to_the_form(lambda certificate_id, refusal: certificate_page(certificate_id, refusal), "trigger")
def end_certificate(certificate_id: int, trigger: str) -> Response:
    """C5–C7: withdraw, revoke or cancel with a written reason; a revocation for fraud bars the holder (R26)."""
    require_visible("certificate_id", certificate_id)
    fraud = trigger == "revoke" and _checked("fraud")
    container().bus.handle(c.EndCertificate(actor(), certificate_id, trigger, _reason(), fraud))
    flash(_("Done."))
    return redirect(url_for("ui_objects.certificate", certificate_id=certificate_id), 303)


def _back(application_id: int) -> Response:
    return redirect(url_for("ui_objects.application", application_id=application_id), 303)


# -- certificate and declaration ------------------------------------------------------------------------------------


@blueprint.get("/certificates/<int:certificate_id>")
@allow(READERS)
def certificate(certificate_id: int) -> str:
    """Remaining quantity per line (余量), the write-off history with running balances, declarations, trail."""
    return certificate_page(certificate_id, read=require_visible("certificate_id", certificate_id))


@blueprint.get("/certificates/<int:certificate_id>/pdf")
@allow(Action.DOWNLOAD_CERTIFICATE)
def certificate_pdf(certificate_id: int) -> Response:
    """The signed PDF to keep or print; until the documents worker has rendered it, a page says it is coming."""
    read = require_visible("certificate_id", certificate_id)  # the certificate's row with its signed document
    found = pdfs.found_in(read.document, read.row.certificate_no) if read is not None else None
    if found is None:
        raise NotFound(_("The certificate PDF is being prepared; please try again in a minute."))
    return pdfs.download(found)


def certificate_page(
    certificate_id: int, refusal: Refusal | None = None, read: certificate_documents.CertificateRead | None = None
) -> str:
    """The page; its signed document comes with the visibility check's read on a GET, else from `pdfs.find`."""
    with request_reads() as session:
        view = api_reads.certificate(session, certificate_id)
        history = ui_queries.ledger_history(session, ui_queries.LedgerFilter(certificate_id=certificate_id), None, 200)
        declarations = ui_queries.certificate_declarations(session, certificate_id)
        trail = api_reads.audit_trail(session, "certificate", certificate_id)
    number = view["certificate_no"]
    return render_template(
        "ui/certificate.html",
        cert=view,
        pdf=pdfs.find(certificate_id, number) if read is None else pdfs.found_in(read.document, number),
        may_download=role_may(actor().role, Action.DOWNLOAD_CERTIFICATE),
        history=history,
        declarations=declarations,
        trail=trail,
        svg=diagram.render(CERTIFICATE, view["state"]),
        endings=[
            trigger
            for trigger, action in ENDING_ACTIONS.items()
            if CERTIFICATE.can_fire(CertState(view["state"]), trigger) and role_may(actor().role, action)
        ],
        reason_form=ReasonForm(formdata=None),
        refusal=refusal,
        refused_form=_refused_reason(refusal),
        at_fields=AT_FIELDS,
    )


def _refused_reason(refusal: Refusal | None) -> ReasonForm | None:
    if refusal is None:
        return None
    form = ReasonForm()
    show_at_field(form, refusal)
    return form


@blueprint.get("/declarations/<int:declaration_id>/disposal-notice")
@allow(READERS)
def disposal_notice(declaration_id: int) -> str:
    """检验检疫处理通知书: the printable notice of a return or destruction order, from the declaration's own record."""
    require_visible("declaration_id", declaration_id)
    with request_reads() as session:
        view = api_reads.declaration(session, declaration_id)
        cert = api_reads.certificate(session, view["certificate_id"])
        holder = ui_queries.enterprise_profile(session, view["enterprise_id"])
        trail = api_reads.audit_trail(session, "declaration", declaration_id)
    order = next((event for event in reversed(trail) if event["to"] == "disposal_ordered"), None)
    if order is None or not view["disposal"]:
        raise NotFound(_("No disposal was ordered for this declaration."))
    return render_template("ui/disposal_notice.html", decl=view, cert=cert, holder=holder, order=order)


@blueprint.get("/declarations/<int:declaration_id>")
@allow(READERS)
def declaration(declaration_id: int) -> str:
    require_visible("declaration_id", declaration_id)
    return declaration_page(declaration_id)


def declaration_page(declaration_id: int, refusal: Refusal | None = None) -> str:
    """The page; after a refused port step, that step's form holds what was posted, with the message at it."""
    with request_reads() as session:
        view = api_reads.declaration(session, declaration_id)
        cert = api_reads.certificate(session, view["certificate_id"])
        route = ui_queries.declaration_route(session, declaration_id)
        trail = api_reads.audit_trail(session, "declaration", declaration_id)
        history = ui_queries.ledger_history(
            session, ui_queries.LedgerFilter(certificate_id=view["certificate_id"]), None, 50
        )
    return render_template(
        "ui/declaration.html",
        decl=view,
        cert=cert,
        route=route,
        trail=trail,
        history=[entry for entry in history if entry["declaration_id"] == declaration_id],
        allowed=DECLARATION.allowed_triggers(view["state"]),
        svg=diagram.render(DECLARATION, view["state"]),
        refusal=refusal,
    )
