"""Languages of the pages: zh-Hans by default, English on request, and the words for the engine's codes.

The engine's codes (states, roles, grades, triggers) stay English identifiers in the data; people read them through
the label tables here, which go through gettext like every other string on the pages.
"""

from __future__ import annotations

from collections.abc import Mapping

from apiflask import APIFlask
from flask import session
from flask_babel import Babel, get_locale
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from markupsafe import Markup

from web.context import container

CHINESE = "zh_Hans_CN"
ENGLISH = "en"
LANGUAGES = {CHINESE: "中文", ENGLISH: "English"}
HTML_LANG = {CHINESE: "zh-Hans", ENGLISH: "en"}


def register(app: APIFlask) -> None:
    app.config.setdefault("BABEL_DEFAULT_LOCALE", CHINESE)
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", "translations")
    Babel(app, locale_selector=select_locale)
    app.jinja_env.globals.update(label=label, district=district, LANGUAGES=LANGUAGES, HTML_LANG=HTML_LANG)
    app.jinja_env.filters["answer"] = answer
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
TABLES: Mapping[str, Mapping[str, object]] = {
    "tier": TIERS,
    "opinion": OPINIONS,
    "reversal": REVERSAL_REASONS,
    "state": STATES,
    "role": ROLES,
    "trigger": TRIGGERS,
    "direction": DIRECTIONS,
    "category": CATEGORIES,
    "entry": ENTRY_KINDS,
    "mode": WRITE_OFF_MODES,
}


def label(kind: str, code: object) -> object:
    """The words for a code; an unknown code is shown as itself, marked as data so no one mistakes it for prose."""
    if code is None or code == "":
        return "—"
    found = TABLES[kind].get(str(code))
    return found if found is not None else Markup('<span translate="no">{}</span>').format(code)


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
        return Markup('<span translate="no">{}</span>').format(", ".join(str(item) for item in value))
    if isinstance(value, dict):
        parts = (f"{key}: {answer(item)}" for key, item in value.items() if item not in (None, False, 0))
        return Markup('<span translate="no">{}</span>').format("; ".join(parts) or "—")
    return Markup('<span translate="no">{}</span>').format(value)
