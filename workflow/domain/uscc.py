"""统一社会信用代码 (unified social credit code, GB 32100-2015): 18 characters, the last a mod-31 check digit."""

from __future__ import annotations

from workflow.domain.errors import InvalidInput

ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # no I, O, Z, S, V: they read like digits
WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def check_digit(first17: str) -> str:
    """The 18th character for a 17-character body."""
    if len(first17) != 17 or any(ch not in ALPHABET for ch in first17):
        raise InvalidInput("the first 17 characters must come from the code's alphabet", field="uscc")
    total = sum(ALPHABET.index(ch) * weight for ch, weight in zip(first17, WEIGHTS, strict=True))
    return ALPHABET[(31 - total % 31) % 31]


def validate_uscc(code: str) -> str:
    """Return the normalised code, or raise InvalidInput saying what is wrong with it."""
    normalised = code.strip().upper()
    if len(normalised) != 18:
        raise InvalidInput(f"a unified social credit code has 18 characters, not {len(normalised)}", field="uscc")
    bad = sorted({ch for ch in normalised if ch not in ALPHABET})
    if bad:
        raise InvalidInput(f"characters not allowed in a unified social credit code: {''.join(bad)}", field="uscc")
    if check_digit(normalised[:17]) != normalised[17]:
        raise InvalidInput("the check digit of the unified social credit code does not match", field="uscc")
    return normalised
