"""`/api/v1/enterprises`: applicant enterprises, read within one's scope; registered by administrators.

The enterprise's admin (or a customs administrator) edits its profile and manages its applicant users through the
commands of workflow/service/enterprises.py; the password is hashed here (Argon2id) and never reaches the service.
"""

from __future__ import annotations

from typing import Any

from apiflask import APIBlueprint

from web import paging
from web.authz import READERS, guard, scope_of
from web.context import HASHER, container, current_actor
from web.idempotency import idempotent
from web.request_reads import request_reads
from web.schemas import (
    EnterpriseIn,
    EnterpriseOut,
    EnterprisePage,
    EnterprisePatch,
    EnterpriseUserIn,
    EnterpriseUserList,
    EnterpriseUserOut,
    EnterpriseUserPatch,
    PageQuery,
)
from workflow.domain import commands as c
from workflow.domain.enterprise import EnterpriseUser, check_password
from workflow.domain.errors import ConcurrencyConflict
from workflow.domain.permissions import Action
from workflow.domain.uscc import validate_uscc
from workflow.store import api_reads
from workflow.store.directory import ensure_enterprise, find_enterprise
from workflow.store.enterprise_admin import enterprise_users, user_of
from workflow.store.tables import UserRow

blueprint = APIBlueprint("enterprises", __name__, url_prefix="/api/v1", tag="Enterprises")


@blueprint.get("/enterprises")
@guard(READERS, write=False)
@blueprint.input(PageQuery, location="query")
@blueprint.output(EnterprisePage)
def list_enterprises(query_data: PageQuery) -> dict[str, Any]:
    """Applicants see their own enterprise; customs users their district's; administrators all."""
    with request_reads() as session:
        rows = api_reads.enterprises(session, scope_of(current_actor()), query_data.before, query_data.limit + 1)
    return paging.page(rows, query_data.limit)


@blueprint.get("/enterprises/<int:enterprise_id>")
@guard(READERS, write=False)
@blueprint.output(EnterpriseOut)
def show_enterprise(enterprise_id: int) -> dict[str, Any]:
    with request_reads() as session:
        return api_reads.enterprise(session, enterprise_id)


@blueprint.post("/enterprises")
@guard(Action.REGISTER_ENTERPRISE)
@idempotent
@blueprint.input(EnterpriseIn)
@blueprint.output(EnterpriseOut, status_code=201)
def register_enterprise(json_data: EnterpriseIn) -> dict[str, Any]:
    """Register an enterprise; its unified social credit code is checked (GB 32100) and must be new."""
    uscc = validate_uscc(json_data.uscc)
    deps = container().deps
    deps.policies.policy_for(json_data.district, deps.clock.today(json_data.district))  # a known district
    with container().sessions() as session, session.begin():
        if find_enterprise(session, uscc) is not None:
            raise ConcurrencyConflict(f"an enterprise with code {uscc} is already registered", field="uscc")
        row = ensure_enterprise(
            session,
            name=json_data.name,
            name_en=json_data.name_en,
            uscc=uscc,
            district=json_data.district,
            is_natural_person=json_data.is_natural_person,
            now=container().deps.clock.now(),
        )
        return api_reads.enterprise_view(row)


@blueprint.patch("/enterprises/<int:enterprise_id>")
@guard(Action.UPDATE_ENTERPRISE)  # the handler then checks an applicant is the enterprise's admin
@blueprint.input(EnterprisePatch)
@blueprint.output(EnterpriseOut)
def update_enterprise(enterprise_id: int, json_data: EnterprisePatch) -> dict[str, Any]:
    """The enterprise's admin edits its profile; send the `version` you read to refuse a stale edit (409)."""
    fields = json_data.model_dump(exclude_unset=True, exclude={"version"})
    container().bus.handle(
        c.UpdateEnterpriseProfile(current_actor(), enterprise_id, **fields, version=json_data.version)
    )
    with request_reads() as session:
        return api_reads.enterprise(session, enterprise_id)


@blueprint.get("/enterprises/<int:enterprise_id>/users")
@guard(READERS, write=False)
@blueprint.output(EnterpriseUserList)
def list_enterprise_users(enterprise_id: int) -> dict[str, Any]:
    """The enterprise's applicant users, active or not, with who its admins are."""
    with request_reads() as session:
        return {"items": [_user_view(user) for user in enterprise_users(session, enterprise_id)]}


@blueprint.post("/enterprises/<int:enterprise_id>/users")
@guard(Action.ADD_ENTERPRISE_USER)
@idempotent
@blueprint.input(EnterpriseUserIn)
@blueprint.output(EnterpriseUserOut, status_code=201)
def add_enterprise_user(enterprise_id: int, json_data: EnterpriseUserIn) -> dict[str, Any]:
    """Another applicant user of the enterprise, who can sign in at once with the initial password."""
    check_password(json_data.password)
    command = c.AddEnterpriseUser(
        current_actor(),
        enterprise_id,
        username=json_data.username,
        display_name=json_data.display_name,
        email=json_data.email,
        password_hash=HASHER.hash(json_data.password),
        is_admin=json_data.is_admin,
    )
    user_id = container().bus.handle(command)
    with request_reads() as session:
        row = session.get(UserRow, user_id)
        assert row is not None
        return _user_view(user_of(row))


@blueprint.patch("/enterprises/<int:enterprise_id>/users/<int:user_id>")
@guard(Action.CHANGE_ENTERPRISE_USER)
@blueprint.input(EnterpriseUserPatch)
@blueprint.output(EnterpriseUserOut)
def change_enterprise_user(enterprise_id: int, user_id: int, json_data: EnterpriseUserPatch) -> dict[str, Any]:
    """Deactivate or reactivate a user, make or unmake an admin; the last active admin stays (422)."""
    command = c.ChangeEnterpriseUser(
        current_actor(), enterprise_id, user_id, active=json_data.active, is_admin=json_data.is_admin
    )
    return _user_view(container().bus.handle(command))


def _user_view(user: EnterpriseUser) -> dict[str, Any]:
    return {
        "id": user.id,
        "username": user.username,
        "display_name": user.display_name,
        "email": user.email,
        "active": user.active,
        "is_admin": user.is_admin,
    }
