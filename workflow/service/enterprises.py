"""The enterprise's own administration: its admin edits the profile and manages the enterprise's applicant users.

Each command is one transaction: the enterprise's row is locked first (so the changes of one enterprise queue up and
the "at least one admin" rule counts what is really there), the actor's right is checked against the database, not
the session, and the change and its audit event commit together. Nothing is written when any check refuses.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from workflow.domain import commands as c
from workflow.domain.enterprise import (
    EnterpriseProfile,
    EnterpriseUser,
    clean_new_user,
    clean_profile,
    require_administrator,
    require_an_admin_left,
)
from workflow.domain.errors import ConcurrencyConflict, InvalidInput, NotFound
from workflow.service.ports import Dependencies, UnitOfWork

PROFILE_FIELDS = ("name", "name_en", "address", "contact_person", "phone")


def update_profile(cmd: c.UpdateEnterpriseProfile, deps: Dependencies) -> int:
    """Change the fields given; returns the new version. The audit event keeps each change as [before, after]."""
    given = {name: getattr(cmd, name) for name in PROFILE_FIELDS if getattr(cmd, name) is not None}
    values = clean_profile(given)  # bad input is refused before anything is read or locked
    with deps.uow() as uow:
        profile = _authorized(uow, cmd)
        if cmd.version is not None and cmd.version != profile.version:
            raise ConcurrencyConflict(f"the profile changed since version {cmd.version}; reload it", field="version")
        changes = {name: [getattr(profile, name), value] for name, value in values.items()
                   if getattr(profile, name) != value}  # fmt: skip
        if not changes:
            return profile.version
        if not uow.enterprise_admin.update_profile(profile.id, profile.version, values):
            raise ConcurrencyConflict("the profile was changed meanwhile; reload it", field="version")
        _record(uow, cmd, profile, "enterprise", profile.id, profile.uscc, "edit_profile", {"changes": changes})
        uow.commit()
        return profile.version + 1


def add_user(cmd: c.AddEnterpriseUser, deps: Dependencies) -> int:
    """A new applicant user of the enterprise, active at once; returns the user's id."""
    username, display_name, email = clean_new_user(cmd.username, cmd.display_name, cmd.email)
    if not cmd.password_hash:
        raise InvalidInput("a new user needs an initial password", field="password")
    with deps.uow() as uow:
        profile = _authorized(uow, cmd)
        user_id = uow.enterprise_admin.add_user(
            profile.id, username, display_name, email, cmd.password_hash, cmd.is_admin
        )
        inputs = {"enterprise_id": profile.id, "display_name": display_name, "email": email, "is_admin": cmd.is_admin}
        _record(uow, cmd, profile, "user", user_id, username, "add_user", inputs)
        uow.commit()
        return user_id


def change_user(cmd: c.ChangeEnterpriseUser, deps: Dependencies) -> EnterpriseUser:
    """Deactivate or reactivate, make or unmake an admin; the enterprise always keeps one active admin."""
    with deps.uow() as uow:
        profile = _authorized(uow, cmd)
        target = uow.enterprise_admin.user(cmd.user_id)
        if target is None or target.enterprise_id != profile.id:
            raise NotFound(f"no user {cmd.user_id} in this enterprise")
        active = target.active if cmd.active is None else cmd.active
        is_admin = target.is_admin if cmd.is_admin is None else cmd.is_admin
        require_an_admin_left(target, active, is_admin, uow.enterprise_admin.other_active_admins(profile.id, target.id))
        triggers = _triggers(target, active, is_admin)
        if triggers:
            uow.enterprise_admin.set_user(target.id, active, is_admin)
            for trigger in triggers:
                _record(uow, cmd, profile, "user", target.id, target.username, trigger, {"enterprise_id": profile.id})
            uow.commit()
        return replace(target, active=active, is_admin=is_admin)


def _triggers(target: EnterpriseUser, active: bool, is_admin: bool) -> list[str]:
    """One audit event per flag that really changes: a repeated request records nothing."""
    found = []
    if active != target.active:
        found.append("reactivate" if active else "deactivate")
    if is_admin != target.is_admin:
        found.append("make_admin" if is_admin else "unmake_admin")
    return found


def _authorized(
    uow: UnitOfWork, cmd: c.UpdateEnterpriseProfile | c.AddEnterpriseUser | c.ChangeEnterpriseUser
) -> EnterpriseProfile:
    """Lock the enterprise, then check the actor against the locked state (a demoted admin is refused at once)."""
    profile = uow.enterprise_admin.lock(cmd.enterprise_id)
    acting = uow.enterprise_admin.user(cmd.actor.user_id) if cmd.actor.user_id is not None else None
    require_administrator(cmd.actor, profile.id, profile.district, acting)
    return profile


def _record(
    uow: UnitOfWork,
    cmd: c.Command,
    profile: EnterpriseProfile,
    object_type: str,
    object_id: int,
    ref: str,
    trigger: str,
    inputs: dict[str, Any],
) -> None:
    uow.enterprise_admin.record(object_type, object_id, ref, profile.district, cmd.actor, trigger, inputs)


HANDLERS: dict[type[c.Command], Callable[[Any, Dependencies], Any]] = {
    c.UpdateEnterpriseProfile: update_profile,
    c.AddEnterpriseUser: add_user,
    c.ChangeEnterpriseUser: change_user,
}
