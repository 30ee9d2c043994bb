"""Who acts on the workflow: the roles of DOMAIN.md §(c) and the actor that carries them into every audit event."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    """Roles that trigger transitions; an AUDITOR only reads and never triggers one."""

    APPLICANT = "applicant"
    ACCEPTOR = "acceptor"
    REVIEWER = "reviewer"
    DECIDER = "decider"
    HEAD = "head"
    EXPERT = "expert"
    PORT_OFFICER = "port_officer"
    DEST_OFFICER = "dest_officer"
    AUDITOR = "auditor"
    ADMIN = "admin"
    SYSTEM = "system"

    @property
    def is_customs(self) -> bool:
        return self not in (Role.APPLICANT, Role.SYSTEM)


@dataclass(frozen=True)
class Actor:
    """A user acting in one role; `enterprise_id` is set for applicants, `district` for customs officers."""

    user_id: int | None
    role: Role
    name: str = ""
    enterprise_id: int | None = None
    district: str | None = None


SYSTEM_ACTOR = Actor(user_id=None, role=Role.SYSTEM, name="system")
