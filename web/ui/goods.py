"""The goods lines of the guided forms (pre-check and new application): fields, parsing and per-field errors.

Lines are validated exactly as the API and the CLI validate them (workflow/service/precheck.py), so a line the form
accepts is a line the engine accepts; the dotted path of a problem (`lines.0.quantity`) names the form field.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from flask_babel import lazy_gettext as _l

from web.ui import field_errors
from web.ui.forms import CATEGORIES, PATHOGEN_CLASSES, PURITY
from workflow.domain.errors import InvalidInput
from workflow.domain.goods import GoodsLine
from workflow.service.precheck import parse_goods_lines

MAX_LINES = 20
TEXT_FIELDS = (
    ("name_zh", _l("Name (Chinese)"), True),
    ("name_en", _l("Name (English)"), False),
    ("quantity", _l("Quantity"), True),
    ("unit", _l("Unit"), True),
    ("specification", _l("Specification"), False),
    ("manufacturer", _l("Manufacturer"), False),
    ("origin_country", _l("Country of origin"), False),
    ("intended_use", _l("Intended use"), False),
    ("user_lab", _l("User laboratory"), False),
)
SELECT_FIELDS = (
    ("category", _l("Category"), CATEGORIES),
    ("pathogen_class", _l("Pathogen class"), PATHOGEN_CLASSES),
    ("protein_purity", _l("Protein"), PURITY),
    ("bsl_level", _l("Laboratory biosafety level"), [("", _l("None")), ("1", "BSL-1"), ("2", "BSL-2"),
                                                     ("3", "BSL-3"), ("4", "BSL-4")]),
)  # fmt: skip
FLAGS = (
    ("may_contain_unknown_agent", _l("May contain an unknown pathogen")),
    ("is_commercial_cell_line", _l("Commercial cell line")),
    ("involves_hgr", _l("Involves human genetic resources")),
)
LAB = "lab_id"  # the registered user lab (R62); its choices are the applicant's labs (web/ui/laboratories.py)
INTEGERS = ("pathogen_class", "bsl_level", LAB)


@dataclass
class LinesInput:
    """What the form posted, ready to show again, with any problems keyed by form field name."""

    values: list[dict[str, Any]]
    errors: dict[str, str] = field(default_factory=dict)
    lines: tuple[GoodsLine, ...] = ()


def blank_line() -> dict[str, Any]:
    return {"protein_purity": "not_a_protein"}


def read_lines(form: Mapping[str, str], validate: bool = True) -> LinesInput:
    """`line-N-<field>` inputs into raw lines (empty lines dropped), then the engine's validation."""
    count = min(_int(form.get("line_count"), 1), MAX_LINES)
    values = [_raw(form, index) for index in range(count)]
    values = [value for value in values if any(v not in ("", None, False, "not_a_protein") for v in value.values())]
    if not validate:
        return LinesInput(values or [blank_line()])
    if not values:
        return LinesInput([blank_line()], {"line-0-name_zh": str(_l("Give at least one goods line."))})
    try:
        lines = parse_goods_lines([_typed(value) for value in values])
    except InvalidInput as problem:  # one place turns the engine's dotted path into the form field beside it
        return LinesInput(values, field_errors.at_fields(problem, _field_name))
    return LinesInput(values, {}, lines)


def _raw(form: Mapping[str, str], index: int) -> dict[str, Any]:
    prefix = f"line-{index}-"
    raw: dict[str, Any] = {name: form.get(prefix + name, "").strip() for name, _label, _ in TEXT_FIELDS}
    raw |= {name: form.get(prefix + name, "") for name, _label, _choices in SELECT_FIELDS}
    raw |= {name: form.get(prefix + name) == "y" for name, _label in FLAGS}
    return raw | {LAB: form.get(prefix + LAB, "")}


def _typed(raw: dict[str, Any]) -> dict[str, Any]:
    """Empty selects mean "not given"; the integer selects become integers."""
    typed = {name: value for name, value in raw.items() if value != ""}
    for name in INTEGERS:
        if name in typed and str(typed[name]).isdigit():  # anything else is left for the validation to name
            typed[name] = int(typed[name])
    typed.setdefault("category", None)
    return typed


def _field_name(path: str | None) -> str:
    return field_of(path) or "line-0-name_zh"


def field_of(path: str | None) -> str | None:
    """The form field a problem's dotted path names (`lines.0.quantity` is `line-0-quantity`), if it names one."""
    parts = (path or "").split(".")
    if len(parts) >= 3 and parts[0] == "lines" and parts[1].isdigit() and parts[2] in FIELD_NAMES:
        return f"line-{parts[1]}-{parts[2]}"
    return None


FIELD_NAMES = frozenset(name for name, *_rest in (*TEXT_FIELDS, *SELECT_FIELDS, *FLAGS)) | {LAB}


def _int(value: str | None, default: int) -> int:
    return int(value) if value and value.isdigit() and int(value) > 0 else default


def line_values(line: GoodsLine) -> dict[str, Any]:
    """A stored line as the form shows it, to edit a draft or a corrected application."""
    values: dict[str, Any] = {name: _shown(getattr(line, name)) for name, _label, _required in TEXT_FIELDS}
    values |= {name: _shown(getattr(line, name)) for name, _label, _choices in SELECT_FIELDS}
    return values | {name: bool(getattr(line, name)) for name, _label in FLAGS} | {LAB: _shown(line.lab_id)}


def keep_unshown(stored: Sequence[GoodsLine], edited: Sequence[GoodsLine]) -> tuple[GoodsLine, ...]:
    """The edited lines, each keeping the facts the form does not show (set through the API) from the line it edits."""
    shown = [name for name, *_rest in (*TEXT_FIELDS, *SELECT_FIELDS, *FLAGS)]
    pairs = zip(stored, edited, strict=False)  # lines added in the edit have no stored line to keep facts from
    kept = [replace(old, **{name: getattr(new, name) for name in shown}) for old, new in pairs]
    return (*kept, *edited[len(stored) :])


def _shown(value: Any) -> str:
    return "" if value is None else str(getattr(value, "value", value))
