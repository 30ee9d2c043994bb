"""Request-side access to the container, the bus and the signed-in actor."""

from __future__ import annotations

from flask import current_app, request
from werkzeug.security import check_password_hash

from config.bootstrap import Container
from workflow.domain.actors import Actor
from workflow.domain.errors import DomainError
from workflow.store.directory import find_user


class Unauthenticated(DomainError):
    status = 401


def container() -> Container:
    found: Container = current_app.extensions["specgoods"]
    return found


def current_actor() -> Actor:
    """HTTP Basic against the users table (the API's per-user tokens come with the full API)."""
    auth = request.authorization
    if auth is None or not auth.username or auth.password is None:
        raise Unauthenticated("sign in: HTTP Basic credentials are required")
    with container().sessions() as session:
        account = find_user(session, auth.username)
    if account is None or not check_password_hash(account.password_hash, auth.password):
        raise Unauthenticated("unknown user or wrong password")
    return account.actor
