"""The forms of the pages (Flask-WTF: each carries the session's CSRF token); every message is translated.

Every limit is workflow/domain/inputs.py's, so a form accepts exactly what the API and the store accept.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from flask import request
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import (
    BooleanField,
    DecimalField,
    Field,
    Form,
    IntegerField,
    PasswordField,
    SelectChoice,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional, ValidationError

from web.security import REFUSES_AT_THE_FORM
from workflow.domain import inputs
from workflow.domain.errors import InvalidInput

REQUIRED = _l("This field is required.")
INTEGER = re.compile(r"[+-]?[0-9]{1,40}")


def options(pairs: Iterable[tuple[str, Any]], data: bool = False) -> list[SelectChoice]:
    """WTForms 3.3 wants SelectChoice objects; (value, label) pairs read better where they are declared.

    `data` marks the labels as codes, not words (`translate="no"`), like every other piece of data on the pages.
    """
    marks = {"translate": "no"} if data else {}
    return [SelectChoice(value, label, render_kw=dict(marks)) for value, label in pairs]


def quantity(_form: FlaskForm, field: Field) -> None:
    """Above 0, below the ceiling, at most the stored scale: what the ledger can hold exactly."""
    if field.data is None:
        return
    try:
        inputs.clean_quantity(field.data)
    except InvalidInput:
        raise ValidationError(
            _l(
                "Give a quantity above 0 and below %(ceiling)s, with at most %(places)d decimal places.",
                ceiling=f"{inputs.QUANTITY_CEILING:,.0f}",
                places=inputs.QUANTITY_PLACES,
            )
        ) from None


def text(max_length: int, multiline: bool = False) -> list[Any]:
    """The shared text rules: at most `max_length` characters, no control characters (line breaks if `multiline`)."""

    def no_control_characters(_form: FlaskForm, field: Field) -> None:
        if field.data and inputs.bad_character(field.data.replace("\r\n", "\n"), multiline) is not None:
            raise ValidationError(_l("Remove the control characters (such as NUL) from this field."))

    return [no_control_characters, Length(max=max_length)]


CONTROL_CHARACTERS = _l("Remove the control characters (such as NUL) from this field.")


class PageForm(FlaskForm):
    """Every page's form: a field of any kind that carries a control character is refused at that field.

    Text fields say so in their own validators too (`text`); this covers the rest (hidden, select, password, a line
    of a list), so a view marked `fields_checked_by_the_form` can take a NUL byte back to the form, input kept.
    """

    def validate(self, extra_validators: Any = None) -> bool:
        valid = super().validate(extra_validators)
        for field in _every_field(self):
            data = field.data if isinstance(field.data, str) else ""
            if inputs.bad_character(data.replace("\r\n", "\n"), multiline=True) is not None:
                if CONTROL_CHARACTERS not in field.errors:
                    field.errors = [*field.errors, CONTROL_CHARACTERS]
                valid = False
        return valid


def _every_field(form: Iterable[Field]) -> Iterable[Field]:
    for field in form:
        entries = getattr(field, "entries", None)  # a FieldList: its lines, each a field or a sub-form
        nested = getattr(field, "form", None)  # a FormField
        if entries is not None:
            yield from _every_field(entry.form if hasattr(entry, "form") else entry for entry in entries)
        elif isinstance(nested, Form):
            yield from _every_field(nested)
        else:
            yield field


F = TypeVar("F", bound=Callable[..., Any])


def fields_checked_by_the_form(view: F) -> F:
    """Marks a page whose `PageForm` refuses control characters at the field: the request hook leaves them to it.

    Put it right above the view, under `allow`, whose wrapper takes the mark over.
    """
    setattr(view, REFUSES_AT_THE_FORM, True)
    return view


def query_int(name: str, maximum: int = inputs.INT_MAX) -> int | None:
    """A whole-number filter of the query string (an id, a page's `before`); absent or not a number is None.

    A filter nobody matches is an empty page, not an error: a number outside 1..`maximum` (its column's range) becomes
    0, which no row has, so it never reaches the database as a value the column cannot hold.
    """
    raw = request.args.get(name, "").strip()
    if not INTEGER.fullmatch(raw):
        return None
    value = int(raw)
    return value if 1 <= value <= maximum else 0


def posted_reason(raw: str) -> str:
    """A reason from an action button's form (it has no form class of its own): ReasonForm's limits, or InvalidInput."""
    return _posted_text(raw.strip(), inputs.REASON, "reason")


def posted_deficiencies(raw: str) -> tuple[str, ...]:
    """R17's notice as the page posts it, one deficiency per line: CorrectionForm's limits, or InvalidInput."""
    items = tuple(line.strip() for line in _posted_text(raw, inputs.NOTICE, "deficiencies").splitlines())
    if any(len(item) > inputs.DETAIL for item in items):
        raise InvalidInput(str(_l("Each deficiency is at most %(max)d characters.", max=inputs.DETAIL)), "deficiencies")
    return tuple(item for item in items if item)


def _posted_text(raw: str, max_length: int, field: str) -> str:
    try:
        return inputs.clean_text(raw, max_length, field, multiline=True)
    except InvalidInput:
        message = _l("At most %(max)d characters, and no control characters.", max=max_length)
        raise InvalidInput(str(message), field=field) from None


class SignInForm(PageForm):
    username = StringField(_l("User name"), validators=[DataRequired(REQUIRED), *text(inputs.USERNAME)])
    password = PasswordField(_l("Password"), validators=[DataRequired(REQUIRED), Length(max=inputs.PASSWORD)])


DIRECTIONS = [("entry", _l("Entry")), ("exit", _l("Exit"))]
CATEGORIES = [
    ("", _l("Not special goods / unsure")),
    ("microorganism", _l("Microorganism")),
    ("human_tissue", _l("Human tissue")),
    ("biological_product", _l("Biological product")),
    ("blood", _l("Blood")),
    ("blood_product", _l("Blood product")),
]
PATHOGEN_CLASSES = [("", _l("None")), ("1", "1"), ("2", "2"), ("3", "3"), ("4", "4")]
PURITY = [
    ("not_a_protein", _l("Not a protein")),
    ("purified", _l("Purified protein")),
    ("crude", _l("Crude protein")),
]


class GoodsForm(PageForm):
    """The goods of a pre-check or an application: direction, district and one or more lines (`line-N-…` fields)."""

    direction = SelectField(_l("Direction"), choices=options(DIRECTIONS), validators=[InputRequired(REQUIRED)])
    district = SelectField(_l("District"), validators=[InputRequired(REQUIRED)])


class ApplicationForm(GoodsForm):
    """A new application: the goods, and the ports of entry or exit (口岸) the shipments will pass."""

    # Every port (at most 10 of at most inputs.PORT characters) and their separators; the domain checks each.
    ports = StringField(_l("Ports of entry or exit"), validators=[Optional(), *text(10 * (inputs.PORT + 2))])

    def port_list(self) -> tuple[str, ...]:
        """Separated by commas (Chinese or Latin) or semicolons; the domain trims and de-duplicates."""
        text = (self.ports.data or "").replace("，", ",").replace(";", ",").replace("；", ",")
        return tuple(part for part in text.split(","))


class UsccForm(PageForm):
    uscc = StringField(_l("Unified social credit code"), validators=[DataRequired(REQUIRED), *text(inputs.CODE)])


class DocumentForm(PageForm):
    doc_type = SelectField(_l("Document type"), validators=[InputRequired(REQUIRED)])
    file = FileField(_l("File (PDF, PNG or JPEG)"))


REASON = text(inputs.REASON, multiline=True)


class ReasonForm(PageForm):
    reason = TextAreaField(_l("Reason"), validators=[DataRequired(REQUIRED), *REASON])


class OptionalReasonForm(PageForm):
    reason = TextAreaField(_l("Reason"), validators=[Optional(), *REASON])


def each_deficiency_fits(_form: FlaskForm, field: Field) -> None:
    """R17's notice lists the deficiencies one per line; each is one item of the API's list, with its limit."""
    if any(len(line.strip()) > inputs.DETAIL for line in (field.data or "").splitlines()):
        raise ValidationError(_l("Each deficiency is at most %(max)d characters.", max=inputs.DETAIL))


class CorrectionForm(PageForm):
    deficiencies = TextAreaField(
        _l("Deficiencies (one per line)"),
        validators=[DataRequired(REQUIRED), *text(inputs.NOTICE, multiline=True), each_deficiency_fits],
    )


class DeclareForm(PageForm):
    declaration_no = StringField(_l("Declaration number"), validators=[DataRequired(REQUIRED), *text(inputs.CODE)])
    line_no = IntegerField(
        _l("Certificate line"), validators=[InputRequired(REQUIRED), NumberRange(min=1, max=inputs.LINES)]
    )
    qty = DecimalField(_l("Quantity"), validators=[InputRequired(REQUIRED), quantity])
    port = StringField(_l("Port"), validators=[Optional(), *text(inputs.DECLARATION_PORT)])


class DeclareLineForm(Form):
    """A further line of the declaring form (`line2-line_no`, `line2-qty`, …), checked as the first line is."""

    line_no = IntegerField(
        _l("Certificate line"), validators=[InputRequired(REQUIRED), NumberRange(min=1, max=inputs.LINES)]
    )
    qty = DecimalField(_l("Quantity"), validators=[InputRequired(REQUIRED), quantity])


class InspectionForm(PageForm):
    outcome = SelectField(
        _l("Outcome"),
        choices=options(
            [("pass", _l("Pass: release")), ("sample", _l("Sample for the laboratory")), ("fail", _l("Fail"))]
        ),
    )
    disposal = SelectField(
        _l("Disposal (if failed)"),
        choices=options([("", _l("None")), ("return", _l("Return")), ("destroy", _l("Destroy"))]),
    )
    reason = TextAreaField(_l("Reason"), validators=[Optional(), *REASON])


class ReversalForm(PageForm):
    qty = DecimalField(_l("Quantity"), validators=[InputRequired(REQUIRED), quantity])
    reason_code = SelectField(_l("Reason code"))
    reason = TextAreaField(_l("Reason"), validators=[DataRequired(REQUIRED), *REASON])


class DecisionForm(PageForm):
    approve = BooleanField(_l("Approve"))
    reason = TextAreaField(_l("Reason"), validators=[Optional(), *REASON])


class OpinionForm(PageForm):
    opinion = SelectField(_l("Opinion"))
    reason = TextAreaField(_l("Reason"), validators=[DataRequired(REQUIRED), *REASON])
