"""Request-side access to the container, the bus and the signed-in actor (an API token, or HTTP Basic).

Passwords are Argon2id hashes (parameters in web/passwords.py); older hashes (Werkzeug's scrypt/pbkdf2, Argon2 with
other parameters) still verify and are replaced at the next sign-in, on the token endpoint or the sign-in form. A
failed password check is written to the audit trail. Every password check, at every door (the token endpoint, HTTP
Basic, the sign-in form), first asks the sign-in throttle (web/throttle.py) and then tells it the outcome.
"""

from __future__ import annotations

from contextlib import suppress
from functools import cache

from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app, g, request
from werkzeug.security import check_password_hash

from config.bootstrap import Container
from web.passwords import HASHER, RECENT
from web.throttle import SignInThrottle, client_source
from workflow.domain import inputs
from workflow.domain.actors import Actor
from workflow.domain.errors import DomainError
from workflow.store.accounts import account_for_token, record_login, set_password_hash
from workflow.store.directory import UserAccount, find_user
from workflow.store.read_sessions import reading
from workflow.store.uow import SqlUnitOfWork


@cache
def _dummy_hash() -> str:
    """Verified against when the user name is unknown, so a miss costs what a wrong password costs.

    Made on first use, not at import: an Argon2 hash costs every CLI command and worker start that imports this.
    """
    return HASHER.hash("no such user")


class Unauthenticated(DomainError):
    status = 401


def container() -> Container:
    found: Container = current_app.extensions["specgoods"]
    return found


def current_actor() -> Actor:
    """The actor of this request, authenticated once per request."""
    if "actor" not in g:
        g.actor = _authenticate()
    actor: Actor = g.actor
    return actor


def _authenticate() -> Actor:
    auth = request.authorization
    if auth is None:
        raise Unauthenticated("sign in: send an API token (Authorization: Bearer …) or HTTP Basic credentials")
    if auth.type == "bearer":
        return _by_token(auth.token or "")
    if auth.type == "basic" and auth.username and auth.password is not None:
        return check_password(auth.username, auth.password).actor
    raise Unauthenticated("unsupported Authorization scheme: use Bearer or Basic")


def _by_token(token: str) -> Actor:
    # Only API tokens: a browser session's token (sgs_) is not accepted here (workflow/store/accounts.py).
    account = account_for_token(container().engine, token, container().deps.clock.now())
    if account is None:
        raise Unauthenticated("the API token is unknown, expired or revoked")
    return account.actor


def check_password(username: str, password: str) -> UserAccount:
    """The account, or Unauthenticated once the failure is counted and written to the login history.

    TooManyAttempts while this name, from this client, must wait: the password is then not checked at all.
    """
    name, source = inputs.printable(username, inputs.USERNAME), client_source(request.remote_addr)
    throttle().check(name, source)
    account = None
    if inputs.bad_character(username) is None and len(username) <= inputs.USERNAME:  # no such name can exist
        with reading(container().sessions) as session:  # its own: web/request_reads.py is built on this module
            account = find_user(session, username)
    # An unknown name still pays for one hash check, so timing does not tell which names exist.
    if not verify_password(account.password_hash if account else "", password) or account is None:
        throttle().failed(name, source)
        login_event(username, account, "login_failed")
        raise Unauthenticated("unknown user or wrong password")
    throttle().succeeded(name, source)
    return account


def throttle() -> SignInThrottle:
    found: SignInThrottle = current_app.extensions["specgoods_throttle"]
    return found


def verify_password(stored: str, password: str) -> bool:
    if stored.startswith("$argon2"):  # a pair that matched a moment ago is not hashed again (web/passwords.py)
        return RECENT.matched(stored, password) or _argon2_matches(stored, password)
    if stored.startswith(("scrypt:", "pbkdf2:")):
        return check_password_hash(stored, password)
    _burn(password)
    return False


def _argon2_matches(stored: str, password: str) -> bool:
    try:
        HASHER.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False
    RECENT.remember(stored, password)
    return True


def _burn(password: str) -> None:
    with suppress(VerificationError):
        HASHER.verify(_dummy_hash(), password)


def login_event(username: str, account: UserAccount | None, outcome: str, rehash: str | None = None) -> None:
    """One sign-in attempt in the audit trail, in its own unit of work (so it joins the hash chain)."""
    # What the client sent is evidence, kept as sent but made storable: no NUL reaches a text or JSON column.
    agent = inputs.printable(request.user_agent.string, 200)
    facts = {"remote_addr": request.remote_addr or "", "user_agent": agent}
    name = inputs.printable(username, inputs.USERNAME)
    with SqlUnitOfWork(container().sessions, container().deps.clock.now) as uow:
        if rehash is not None and account is not None:
            set_password_hash(uow.session, account.id, rehash)
        record_login(uow.session, uow.audit, name, account, outcome, facts)
        uow.commit()
