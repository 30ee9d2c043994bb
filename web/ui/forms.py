"""The forms of the pages (Flask-WTF: each carries the session's CSRF token); every message is translated."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import (
    BooleanField,
    DecimalField,
    Field,
    IntegerField,
    PasswordField,
    SelectChoice,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional, ValidationError

REQUIRED = _l("This field is required.")


def options(pairs: Iterable[tuple[str, Any]], data: bool = False) -> list[SelectChoice]:
    """WTForms 3.3 wants SelectChoice objects; (value, label) pairs read better where they are declared.

    `data` marks the labels as codes, not words (`translate="no"`), like every other piece of data on the pages.
    """
    marks = {"translate": "no"} if data else {}
    return [SelectChoice(value, label, render_kw=dict(marks)) for value, label in pairs]


def positive(_form: FlaskForm, field: Field) -> None:
    if field.data is not None and field.data <= 0:
        raise ValidationError(_l("Must be above 0."))


class SignInForm(FlaskForm):
    username = StringField(_l("User name"), validators=[DataRequired(REQUIRED), Length(max=80)])
    password = PasswordField(_l("Password"), validators=[DataRequired(REQUIRED), Length(max=200)])


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


class GoodsForm(FlaskForm):
    """The goods of a pre-check or an application: direction, district and one or more lines (`line-N-…` fields)."""

    direction = SelectField(_l("Direction"), choices=options(DIRECTIONS), validators=[InputRequired(REQUIRED)])
    district = SelectField(_l("District"), validators=[InputRequired(REQUIRED)])


class ApplicationForm(GoodsForm):
    """A new application: the goods, and the ports of entry or exit (口岸) the shipments will pass."""

    ports = StringField(_l("Ports of entry or exit"), validators=[Optional(), Length(max=900)])

    def port_list(self) -> tuple[str, ...]:
        """Separated by commas (Chinese or Latin) or semicolons; the domain trims and de-duplicates."""
        text = (self.ports.data or "").replace("，", ",").replace(";", ",").replace("；", ",")
        return tuple(part for part in text.split(","))


class UsccForm(FlaskForm):
    uscc = StringField(_l("Unified social credit code"), validators=[DataRequired(REQUIRED), Length(max=40)])


class DocumentForm(FlaskForm):
    doc_type = SelectField(_l("Document type"), validators=[InputRequired(REQUIRED)])
    file = FileField(_l("File (PDF, PNG or JPEG)"))


class ReasonForm(FlaskForm):
    reason = TextAreaField(_l("Reason"), validators=[DataRequired(REQUIRED), Length(max=2000)])


class OptionalReasonForm(FlaskForm):
    reason = TextAreaField(_l("Reason"), validators=[Optional(), Length(max=2000)])


class CorrectionForm(FlaskForm):
    deficiencies = TextAreaField(
        _l("Deficiencies (one per line)"), validators=[DataRequired(REQUIRED), Length(max=4000)]
    )


class DeclareForm(FlaskForm):
    declaration_no = StringField(_l("Declaration number"), validators=[DataRequired(REQUIRED), Length(max=40)])
    line_no = IntegerField(_l("Certificate line"), validators=[InputRequired(REQUIRED), NumberRange(min=1)])
    qty = DecimalField(
        _l("Quantity"),
        validators=[InputRequired(REQUIRED), positive],
    )
    port = StringField(_l("Port"), validators=[Optional(), Length(max=40)])


class InspectionForm(FlaskForm):
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
    reason = TextAreaField(_l("Reason"), validators=[Optional(), Length(max=2000)])


class ReversalForm(FlaskForm):
    qty = DecimalField(
        _l("Quantity"),
        validators=[InputRequired(REQUIRED), positive],
    )
    reason_code = SelectField(_l("Reason code"))
    reason = TextAreaField(_l("Reason"), validators=[DataRequired(REQUIRED), Length(max=2000)])


class DecisionForm(FlaskForm):
    approve = BooleanField(_l("Approve"))
    reason = TextAreaField(_l("Reason"), validators=[Optional(), Length(max=2000)])


class OpinionForm(FlaskForm):
    opinion = SelectField(_l("Opinion"))
    reason = TextAreaField(_l("Reason"), validators=[DataRequired(REQUIRED), Length(max=2000)])
