"""Fixtures of the API tests: a world of two enterprises and two districts, every role signed in with a token."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from config.bootstrap import Container
from tests.conftest import Cast, make_cast
from tests.integration.labs import reference_lab
from tests.integration.support import declare, fx10_cytokine, grant
from web import create_app
from workflow.domain import commands as c
from workflow.domain.actors import Actor, Role
from workflow.domain.certificate_changes import ChangeKind
from workflow.domain.ledger import ReversalReason
from workflow.store.accounts import issue_token
from workflow.store.directory import create_user
from workflow.store.notifications import SqlNotifications
from workflow.store.tables import ApiTokenRow, CertificateRow, DocumentRow, LedgerEntryRow

PASSWORD = "correct horse battery staple"


@dataclass
class World:
    """`home` files in Xiamen; `rival` is another Xiamen enterprise; `far` is the Fuzhou district's cast."""

    container: Container
    client: FlaskClient
    home: Cast
    rival: Cast
    far: Cast
    admin: Actor
    tokens: dict[int, str] = field(default_factory=dict)

    def auth(self, actor: Actor) -> dict[str, str]:
        assert actor.user_id is not None
        return {"Authorization": f"Bearer {self.tokens[actor.user_id]}"}

    def call(self, actor: Actor, method: str, path: str, **kwargs: Any) -> Any:
        headers = {**self.auth(actor), **kwargs.pop("headers", {})}
        return self.client.open(path, method=method, headers=headers, **kwargs)

    def actors(self) -> list[Actor]:
        casts = (self.home, self.rival, self.far)
        return [self.admin, *(actor for cast in casts for actor in (cast.applicant, *cast.officers.values()))]


def _admin(container: Container) -> Actor:
    with container.sessions() as session, session.begin():
        user = create_user(session, username="admin", role=Role.ADMIN, password_hash="", now=container.deps.clock.now())
        return Actor(user.id, Role.ADMIN, user.username)


def _sign_in_everyone(world: World) -> None:
    now = world.container.deps.clock.now()
    with world.container.sessions() as session, session.begin():
        for actor in world.actors():
            assert actor.user_id is not None
            world.tokens[actor.user_id] = issue_token(session, actor.user_id, "tests", now, timedelta(days=1)).token


@pytest.fixture
def make_world(container: Container) -> Callable[..., World]:
    def make(config: dict[str, Any] | None = None) -> World:
        home = make_cast(container)
        rival = make_cast(container, suffix="R")
        far = make_cast(container, district="fuzhou", suffix="F")
        app = create_app(container, {"TESTING": True, **(config or {})})
        world = World(container, app.test_client(), home, rival, far, _admin(container))
        _sign_in_everyone(world)
        return world

    return make


@pytest.fixture
def world(make_world: Callable[..., World]) -> World:
    return make_world()


def home_objects(world: World) -> dict[str, int]:
    """Objects of the home enterprise (Xiamen) at every level: application to reversal, plus a token and a notice."""
    home, container = world.home, world.container
    number = grant(container, home, fx10_cytokine(100))
    declared = declare(container, home, number, 10, inspected=False)
    with container.sessions() as session:
        certificate = session.scalar(select(CertificateRow).where(CertificateRow.certificate_no == number))
        assert certificate is not None
        entry = session.scalar(
            select(LedgerEntryRow.id).where(
                LedgerEntryRow.certificate_id == certificate.id, LedgerEntryRow.kind == "commit"
            )
        )
        document = session.scalar(
            select(DocumentRow.id).where(DocumentRow.application_id == certificate.application_id)
        )
    reversal = container.bus.handle(
        c.RequestReversal(home.port_officer, entry, Decimal(1), ReversalReason.CLERICAL_ERROR)
    )
    with container.sessions() as session, session.begin():
        notification = SqlNotifications(session, container.deps.clock.now).add(home.applicant.user_id or 0, "x", {})
    change = container.bus.handle(
        c.RequestCertificateChange(home.applicant, certificate.id, ChangeKind.CANCELLATION, "不再进口")
    )
    return {
        "enterprise_id": home.enterprise_id,
        "application_id": certificate.application_id,
        "certificate_id": certificate.id,
        "declaration_id": declared["declaration_id"],
        "entry_id": entry,
        "reversal_id": reversal["reversal_id"],
        "document_id": document,
        "token_id": _token_of(world, home.applicant),
        "notification_id": notification,
        "user_id": home.applicant.user_id or 0,
        "lab_id": reference_lab(container, home.enterprise_id),
        "change_id": change,
    }


def _token_of(world: World, actor: Actor) -> int:
    with world.container.sessions() as session:
        found = session.scalar(select(ApiTokenRow.id).where(ApiTokenRow.user_id == actor.user_id))
        assert found is not None
        return found
