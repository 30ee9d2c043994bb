from __future__ import annotations

import pytest

from workflow.domain.errors import InvalidInput
from workflow.domain.uscc import check_digit, validate_uscc


def test_a_published_code_validates() -> None:
    assert validate_uscc("91110000600037341L") == "91110000600037341L"


def test_lowercase_and_spaces_are_normalised() -> None:
    assert validate_uscc(" 91110000600037341l ") == "91110000600037341L"


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("9111000060003734", "18 characters"),
        ("91110000600037341I", "not allowed"),
        ("91110000600037341M", "check digit"),
    ],
    ids=["too-short", "letter-i-not-in-alphabet", "wrong-check-digit"],
)
def test_bad_codes_say_what_is_wrong(code: str, reason: str) -> None:
    with pytest.raises(InvalidInput, match=reason) as error:
        validate_uscc(code)
    assert error.value.field == "uscc"


def test_the_check_digit_completes_a_body_into_a_valid_code() -> None:
    body = "91350205MA2Y8K3N0"
    assert validate_uscc(body + check_digit(body)).startswith(body)
