"""The enterprise's own administration: what a profile and a new applicant user must look like, and who may change them.

Every check raises InvalidInput naming the field, so the API answers with the field and a page shows the reason beside
it. The unified social credit code is the enterprise's identity (uscc.py): checked when the enterprise is registered,
never edited here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from workflow.domain.actors import Actor, Role
from workflow.domain.errors import GuardFailed, InvalidInput, NotFound, PermissionDenied

PROFILE_LIMITS = {"name": 200, "name_en": 200, "address": 300, "contact_person": 120, "phone": 40}
# A phone as people write it: digits with spaces, hyphens, parentheses, an optional leading + and extension.
PHONE = re.compile(r"\+?[0-9][0-9 ()\-]*(?:(?:ext\.?|x|转)\s*[0-9]{1,6})?", re.IGNORECASE)
PHONE_DIGITS = (7, 20)  # a local number has at least 7 digits; E.164 with an extension stays below 20
USERNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{2,79}")
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
PASSWORD_LENGTH = (10, 200)


@dataclass(frozen=True)
class EnterpriseProfile:
    """The enterprise's record as its admin keeps it; `version` moves with every change of the profile."""

    id: int
    uscc: str
    district: str
    name: str
    name_en: str
    address: str
    contact_person: str
    phone: str
    version: int


@dataclass(frozen=True)
class EnterpriseUser:
    """An applicant user as the administration sees them."""

    id: int
    username: str
    display_name: str
    email: str
    enterprise_id: int | None
    active: bool
    is_admin: bool


def clean_profile(values: dict[str, str]) -> dict[str, str]:
    """Trimmed values of the profile fields given; the name may not be empty and a phone must look like one."""
    cleaned = {key: value.strip() for key, value in values.items()}
    for key, value in cleaned.items():
        if len(value) > PROFILE_LIMITS[key]:
            raise InvalidInput(f"at most {PROFILE_LIMITS[key]} characters", field=key)
    if "name" in cleaned and not cleaned["name"]:
        raise InvalidInput("the enterprise name may not be empty", field="name")
    if cleaned.get("phone"):
        check_phone(cleaned["phone"])
    return cleaned


def check_phone(phone: str) -> None:
    digits = sum(ch.isdigit() for ch in phone)
    if not PHONE.fullmatch(phone) or not PHONE_DIGITS[0] <= digits <= PHONE_DIGITS[1]:
        raise InvalidInput("not a telephone number: digits, spaces, hyphens, an optional leading +", field="phone")


def clean_new_user(username: str, display_name: str, email: str) -> tuple[str, str, str]:
    username, display_name, email = username.strip(), display_name.strip(), email.strip()
    if not USERNAME.fullmatch(username):
        raise InvalidInput("3–80 letters, digits, dots, hyphens or underscores, starting with a letter or digit",
                           field="username")  # fmt: skip
    if not display_name or len(display_name) > 120:
        raise InvalidInput("a display name has 1–120 characters", field="display_name")
    if len(email) > 200 or not EMAIL.fullmatch(email):
        raise InvalidInput("not an e-mail address", field="email")
    return username, display_name, email


def check_password(password: str) -> None:
    """Checked before hashing, so the rule holds for the API and the pages alike."""
    low, high = PASSWORD_LENGTH
    if not low <= len(password) <= high:
        raise InvalidInput(f"a password has {low}–{high} characters", field="password")


def require_administrator(actor: Actor, enterprise_id: int, district: str, acting: EnterpriseUser | None) -> None:
    """The enterprise's own admin, or a customs administrator of its district (or of every district).

    Another enterprise's user learns nothing (404, as for a missing enterprise); a plain user of the enterprise and
    a customs officer who is not an administrator are refused (403).
    """
    if actor.role is Role.ADMIN:
        if actor.district is not None and actor.district != district:
            raise NotFound(f"no enterprise {enterprise_id}")
        return
    if actor.role is not Role.APPLICANT:
        raise PermissionDenied("only the enterprise's admin or a customs administrator manages an enterprise")
    if actor.enterprise_id != enterprise_id:
        raise NotFound(f"no enterprise {enterprise_id}")
    if acting is None or not acting.active or not acting.is_admin:
        raise PermissionDenied("only the enterprise's admin manages its profile and users")


def require_an_admin_left(target: EnterpriseUser, active: bool, is_admin: bool, other_admins: int) -> None:
    """An enterprise keeps at least one active admin: the last one can neither step down nor be switched off."""
    was_admin = target.active and target.is_admin
    stays_admin = active and is_admin
    if was_admin and not stays_admin and other_admins == 0:
        field = "is_admin" if active else "active"
        raise GuardFailed("the enterprise's last admin cannot step down or be deactivated; make another admin first",
                          field=field)  # fmt: skip
