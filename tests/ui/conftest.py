"""Fixtures of the page tests: the demo data in a SQLite file made once per session, copied for every test."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from config.bootstrap import Container, bootstrap
from config.demo import DEMO_PASSWORD, load_demo
from config.settings import load_settings
from tests.conftest import FixedClock
from web import create_app
from workflow.store.migrate import upgrade

CSRF = re.compile(r'name="csrf-token" content="([^"]+)"')


@pytest.fixture(scope="session")
def demo_database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("ui-demo")
    url = f"sqlite:///{folder / 'demo.sqlite3'}"
    upgrade(url)
    container = bootstrap(
        load_settings(database_url=url, instance_path=folder / "instance"), clock=FixedClock(date(2016, 6, 1))
    )
    for _line in load_demo(container):
        pass
    container.dispose()
    return folder


@dataclass
class Pages:
    """The app on a private copy of the demo data, and a browser-like client that signs in through the form."""

    container: Container
    client: FlaskClient

    def csrf(self, path: str = "/ui/sign-in") -> str:
        found = CSRF.search(self.client.get(path).get_data(as_text=True))
        assert found, f"no CSRF token on {path}"
        return found.group(1)

    def sign_in(self, username: str, password: str = DEMO_PASSWORD) -> Any:
        token = self.csrf()
        return self.client.post("/ui/sign-in", data={"username": username, "password": password, "csrf_token": token})

    def post(self, path: str, data: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        """A form post with the session's CSRF token, as the page would send it."""
        return self.client.post(path, data={**(data or {}), "csrf_token": self.csrf("/ui/sign-in")}, **kwargs)

    def text(self, path: str, status: int = 200) -> str:
        response = self.client.get(path)
        assert response.status_code == status, response.get_data(as_text=True)[:2000]
        return response.get_data(as_text=True)


@pytest.fixture
def pages(demo_database: Path, tmp_path: Path, clock: FixedClock) -> Iterator[Pages]:
    shutil.copytree(demo_database, tmp_path / "site")
    url = f"sqlite:///{tmp_path / 'site' / 'demo.sqlite3'}"
    container = bootstrap(load_settings(database_url=url, instance_path=tmp_path / "site" / "instance"), clock=clock)
    app = create_app(container, {"TESTING": True})
    yield Pages(container, app.test_client())
    container.dispose()
