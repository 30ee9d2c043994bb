"""`/api/v1/tokens` and `/api/v1/me`: signing in for a per-user API token, listing and revoking one's tokens.

Signing in is `POST /api/v1/tokens` with HTTP Basic: it is throttled (web/throttle.py), it writes the login
history (success and failure) to the audit trail, and it upgrades a pre-Argon2 password hash in the same step.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from apiflask import APIBlueprint
from flask import request

from web.authz import EVERYONE, guard
from web.context import Unauthenticated, check_password, container, current_actor, login_event
from web.idempotency import idempotent
from web.passwords import fresh_hash
from web.request_reads import request_reads
from web.schemas import Me, TokenIn, TokenInfo, TokenList, TokenOut
from workflow.domain.errors import NotFound
from workflow.store.accounts import issue_token, revoke_token, tokens_of

blueprint = APIBlueprint("auth", __name__, url_prefix="/api/v1", tag="Sign-in")


@blueprint.post("/tokens")
@blueprint.input(TokenIn)
@blueprint.output(TokenOut, status_code=201)
@blueprint.doc(security=[{"BasicAuth": []}])
def sign_in(json_data: TokenIn) -> dict[str, Any]:
    """Sign in with HTTP Basic and get a new API token (shown once)."""
    auth = request.authorization
    if auth is None or auth.type != "basic" or not auth.username or auth.password is None:
        raise Unauthenticated("sign in with HTTP Basic credentials")
    account = check_password(auth.username, auth.password)
    login_event(account.username, account, "login", fresh_hash(account.password_hash, auth.password))
    with container().sessions() as session, session.begin():
        lifetime = timedelta(days=json_data.lifetime_days)
        issued = issue_token(session, account.id, json_data.name, container().deps.clock.now(), lifetime)
    return {"id": issued.id, "token": issued.token, "name": issued.name, "expires_at": issued.expires_at}


sign_in.guard = None  # type: ignore[attr-defined]  # public by design: it is where credentials are checked
# Never replayed: the response holds a secret that is stored nowhere, so a retry signs in again for a new token.
sign_in.idempotency = "never"  # type: ignore[attr-defined]


@blueprint.get("/tokens")
@guard(EVERYONE, write=False)
@blueprint.output(TokenList)
def list_tokens() -> dict[str, Any]:
    """The caller's own tokens (never the tokens themselves)."""
    with request_reads() as session:
        return {"items": tokens_of(session, current_actor().user_id or 0)}


@blueprint.post("/tokens/<int:token_id>/revoke")
@guard(EVERYONE, write=False)
@idempotent
@blueprint.output(TokenInfo)
def revoke(token_id: int) -> dict[str, Any]:
    """Revoke one of the caller's tokens; someone else's token is not found."""
    user_id = current_actor().user_id or 0
    with container().sessions() as session, session.begin():
        revoke_token(session, user_id, token_id, container().deps.clock.now())  # revoking twice changes nothing
        found = [token for token in tokens_of(session, user_id) if token["id"] == token_id]
    if not found:
        raise NotFound(f"no token {token_id}")
    return found[0]


@blueprint.get("/me")
@guard(EVERYONE, write=False)
@blueprint.output(Me)
def me() -> dict[str, Any]:
    """Who the credentials belong to."""
    actor = current_actor()
    return {
        "id": actor.user_id,
        "name": actor.name,
        "role": actor.role.value,
        "enterprise_id": actor.enterprise_id,
        "district": actor.district,
    }
