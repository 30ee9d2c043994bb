"""The pydantic spelling of workflow/domain/inputs.py: annotated types the input schemas of every door share.

The goods-line schema of the pre-check (and so of the CLI and the HTML forms) and the API's request bodies are built
from these, so a field refused at one door is refused at all of them, with the same reason.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal
from typing import Annotated, TypeVar

from pydantic import AfterValidator, BeforeValidator, Field, StrictStr, WithJsonSchema
from pydantic_core import PydanticCustomError

from workflow.domain import inputs
from workflow.domain.errors import InvalidInput

T = TypeVar("T")
DECIMAL_TEXT = re.compile(r"[0-9]+(\.[0-9]+)?")


def checked(check: Callable[[T], T]) -> AfterValidator:
    """A domain check as a pydantic validator: its InvalidInput becomes a field error at the right path."""

    def validate(value: T) -> T:
        try:
            return check(value)
        except InvalidInput as problem:
            raise PydanticCustomError("invalid_input", problem.message) from None

    return AfterValidator(validate)


def clean(max_length: int, multiline: bool = False) -> AfterValidator:
    """No control characters (line breaks and tabs allowed when `multiline`), at most `max_length` characters.

    Written beside `Field(max_length=...)`, which puts the limit in the OpenAPI document.
    """
    return checked(lambda value: inputs.clean_text(value, max_length, multiline=multiline))


Name = Annotated[StrictStr, Field(min_length=1, max_length=inputs.NAME), clean(inputs.NAME)]
OptionalName = Annotated[StrictStr, Field(max_length=inputs.NAME), clean(inputs.NAME)]
Detail = Annotated[StrictStr, Field(max_length=inputs.DETAIL), clean(inputs.DETAIL)]
Unit = Annotated[StrictStr, Field(min_length=1, max_length=inputs.UNIT), clean(inputs.UNIT)]
District = Annotated[StrictStr, Field(max_length=inputs.DISTRICT), clean(inputs.DISTRICT)]
ExtraKey = Annotated[StrictStr, Field(max_length=inputs.EXTRA_KEY), clean(inputs.EXTRA_KEY)]
ExtraValue = Annotated[StrictStr, Field(max_length=inputs.EXTRA_VALUE), clean(inputs.EXTRA_VALUE)]
Reason = Annotated[StrictStr, Field(max_length=inputs.REASON), clean(inputs.REASON, multiline=True)]


def _decimal_text(value: object) -> object:
    """The API's quantities are JSON strings: a JSON number may already have been rounded through a float."""
    if not isinstance(value, str):
        raise PydanticCustomError(
            "decimal_string", 'Input should be a decimal string such as "12.5", not a JSON number'
        )
    if not DECIMAL_TEXT.fullmatch(value):
        raise PydanticCustomError("decimal_string", 'Input should be a decimal string such as "12.5"')
    return value


def _not_a_bool(value: object) -> object:
    # A boolean is an int to Python; as a quantity it is a mistake.
    if isinstance(value, bool):
        raise PydanticCustomError("decimal_type", "Decimal input should be an integer, float, string or Decimal")
    return value


QUANTITY_SCHEMA = {
    "type": "string",
    "pattern": r"^[0-9]+(\.[0-9]{1,4})?$",
    "description": f"a decimal string above 0 and below 10^12 with at most {inputs.QUANTITY_PLACES} decimal places",
    "examples": ["12.5"],
}
# A quantity of the pre-check input format (a number or a numeric string, docs/precheck.md), within the ledger's limits.
Quantity = Annotated[Decimal, BeforeValidator(_not_a_bool), checked(inputs.clean_quantity)]
# A quantity of the API: a decimal string only, within the same limits.
QuantityText = Annotated[
    Decimal, BeforeValidator(_decimal_text), checked(inputs.clean_quantity), WithJsonSchema(QUANTITY_SCHEMA)
]
