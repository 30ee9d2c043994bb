"""Validation problems of the goods lines in the reader's language, each at the field it is about.

The engine validates goods lines with pydantic (workflow/service/precheck.py) and reports the first problem in
English, the others appended ("...; also lines.0.unit: Field required"). The form needs each problem at its own
field and in the page's language, so the pydantic errors behind the InvalidInput are read one by one and each is
put into words from the catalog by its type and its limits.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from flask_babel import lazy_gettext as _l
from pydantic import ValidationError

from workflow.domain.errors import InvalidInput

# pydantic's error types, and the words for each; `%(limit)s` is the bound the field has (ctx gt, le, max_length...)
BY_TYPE: Mapping[str, Any] = {
    "missing": _l("This field is required."),
    "string_too_short": _l("This field is required."),
    "greater_than": _l("Must be greater than %(limit)s."),
    "greater_than_equal": _l("Must be at least %(limit)s."),
    "less_than": _l("Must be less than %(limit)s."),
    "less_than_equal": _l("Must be at most %(limit)s."),
    "string_too_long": _l("At most %(limit)s characters."),
    "too_long": _l("At most %(limit)s items."),
    "decimal_parsing": _l("Enter a number, such as 12.5."),
    "decimal_string": _l("Enter a number, such as 12.5."),
    "decimal_type": _l("Enter a number, such as 12.5."),
    "decimal_max_places": _l("At most %(limit)s decimal places."),
    "decimal_max_digits": _l("Too many digits."),
    "finite_number": _l("Enter a number, such as 12.5."),
    "int_parsing": _l("Enter a whole number."),
    "int_type": _l("Enter a whole number."),
    "enum": _l("Choose one of the options."),
    "literal_error": _l("Choose one of the options."),
    "bool_type": _l("Choose one of the options."),
    "bool_parsing": _l("Choose one of the options."),
    "string_type": _l("Enter text."),
    "extra_forbidden": _l("This field is not expected here."),
}
LIMITS = ("gt", "ge", "lt", "le", "max_length", "min_length", "decimal_places")
# The domain's own input checks (workflow/domain/inputs.py), which pydantic reports as `invalid_input`.
DOMAIN_CHECKS: tuple[tuple[re.Pattern[str], Any], ...] = (
    (re.compile(r"Input should not contain control characters"), _l("Remove the control characters.")),
    (re.compile(r"Input should have at most (?P<limit>\d+) characters"), _l("At most %(limit)s characters.")),
    (re.compile(r"Input should be a finite number"), _l("Enter a number, such as 12.5.")),
    (re.compile(r"Input should be greater than (?P<limit>\S+)$"), _l("Must be greater than %(limit)s.")),
    (re.compile(r"Input should be less than (?P<limit>\S+)$"), _l("Must be less than %(limit)s.")),
    (re.compile(r"Input should have at most (?P<limit>\d+) decimal places"), _l("At most %(limit)s decimal places.")),
)
FALLBACK = _l("This value is not accepted.")


def at_fields(problem: InvalidInput, field_of: Callable[[str], str]) -> dict[str, str]:
    """Each problem behind `problem`, in the page's language, under the form field `field_of` names for its path."""
    cause = problem.__cause__
    if not isinstance(cause, ValidationError):
        return {field_of(problem.field or ""): _domain(problem.message)}
    prefix = (problem.field or "").split(".")[0]
    found: dict[str, str] = {}
    for error in cause.errors():
        path = ".".join(str(part) for part in (prefix, *error["loc"]) if part != "")
        found.setdefault(field_of(path), _words(error))
    return found


def _words(error: Mapping[str, Any]) -> str:
    if error["type"] in ("invalid_input", "value_error", "assertion_error"):
        return _domain(str(error.get("msg", "")))
    message = BY_TYPE.get(error["type"], FALLBACK)
    context = error.get("ctx") or {}
    limit = next((context[name] for name in LIMITS if name in context), "")
    return str(message) % {"limit": limit}


def _domain(message: str) -> str:
    for pattern, words in DOMAIN_CHECKS:
        found = pattern.search(message)
        if found:
            return str(words) % found.groupdict()
    return str(FALLBACK)
