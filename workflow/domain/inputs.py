"""The limits every door applies to what people send: text lengths, forbidden characters, quantities and ids.

One table, read by the API schemas (web/schemas.py), the HTML forms (web/ui/forms.py), the pre-check and goods-line
schema (workflow/service/precheck.py) and the store's column lengths (workflow/store/tables.py), so the form, the
API and the database never disagree about how long a name may be. A violation raises InvalidInput naming the field.
"""

from __future__ import annotations

import unicodedata
from decimal import Decimal

from workflow.domain.errors import InvalidInput

# -- text: the maximum length of each free-text field, in characters (PostgreSQL's VARCHAR counts characters) -------

NAME = 200  # a goods line's names, an enterprise's names, an e-mail address
DETAIL = 500  # a goods line's specification, manufacturer, origin, intended use, user laboratory; one deficiency
UNIT = 16  # a goods line's unit of measure (支, mL, 株...)
REASON = 2000  # every reason given with a decision or a request
NOTICE = 4000  # a correction notice: every deficiency, one per line (R17)
ADDRESS = 300
PERSON = 120  # a contact person, a user's display name
PHONE = 40
USERNAME = 80
PASSWORD = 200
TOKEN_NAME = 80
CODE = 40  # declaration and certificate numbers, policy codes, rule ids
DISTRICT = 32
PORT = 80  # a port of entry or exit named on an application (口岸)
DECLARATION_PORT = 40  # the port a declaration was lodged at
DOC_TYPE = 48
FILENAME = 255
EXTRA_VALUE = 500  # a value of a goods line's free-form `extra` facts
EXTRA_KEY = 80

# -- numbers ------------------------------------------------------------------------------------------------------

QUANTITY_PLACES = 4  # the store keeps ten-thousandths exactly (workflow/store/tables.py ScaledQuantity)
QUANTITY_CEILING = Decimal(10) ** 12  # exclusive: far above any shipment, far below the 64-bit scaled column
INT_MAX = 2**31 - 1  # ids of the 32-bit tables, versions
BIGINT_MAX = 2**63 - 1  # ids of the append-only 64-bit tables (ledger entries, audit events)
_STEP = Decimal(1).scaleb(-QUANTITY_PLACES)
LINES = 200  # goods lines of one application, so line numbers of a certificate run 1..LINES

# Line breaks and tabs are text in a multi-line field; every other control character (NUL, escape, DEL, C1) is not,
# nor is half a surrogate pair, which no UTF-8 database can store.
_MULTILINE_ALLOWED = frozenset("\n\t")


def bad_character(value: str, multiline: bool = False) -> str | None:
    """The first character no text field accepts, or None when every character is acceptable."""
    allowed = _MULTILINE_ALLOWED if multiline else frozenset()
    for char in value:
        if char not in allowed and unicodedata.category(char) in ("Cc", "Cs"):
            return char
    return None


def clean_text(value: str, max_length: int, field: str | None = None, multiline: bool = False) -> str:
    """`value` if it fits the field: at most `max_length` characters, no control characters.

    A multi-line field's CR LF (what browsers send from a textarea) becomes LF first, so the limit counts what is kept.
    """
    text = value.replace("\r\n", "\n") if multiline else value
    char = bad_character(text, multiline)
    if char is not None:
        raise InvalidInput(f"Input should not contain control characters (found U+{ord(char):04X})", field=field)
    if len(text) > max_length:
        raise InvalidInput(f"Input should have at most {max_length} characters, not {len(text)}", field=field)
    return text


def printable(value: str, max_length: int) -> str:
    """`value` made safe to record as evidence (a refused user name): control characters shown as U+FFFD, cut short."""
    return "".join("\ufffd" if bad_character(char) else char for char in value[:max_length])


def clean_quantity(value: Decimal, field: str | None = None) -> Decimal:
    """A quantity the ledger can hold exactly: finite, above 0, below the ceiling, at most 4 decimal places."""
    if not value.is_finite():
        raise InvalidInput("Input should be a finite number", field=field)
    if value <= 0:
        raise InvalidInput("Input should be greater than 0", field=field)
    if value >= QUANTITY_CEILING:
        raise InvalidInput(f"Input should be less than {QUANTITY_CEILING:,.0f}", field=field)
    if value != value.quantize(_STEP):
        raise InvalidInput(f"Input should have at most {QUANTITY_PLACES} decimal places", field=field)
    return value
