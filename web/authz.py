"""Authorization on every route, declared where the route is: who may call it, and whose objects they may touch.

`guard` runs before input validation, so a caller learns nothing about an object or a body it may not use:
- a role the route is not for gets 403 (auditors never write; admins administer, they do not decide);
- an object (any `*_id` path argument) outside the caller's scope is 404, exactly as if it did not exist:
  applicants see their own enterprise's objects, customs users their district's, district-less users everything.
Every action (a write, or an audit read) is declared by name, `guard(Action.GRANT)`, and its roles come from the one
table in workflow/domain/permissions.py that the HTML routes and the domain read too; plain reads name their roles.
The rule sits on the view as `view.guard`, so tests can walk the route table and try every route as every role.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import wraps
from typing import Any, TypeVar

from web.context import current_actor
from web.request_reads import request_reads
from workflow.domain.actors import Actor, Role
from workflow.domain.errors import NotFound, PermissionDenied
from workflow.domain.permissions import EVERYONE, PERMISSIONS, Action, in_scope
from workflow.store.api_reads import OWNERS, Owner, Scope, max_id, owner

F = TypeVar("F", bound=Callable[..., Any])
READERS = EVERYONE


@dataclass(frozen=True)
class Guard:
    roles: frozenset[Role]
    write: bool
    action: Action | None = None

    def allows(self, role: Role) -> bool:
        return role in self.roles and not (self.write and role is Role.AUDITOR)


def _rule(roles: Iterable[Role] | Action, write: bool | None) -> Guard:
    if isinstance(roles, Action):
        permission = PERMISSIONS[roles]
        return Guard(permission.roles, permission.writes, roles)
    if write is None:
        raise TypeError("a guard by roles says whether it writes; a write names its Action instead")
    return Guard(frozenset(roles), write)


def guard(roles: Iterable[Role] | Action, *, write: bool | None = None) -> Callable[[F], F]:
    """`guard(Action.X)` for an action of the permission table; `guard(roles, write=False)` for a plain read."""
    rule = _rule(roles, write)

    def decorate(view: F) -> F:
        @wraps(view)
        def checked(*args: Any, **kwargs: Any) -> Any:
            actor = current_actor()
            if not rule.allows(actor.role):
                verb = "change" if rule.write else "read"
                raise PermissionDenied(f"a {actor.role.value} may not {verb} this", rule_id="R11")
            for name, value in kwargs.items():
                if name.endswith("_id") and not 1 <= value <= max_id(name):
                    raise NotFound(f"no {name.removesuffix('_id')} {value}")  # beyond the column: not a DB error
                if name in OWNERS:
                    require_visible(actor, name, value)
            return view(*args, **kwargs)

        checked.guard = rule  # type: ignore[attr-defined]
        return checked  # type: ignore[return-value]

    return decorate


def require_visible(actor: Actor, kind: str, object_id: int) -> Owner:
    with request_reads() as session:  # a GET's one read session; a command's own, ended in COMMIT
        found = owner(session, kind, object_id)
    if found is None or not visible(actor, found):
        raise NotFound(f"no {kind.removesuffix('_id')} {object_id}")
    return found


def visible(actor: Actor, found: Owner) -> bool:
    return in_scope(actor, found)


def scope_of(actor: Actor) -> Scope:
    """The rows a list shows this actor."""
    if actor.role is Role.APPLICANT:
        return Scope(enterprise_id=actor.enterprise_id if actor.enterprise_id is not None else -1)
    return Scope(district=actor.district)
