"""Languages of the pages: zh-Hans by default, English on request, and the words for the engine's codes.

The engine's codes (states, roles, grades, triggers) stay English identifiers in the data; people read them through
the label tables here, which go through gettext like every other string on the pages.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import cast

from apiflask import APIFlask
from flask import has_request_context, session
from flask_babel import Babel, get_locale, get_translations
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from jinja2 import pass_context
from jinja2.runtime import Context
from markupsafe import Markup

from web.context import container
from web.ui import reasons

CHINESE = "zh_Hans_CN"
ENGLISH = "en"
LANGUAGES = {CHINESE: "中文", ENGLISH: "English"}
HTML_LANG = {CHINESE: "zh-Hans", ENGLISH: "en"}


def register(app: APIFlask) -> None:
    app.config.setdefault("BABEL_DEFAULT_LOCALE", CHINESE)
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", "translations")
    Babel(app, locale_selector=select_locale)
    # Flask-Babel's `_` asks for the catalog at every string; a card list says "Grade" fifty times (see _MESSAGES).
    app.jinja_env.install_gettext_callables(  # type: ignore[attr-defined]
        gettext=_template_gettext,
        ngettext=lambda singular, plural, n: get_translations().ungettext(singular, plural, n),
        newstyle=True,
        pgettext=lambda context, string: get_translations().upgettext(context, string),
        npgettext=lambda context, singular, plural, n: get_translations().unpgettext(context, singular, plural, n),
    )
    stock_gettext = cast(Callable[..., Markup], app.jinja_env.globals["gettext"])  # Jinja's newstyle `_()`
    app.jinja_env.globals["gettext"] = _remembered_literals(stock_gettext)
    app.jinja_env.globals.update(label=label, district=district, LANGUAGES=LANGUAGES, HTML_LANG=HTML_LANG)
    app.jinja_env.filters["answer"] = answer
    app.jinja_env.filters["reason"] = reasons.translate
    app.context_processor(lambda: {"current_locale": str(get_locale())})


def select_locale() -> str:
    """The language picked on the page, else the user's stored preference, else Chinese."""
    chosen = session.get("lang")
    if chosen in LANGUAGES:
        return str(chosen)
    if getattr(current_user, "is_authenticated", False) and current_user.locale == "en":
        return ENGLISH
    return CHINESE


STATES: Mapping[str, object] = {
    "draft": _l("Draft"),
    "submitted": _l("Submitted"),
    "correction_requested": _l("Correction requested"),
    "accepted": _l("Accepted"),
    "under_review": _l("Under review"),
    "risk_assessment": _l("Risk assessment"),
    "granted": _l("Granted"),
    "denied": _l("Denied"),
    "not_accepted": _l("Not accepted"),
    "withdrawn": _l("Withdrawn"),
    "active": _l("Active"),
    "exhausted": _l("Used up"),
    "expired": _l("Expired"),
    "revoked": _l("Revoked"),
    "cancelled": _l("Cancelled"),
    "declared": _l("Declared"),
    "doc_checked": _l("Documents checked"),
    "port_review": _l("Held at the port"),
    "inspection": _l("Inspection"),
    "lab_hold": _l("Laboratory hold"),
    "released": _l("Released"),
    "disposal_ordered": _l("Disposal ordered"),
    "closed": _l("Closed"),
    "rejected": _l("Rejected"),
    "follow_up_pending": _l("Follow-up pending"),
    "follow_up_passed": _l("Follow-up passed"),
    "follow_up_failed": _l("Follow-up failed"),
    "open": _l("Open"),
    "concluded": _l("Concluded"),
    "requested": _l("Requested"),
    "approved": _l("Approved"),
    "refused": _l("Refused"),
    "lapsed": _l("Lapsed: the certificate ended first"),
}
ROLES: Mapping[str, object] = {
    "applicant": _l("Applicant"),
    "acceptor": _l("Acceptor"),
    "reviewer": _l("Reviewer"),
    "decider": _l("Decider"),
    "head": _l("Head"),
    "expert": _l("Expert"),
    "port_officer": _l("Port officer"),
    "dest_officer": _l("Destination officer"),
    "auditor": _l("Auditor"),
    "admin": _l("Administrator"),
    "system": _l("System"),
}
TRIGGERS: Mapping[str, object] = {
    "create": _l("Created"),
    "submit": _l("Submit"),
    "resubmit": _l("Resubmit"),
    "withdraw": _l("Withdraw"),
    "screen": _l("Screened"),
    "accept": _l("Accept"),
    "request_correction": _l("Request correction"),
    "not_accept": _l("Refuse to accept"),
    "start_review": _l("Start review"),
    "refer_assessment": _l("Refer to risk assessment"),
    "assessment_done": _l("Assessment concluded"),
    "assessment_correction": _l("Panel asks for more documents"),
    "override_assessment": _l("Override the panel's rejection"),
    "extend": _l("Extend"),
    "grant": _l("Grant"),
    "deny": _l("Deny"),
    "exhaust": _l("Used up"),
    "expire": _l("Expire"),
    "revoke": _l("Revoke"),
    "cancel": _l("Cancel"),
    "reactivate": _l("Reactivate"),
    "request_cancellation": _l("Request cancellation"),
    "request_amendment": _l("Request an amendment"),
    "amend": _l("Amend"),
    "refuse_change": _l("Refuse the change"),
    "start_replacement": _l("Replacement applied for"),
    "supersede": _l("Superseded by a replacement"),
    "superseded": _l("Superseded by a replacement"),
    "replaces": _l("Replaces a certificate"),
    "declare": _l("Declare"),
    "pass_check": _l("Check passed"),
    "hold": _l("Hold"),
    "clear_hold": _l("Clear hold"),
    "reject": _l("Reject"),
    "release": _l("Release"),
    "inspect": _l("Route to inspection"),
    "pass_inspection": _l("Inspection passed"),
    "sample": _l("Sample for the laboratory"),
    "lab_pass": _l("Laboratory passed"),
    "fail": _l("Fail"),
    "dispose": _l("Disposal done"),
    "void": _l("Void"),
    "await_follow_up": _l("Await follow-up"),
    "follow_up_pass": _l("Follow-up passed"),
    "follow_up_fail": _l("Follow-up failed"),
    "login": _l("Signed in"),
    "login_failed": _l("Sign-in refused"),
    "edit_profile": _l("Profile edited"),
    "add_user": _l("User added"),
    "deactivate": _l("Deactivate"),
    "make_admin": _l("Made admin"),
    "unmake_admin": _l("Admin removed"),
    # biosafety capability (R9(b), R14, R62): a lab's own events, and the certificate's hold for a lapsed lab
    "register_lab": _l("Laboratory registered"),
    "change_lab": _l("Laboratory changed"),
    "verify_lab": _l("Laboratory verified"),
    "biosafety_lapsed": _l("Held: laboratory qualification lapsed"),
    "biosafety_restored": _l("Hold lifted: laboratory verified again"),
    # events that move no state: notes on the trail (catalog helper, issue #16 item 3)
    "issue": _l("Certificate issued"),
    "claim": _l("Claimed"),
    "unclaim": _l("Claim released"),
    "release_claim": _l("Claim released"),
    "reassign": _l("Reassigned"),
    "revise": _l("Goods revised"),
    "remove_document": _l("Document removed"),
    "review_opinion": _l("Review opinion"),
    "panel_drawn": _l("Expert panel drawn"),
    "referred_to_headquarters": _l("Referred to headquarters experts"),
    "inspection_left_pending": _l("Inspection passed on"),
    "follow_up_overdue": _l("Follow-up overdue"),
    "request_reversal": _l("Reversal requested"),
    "reversal_approved": _l("Reversal approved"),
    "reversal_refused": _l("Reversal refused"),
    # credit events on an enterprise (docs/credit.md)
    "downgrade": _l("Credit downgrade"),
    "discredit": _l("Found discredited"),
    "restoration": _l("Credit restored"),
    "certification": _l("Certified"),
    "record_violation": _l("Violation case recorded"),
}
DIRECTIONS: Mapping[str, object] = {"entry": _l("Entry"), "exit": _l("Exit")}
CATEGORIES: Mapping[str, object] = {
    "microorganism": _l("Microorganism"),
    "human_tissue": _l("Human tissue"),
    "biological_product": _l("Biological product"),
    "blood": _l("Blood"),
    "blood_product": _l("Blood product"),
}
ENTRY_KINDS: Mapping[str, object] = {
    "reserve": _l("Reservation"),
    "commit": _l("Written off"),
    "release": _l("Released back"),
    "reverse": _l("Reversal"),
}
REVERSAL_REASONS: Mapping[str, object] = {
    "declaration_deleted": _l("Declaration deleted"),
    "clerical_error": _l("Clerical error"),
    "quantity_correction": _l("Quantity correction"),
}
WRITE_OFF_MODES: Mapping[str, object] = {"single": _l("Single use"), "multiple": _l("Multiple write-offs")}
TIERS: Mapping[str, object] = {
    "advanced_certified": _l("Advanced certified"),
    "certified": _l("Certified"),
    "general_certified": _l("General certified"),
    "general": _l("General credit"),
    "regular": _l("Regular"),
    "discredited": _l("Discredited"),
    "seriously_discredited": _l("Seriously discredited"),
}
OPINIONS: Mapping[str, object] = {  # an expert's opinion and a panel's outcome (A8: 通过 / 补正材料 / 驳回)
    "pass": _l("Pass"),
    "correct": _l("Needs more documents"),
    "reject": _l("Turn down"),
}
DOCUMENTS: Mapping[str, object] = {  # R12–R15: the document types an application carries
    "application_form": _l("Application form"),
    "goods_description": _l("Description of the goods"),
    "pathogen_description": _l("Description of the pathogen"),
    "biosafety_capability": _l("Proof of biosafety control capability"),
    "lab_qualification": _l("Laboratory qualification"),
    "bsl3_accreditation": _l("BSL-3 laboratory accreditation"),
    "provincial_health_approval": _l("Provincial health authority approval"),
    "certificate_of_sale": _l("Certificate of sale"),
    "hgr_approval": _l("Human genetic resources approval"),
    "import_drug_registration": _l("Imported drug registration"),
    "business_licence": _l("Business licence"),
    "entity_basic_information": _l("Basic information of the entity"),
    "biosafety_system_documents": _l("Biosafety management system documents"),
    "id_copy": _l("Copy of the identity document"),
    "other": _l("Other document"),
}
POLICIES: Mapping[str, object] = {  # the policy profiles of config/policies, by id
    "legacy-2015": _l("Before the reform (2015)"),
    "xiamen-2016": _l("Xiamen reform (2016)"),
    "gacc-2026": _l("GACC Order 281 (2026)"),
}
REGIMES: Mapping[str, object] = {  # the customs credit orders (R68–R71)
    "order-225": _l("GACC Order 225"),
    "order-237": _l("GACC Order 237"),
    "order-251": _l("GACC Order 251"),
    "order-282": _l("GACC Order 282"),
}
DISPOSALS: Mapping[str, object] = {"return": _l("Return"), "destroy": _l("Destroy")}
CREDIT_CHANGES: Mapping[str, object] = {  # what an officer records about an enterprise's tier (R72, R73)
    "downgrade": _l("Downgrade"),
    "discredit": _l("Discredit"),
    "restoration": _l("Restoration"),
    "certification": _l("Certification"),
}
CREDIT_GROUNDS: Mapping[str, object] = {  # R72's grounds for discredit, and those for going up (R69–R71)
    "smuggling": _l("Smuggling crime or violation"),
    "violation_rate": _l("Violation rate above 1‰ and penalties above ¥1m a year"),
    "tax_unpaid": _l("Tax unpaid more than 3 months after the due date"),
    "fines_unpaid": _l("Fines above ¥10k unpaid more than 6 months after the due date"),
    "obstruction": _l("Obstructing officers"),
    "bribery": _l("Bribery"),
    "declaration_errors": _l("Declaration-error rate more than double the national average"),
    "violation_case": _l("A recorded violation case"),
    "certification_lost": _l("Certification lost at re-audit"),
    "no_discredit_period": _l("The period without a discredit event has passed"),
    "credit_repaired": _l("Credit repaired"),
    "certification_audit": _l("Certification audit passed"),
}
VIOLATIONS: Mapping[str, object] = {  # R74: what a violation case is about
    "refused_quarantine": _l("Refusing quarantine"),
    "forged_certificate": _l("Forging or altering certificates"),
    "concealed_goods": _l("Concealing prohibited special goods"),
    "unpermitted_use": _l("Moving, selling or using special goods without permission"),
    "other": _l("Another violation"),
}
OBJECTS: Mapping[str, object] = {  # the engine's lifecycles, as its refusals name them
    "application": _l("Application"),
    "certificate": _l("Certificate"),
    "declaration": _l("Declaration"),
}
FIELDS: Mapping[str, object] = {  # the input a refusal on an error page is about
    "object_type": _l("Object"),
    "object_id": _l("Object id"),
    "qty": _l("Quantity"),
    "quantity": _l("Quantity"),
    "reason": _l("Reason"),
    "reason_code": _l("Reason code"),
    "grade": _l("Risk grade"),
    "certificate_no": _l("Certificate number"),
    "declaration_no": _l("Declaration number"),
    "line_no": _l("Line"),
    "file": _l("File"),
    "doc_type": _l("Document type"),
    "period": _l("Period"),
    "opinion": _l("Opinion"),
    "username": _l("User name"),
    "direction": _l("Direction"),
    "district": _l("District"),
    "email": _l("E-mail"),
    "port": _l("Port"),
    "contact_person": _l("Contact person"),
    "phone": _l("Telephone"),
    "agent": _l("Agent"),
    "ports": _l("Ports of entry or exit"),
}
# R43 / C7: what a holder asks to change on a certificate.
CHANGE_KINDS: Mapping[str, object] = {"cancellation": _l("Cancellation"), "amendment": _l("Amendment")}
TABLES: Mapping[str, Mapping[str, object]] = {
    "field": FIELDS,
    "change": CHANGE_KINDS,
    "object": OBJECTS,
    "assessor": {"direct_customs": _l("The direct customs' expert panel"), "gacc_hq": _l("GACC headquarters experts")},
    "document": DOCUMENTS,
    "policy": POLICIES,
    "regime": REGIMES,
    "disposal": DISPOSALS,
    "tier": TIERS,
    "opinion": OPINIONS,
    "reversal": REVERSAL_REASONS,
    "state": {**STATES, **TIERS},  # an enterprise's audit events go from one credit tier to another (docs/credit.md)
    "role": ROLES,
    "trigger": TRIGGERS,
    "direction": DIRECTIONS,
    "category": CATEGORIES,
    "entry": ENTRY_KINDS,
    "mode": WRITE_OFF_MODES,
    "credit_change": CREDIT_CHANGES,
    "ground": CREDIT_GROUNDS,
    "violation": VIOLATIONS,
}


def label(kind: str, code: object) -> object:
    """The words for a code; an unknown code is shown as itself, marked as data so no one mistakes it for prose."""
    if code is None or code == "":
        return "—"
    found = TABLES[kind].get(str(code))
    if found is None:
        return Markup('<span translate="no">{}</span>').format(code)
    return _in_language(found)


# The catalog is loaded once per process and never changes while it runs, so neither do a label's words in a
# language: translated at first use, then looked up (a queue page shows some 150 labels).
_LABELS: dict[str, dict[int, Markup]] = {}


def _in_language(words: object) -> object:
    """A table's lazy words in the page's language, as the page renders them (Markup, as their __html__ gives)."""
    locale = get_locale() if has_request_context() else None  # asked each time: a CSV may force another language
    if locale is None or not hasattr(words, "__html__"):
        return words  # outside a request: translated lazily, wherever they end up; plain text: escaped as it was
    known = _LABELS.setdefault(str(locale), {})
    found = known.get(id(words))
    if found is None:
        found = known[id(words)] = Markup(str(words))  # the tables live as long as the process: ids stay theirs
    return found


_TABLES_IN_LANGUAGE: dict[tuple[str, str], Mapping[str, object]] = {}


def words_in_language(kind: str) -> Mapping[str, object]:
    """A whole label table in the page's language, code -> words as `label` gives them, built once per language.

    For a long list that shows the same few codes in every row (web/ui/queue_rows.py): one lookup per page instead
    of one per cell. A code missing from it is `label`'s to show ("—", or the code itself marked as data).
    """
    key = (str(get_locale()), kind)
    found = _TABLES_IN_LANGUAGE.get(key)
    if found is None:
        found = _TABLES_IN_LANGUAGE[key] = {code: _in_language(words) for code, words in TABLES[kind].items()}
    return found


def labels_in_language(kind: str) -> Callable[[object], object]:
    """`label` for one kind, for a long list: the page's language's table looked up once, `label` for the rest.

    What it gives is what `label` gives (words for a known code; "—", or the code marked as data, otherwise).
    """
    words = words_in_language(kind)

    def label_of(code: object) -> object:
        found = words.get(code) if isinstance(code, str) else None
        return found if found is not None else label(kind, code)

    return label_of


_MESSAGES: dict[str, dict[str, str]] = {}  # the templates' strings by language, translated at first use
MESSAGES_KEPT = 5000  # the catalog holds about 950 messages


def _template_gettext(string: str) -> str:
    """What Flask-Babel's template gettext returns (the catalog's ugettext in the page's language), remembered."""
    known = _MESSAGES.setdefault(str(get_locale()), {})  # asked each time: a CSV may force another language
    found = known.get(string)
    if found is None:
        found = get_translations().ugettext(string)
        if len(known) < MESSAGES_KEPT:  # the templates' literals; a `_(variable)` some day must not grow it forever
            known[string] = found
    return found


_LITERALS: dict[str, dict[str, Markup]] = {}  # `_('...')` without values, as the page shows it, by language


def _remembered_literals(stock: Callable[..., Markup]) -> Callable[..., Markup]:
    """Jinja's `_()`, which gives a literal without values the same markup in a language every time: remembered.

    The stock call asks Flask-Babel for the page's language, wraps the words in Markup and formats them with no
    values (a page says fifty such words); the language is in the template's context already (`current_locale`,
    set at each render by the context processor `register` installs), else asked for as before.
    """

    @pass_context
    def gettext(context: Context, string: str, **variables: object) -> Markup:
        if variables or not context.eval_ctx.autoescape:
            return stock(context, string, **variables)
        known = _LITERALS.setdefault(context.get("current_locale") or str(get_locale()), {})
        found = known.get(string)
        if found is None:
            found = stock(context, string)
            if len(known) < MESSAGES_KEPT:
                known[string] = found
        return found

    return gettext


def districts() -> list[tuple[str, str]]:
    """(code, name) of every configured district, in the page's language."""
    by_code = getattr(container().deps.policies, "by_code", {})
    return [(code, district(code)) for code in sorted(by_code)]


def district(code: str | None) -> str:
    if not code:
        return "—"
    found = getattr(container().deps.policies, "by_code", {}).get(code)
    if found is None:
        return code
    return str(found.name_en if str(get_locale()) == ENGLISH else found.name_zh)


def answer(value: object) -> object:
    """A rule's result for people: yes/no in their language, lists joined, a route as its parts; codes stay data."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return _l("Yes") if value else _l("No")
    if isinstance(value, list | tuple):
        words = [_words(item) for item in value]
        if value and all(word is not None for word in words):
            return str(_l(", ")).join(str(word) for word in words)
        return Markup('<span translate="no">{}</span>').format(", ".join(str(item) for item in value))
    if isinstance(value, dict):  # a route: each part under its name, in the reader's words
        parts = [(ANSWER_PARTS.get(key, key), answer(item)) for key, item in value.items() if item not in (None, 0)]
        return Markup(str(_l("; "))).join(Markup("{}: {}").format(name, item) for name, item in parts) or "—"
    found = _words(value)
    if found is not None:
        return found
    return Markup('<span translate="no">{}</span>').format(value)


ANSWER_PARTS: Mapping[str, object] = {  # the parts of an assessment route (R32, R61, R63)
    "required": _l("Assessment required"),
    "assessor_level": _l("Assessed by"),
    "lead_time_working_days": _l("Lead time (working days)"),
    "entity_reuse_months": _l("Reusable for (months)"),
}
ANSWER_KINDS = ("mode", "document", "opinion", "disposal", "state", "direction", "category", "tier", "assessor")


def _words(code: object) -> object | None:
    """The words for a code a rule answered with (a write-off mode, a document type, ...), if it is one."""
    for kind in ANSWER_KINDS:
        found = TABLES[kind].get(str(code))
        if found is not None:
            return found
    return None
