"""The engine's reasons in the reader's language: each English reason the rules write is a catalog message.

Rules write one line of English reason (workflow/domain/rules.py, ledger.py) and that line is stored with the
decision, so a page gets the English text back. Each known shape of reason is a msgid here whose `%(name)s`
placeholders match the parts that vary; a reason is matched against the shapes, its parts are put in the reader's
words (codes through the label tables, criteria through their own messages) and the translated message is filled in.
Reasons joined with "; " are translated part by part. Text people typed (a refusal's reason) matches no shape and is
shown as written, marked as data in its own language.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache

from flask_babel import gettext
from markupsafe import Markup, escape


def N_(message: str) -> str:
    """Marks a msgid for extraction; translated when a reason is shown."""
    return message


# What a placeholder may match, by its name; anything else matches lazily up to the next literal text.
SHAPES_OF_PARTS = {
    "rule": r"[A-Z]+\d+",
    "rules": r"[A-Z]+\d+(?:, [A-Z]+\d+)*",
    "grade": r"[A-D]",
    "number": r"\d+",
    "documents": r"[a-z_0-9]+(?:, [a-z_0-9]+)*",
    "lines": r"\[[\d, ]+\]",
    "object": r"application|certificate|declaration",
    "trigger": r"[a-z_]+",
    "state": r"[a-z_]+",
}
REASONS = (
    # R1, R2, R4, R5, R18, R51: is it special goods
    N_("%(exclusion)s needs no approval (R4)"),
    N_("carried for self-use within one treatment course with a hospital certificate: exempt (R51)"),
    N_("managed as a %(regulated)s with an approval valid for %(direction)s: not special goods (R5)"),
    N_("environmental microbial agents left the regime under %(policy)s (R5)"),
    N_("non-pathogenic medical microbes left the regime under %(policy)s (R5)"),
    N_("not a microorganism, human tissue, biological product or blood: not special goods (R1)"),
    N_("contains or may contain a pathogen, so it is a microorganism (R1, R2)"),
    N_("%(category)s is special goods: an approval is needed (R1, %(rule)s)"),
    N_("no line is special goods: customs would not accept the application (R18)"),
    N_("line(s) %(lines)s need no approval: remove them and apply for the rest (R1, R18)"),
    N_("every line is special goods: an approval is needed (R1)"),
    # R27–R33: the grade
    N_("grade %(grade)s: %(criterion)s (%(rule)s)"),
    N_("%(policy)s has no grade %(grade)s, so the next higher grade applies"),
    N_("grade %(grade)s, the highest of %(number)s lines (line %(line)s: %(criterion)s) (%(rules)s)"),
    # R36, R37, R40, R41: validity and write-off
    N_("grade %(grade)s certificates are valid %(number)s months (R36)"),
    N_("grade %(grade)s, %(number)s months from the day after %(issued_on)s: valid until %(until)s (R36, R37)"),
    N_("grade %(grade)s certificates are single-use under %(policy)s: the first write-off exhausts it (R40)"),
    N_("grade %(grade)s certificates may be written off in batches within validity under %(policy)s (R41)"),
    # R60: first time
    N_("the applicant already holds a certificate for the same product: not first-time (R60)"),
    N_("the applicant holds no certificate for the same product: first-time (R60)"),
    N_("the applicant states it is first-time (R60)"),
    N_("the applicant states it is not first-time (R60)"),
    # R58, R59, R65: paperless
    N_("grade %(grade)s is never paperless under %(policy)s (R58)"),
    N_("%(direction)s goods are not paperless under %(policy)s (R58)"),
    N_("a first-time grade %(grade)s application is on paper (R58, R60)"),
    N_("%(tier)s enterprises lose the paperless path (%(rule)s, R65)"),
    N_("grade %(grade)s %(direction)s, first-time: paperless (R58, R59)"),
    N_("grade %(grade)s %(direction)s, repeat: paperless (R58, R59)"),
    # R53, R54: follow-up
    N_("grade %(grade)s goods have no follow-up supervision (R53)"),
    N_("%(direction)s goods have no follow-up supervision under %(policy)s (R53)"),
    N_("grade %(grade)s goods are followed up: the user reports within %(number)s days (R53, R54)"),
    # R10, R12–R16: applicant and documents
    N_("line(s) %(lines)s contain or may contain pathogens: a natural person may not apply (R10)"),
    N_("a natural person may apply for these goods (R10)"),
    N_("an entity may apply for these goods (R10)"),
    N_("%(rule)s: %(documents)s"),
    # E1, R32, R61, R63: inspection and assessment
    N_("grade %(grade)s goods are always physically checked (E1)"),
    N_("grade %(grade)s baseline %(baseline)s × %(tier)s %(modifier)s, floor %(floor)s: %(rate)s (E1)"),
    N_("grade %(grade)s: decided without an expert risk assessment (R32)"),
    N_("grade %(grade)s: assessed by the direct customs' own expert panel (R32, R61)"),
    N_("grade %(grade)s: assessed by GACC headquarters experts, about %(number)s working days (R32, R61)"),
    N_("an entity-level assessment is reusable for %(number)s months (R63)"),
    # W4, W5, W7, D2, C8: the port's checks
    N_("line %(line)s: %(qty)s %(unit)s declared, %(remaining)s remaining"),
    N_("the certificate is on hold during a follow-up investigation"),
    N_("a single-use certificate is already drawn on"),
    N_("the certificate is for %(direction)s, not %(other_direction)s"),
    N_("certificate %(certificate_no)s is %(state)s"),
    N_("declared on %(declared_on)s, outside validity %(valid_from)s..%(valid_until)s"),
    # the lifecycles' refusals (workflow/domain/lifecycle.py)
    N_("%(object)s: trigger '%(trigger)s' is not allowed from state '%(state)s'"),
    N_("%(object)s: unknown trigger '%(trigger)s' (state '%(state)s')"),
    # guards (workflow/domain/guards.py): the refusal, then its rule
    N_("a written reason is required (%(rule)s)"),
    N_("an application has at least one goods line (%(rule)s)"),
    N_("the one correction notice for this submission was already issued (%(rule)s)"),
    N_("the statutory clock starts at acceptance (%(rule)s)"),
    N_("the decision time limit may be extended only once (%(rule)s)"),
    N_("the reviewer must not be the officer who accepted the application (%(rule)s)"),
    N_("acceptance, review and decision need three different officers (%(rule)s)"),
    N_("risk assessment #%(number)s has not concluded yet (%(rule)s)"),
    N_("risk assessment #%(number)s asked for more documents; assess the corrected file again (%(rule)s)"),
    N_("the applicant may not apply until %(until)s (a ban after false information or fraud) (%(rule)s)"),
    N_("only a panel's rejection can be overridden (%(rule)s)"),
    N_("the rejection was already overridden (%(rule)s)"),
    N_("the expert panel rejected this application; it is not referred again (%(rule)s)"),
    # R9(b), R14, R62: the user lab against the goods (workflow/domain/biosafety.py, workflow/service/lab_checks.py)
    N_(
        "line %(line)s: the goods contain a pathogen and name no registered user lab of the applicant (BSL-%(level)s or above needed) (%(rule)s)"  # noqa: E501
    ),
    N_("line %(line)s: lab #%(number)s is not a laboratory of the applicant (%(rule)s)"),
    N_("line %(line)s: lab #%(number)s (%(lab)s) is below BSL-%(level)s, the level these goods need (%(rule)s)"),
    N_(
        "line %(line)s: lab #%(number)s (%(lab)s) is BSL-3 or above and needs the national accreditation (body and number) (%(rule)s)"  # noqa: E501
    ),
    N_("line %(line)s: lab #%(number)s (%(lab)s) has not been verified by an officer of the district (%(rule)s)"),
    N_("line %(line)s: the qualification of lab #%(number)s (%(lab)s) is not valid on the decision's date (%(rule)s)"),
    N_("no line contains a pathogen: no user lab is required (R14)"),
    N_("every user lab is verified, valid and of the level the goods need (R9, R14, R62)"),
    N_("laboratory %(lab)s was qualified until %(until)s, so declarations wait for officer review"),
    N_("laboratory %(lab)s verified valid"),
    N_("the biosafety capability does not match the goods: %(inner)s"),
    N_("nothing is granted until it does (%(rule)s)"),
    N_("the applicant's laboratories were not read; nothing is granted without them (%(rule)s)"),
    # R69, R71: the restoration sweep's reason (workflow/domain/credit_events.py)
    N_("%(rule)s: no discredit event since %(since)s (%(number)s months)"),
    # the aggregates' own refusals (workflow/domain/model.py, service/)
    N_("missing required documents: %(documents)s"),
    N_("an application in state %(state)s cannot be edited"),
    N_("an application in state %(state)s is in no queue"),
    N_("an application in state %(state)s is not under review"),
    N_("user %(number)s works this file; ask the head to reassign it"),
    N_("nobody works this file"),
    N_("the statutory clock starts at acceptance"),
    N_("the clock is not paused"),
    N_("the decision time limit may be extended only once"),
    N_("a reason is required"),
    N_("this expert's opinion was already recorded"),
    N_("nothing of the declared goods is within the remaining quota; reject it"),
    N_("the request kept colliding with concurrent ones; try again"),
    N_("the profile was changed meanwhile; reload it"),
    N_("a single-use (grade A) write-off is never reversed after release"),
    N_("the committed quantity is no longer there to reverse"),
    N_("cannot release against this certificate: %(inner)s"),
    # R43 / C7: changes to a granted certificate (workflow/service/replacements.py, certificate_changes.py)
    N_("superseded by certificate %(certificate_no)s (application %(reference)s)"),
    N_("replaces certificate %(certificate_no)s"),
    N_("certificate %(trigger)s: %(inner)s"),
    N_("assessment #%(number)s of the replaced certificate's file carried over: no risk fact changed (%(rule)s)"),
)
# The grading criteria and R4 exclusions the reasons quote (rules.py _CRITERIA, _EXCLUSION_LABELS).
CRITERIA = (
    N_("contains a class 1 or 2 (highly pathogenic) microorganism"),
    N_("human tissue or blood entering China"),
    N_("leaves China and involves human genetic resources"),
    N_("an environmental microbial agent"),
    N_("contains a class 3 microorganism"),
    N_("may contain an unknown or infectious agent"),
    N_("contains parasites"),
    N_("a nucleic acid of a class 1 or 2 pathogen"),
    N_("a toxin of a pathogen that harms humans"),
    N_("a protein that is not lysed or not fully purified"),
    N_("a biological product with a drug-regulator approval"),
    N_("contains a class 4 microorganism"),
    N_("a commercial cell line from a known culture collection"),
    N_("a fully lysed or purified protein"),
    N_("a medical microbe or other item that does not cause human disease"),
    N_("a non-pathogenic medical microbe not engineered from a pathogen"),
    N_("non-recombinant insulin"),
    N_("a single nucleotide or amino acid"),
    N_("a polysaccharide"),
    N_("heparin"),
    N_("streptomycin or penicillin"),
    N_("an antigen not of pathogen or human origin"),
    N_("human ashes, remains or hair not for medical research"),
)
# How another regulator manages the goods (R5), as the reason names it (goods.RegulatedAs)
REGULATED = {"drug": N_("drug"), "veterinary_drug": N_("veterinary drug"), "medical_device": N_("medical device")}
DATA = Markup('<span translate="no">{}</span>')  # words typed by a person: shown as written, in their language
PLACEHOLDER = re.compile(r"%\\\((\w+)\\\)s")
SHAPES_OF_PARTS |= {"criterion": "|".join(map(re.escape, CRITERIA)), "exclusion": "|".join(map(re.escape, CRITERIA))}


@cache
def _patterns() -> tuple[tuple[re.Pattern[str], str], ...]:
    def part(found: re.Match[str]) -> str:
        name = found.group(1)
        return f"(?P<{name}>{SHAPES_OF_PARTS.get(name, '.+?')})"

    return tuple((re.compile("^" + PLACEHOLDER.sub(part, re.escape(msgid)) + "$"), msgid) for msgid in REASONS)


def _label(kind: str) -> Callable[[str], object]:
    def words(code: str) -> object:
        from web.ui.i18n import label  # the label tables import this module's filter

        return label(kind, code)

    return words


def _documents(codes: str) -> str:
    return gettext(", ").join(str(_label("document")(code)) for code in codes.split(", "))


# How each kind of part is put into words; numbers, dates, units and numbers of certificates stay as they are.
PARTS: dict[str, Callable[[str], object]] = {
    "exclusion": gettext,
    "criterion": gettext,
    "category": lambda text: _label("category")(text.replace(" ", "_")),
    "regulated": lambda text: gettext(REGULATED.get(text, text)),
    "direction": _label("direction"),
    "other_direction": _label("direction"),
    "policy": _label("policy"),
    "tier": _label("tier"),
    "state": _label("state"),
    "trigger": _label("trigger"),
    "object": _label("object"),
    "documents": _documents,
    "inner": lambda text: _one(text) or DATA.format(text),
}


def translate(reason: object) -> object:
    """A stored reason in the page's language; text that matches no known reason is returned as written."""
    if not reason:
        return reason
    text = str(reason)
    raw = text.split("; ")
    found = [_one(part) for part in raw]
    if all(part is None for part in found):
        return DATA.format(text)
    return Markup(gettext("; ")).join(words if words is not None else DATA.format(part)
                                      for words, part in zip(found, raw, strict=True))  # fmt: skip


def _one(text: str) -> Markup | None:
    """The reason in the page's language; its parts are escaped unless they are markup already (data spans)."""
    for pattern, msgid in _patterns():
        found = pattern.match(text)
        if found:
            values = {name: _part(name, value) for name, value in found.groupdict().items()}
            return escape(gettext(msgid)) % values
    return None


def _part(name: str, value: str) -> object:
    words = PARTS.get(name, str)(value)
    return words if isinstance(words, Markup) else str(words)
