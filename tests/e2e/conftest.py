"""A real server for the browser tests: `specgoods serve` in embedded mode (SQLite + its in-process Celery worker)
on a fresh instance folder with the demo data, driven by Debian's chromium through Playwright.

Nothing here skips: without /usr/bin/chromium the browser fails to launch and every test fails.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page

from config.demo import DEMO_PASSWORD
from tests.conftest import wait_for

CHROMIUM = "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parents[2]
# Every run writes the screenshots to artifacts/screenshots/ (ignored by git: the pages show the day's dates, so
# committed images would change on every run); SPECGOODS_REFRESH_SCREENSHOTS=1 refreshes the committed set.
SCREENSHOTS = ROOT / ("docs" if os.environ.get("SPECGOODS_REFRESH_SCREENSHOTS") else "artifacts") / "screenshots"


@dataclass
class Site:
    url: str
    log: Path


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/readyz", timeout=15) as response:  # up, and its worker too
            return response.status == 200
    except OSError:
        return False


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    folder = tmp_path_factory.mktemp("e2e")
    env = {key: value for key, value in os.environ.items() if not key.startswith("SPECGOODS_")}
    env |= {"SPECGOODS_INSTANCE_PATH": str(folder / "instance"), "SPECGOODS_SECRET_KEY": "e2e-not-for-production"}
    cli = [sys.executable, "-m", "cli"]
    subprocess.run([*cli, "demo"], env=env, check=True, capture_output=True, timeout=300)
    port = _free_port()
    log = folder / "server.log"
    with log.open("wb") as handle:
        server = subprocess.Popen(
            [*cli, "serve", "--port", str(port)], env=env, stdout=handle, stderr=subprocess.STDOUT
        )
        url = f"http://127.0.0.1:{port}"
        try:
            wait_for(
                lambda: server.poll() is not None or _healthy(url),
                timeout=120,
                interval=0.5,
                what="the server's /readyz",
            )
            assert server.poll() is None, log.read_text()[-3000:]
            yield Site(url, log)
        finally:
            server.terminate()
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    """Debian's chromium, never a downloaded browser (`playwright install` is not used)."""
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": ["--no-sandbox"]}


@dataclass
class Person:
    """One signed-in person in their own browser context (cookies apart from everyone else's)."""

    page: Page
    site: Site

    def go(self, path: str) -> Page:
        self.page.goto(self.site.url + path)
        return self.page

    def shot(self, name: str) -> None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


@pytest.fixture
def person(browser: Browser, site: Site) -> Iterator[Any]:
    contexts = []

    def sign_in(username: str, width: int = 1280, language: str = "") -> Person:
        context = browser.new_context(viewport={"width": width, "height": 900}, locale="zh-CN")
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(15_000)
        page.goto(f"{site.url}/ui/sign-in")
        if language == "en":
            page.click("[data-switch-language]")
        page.fill("#username", username)
        page.fill("#password", DEMO_PASSWORD)
        page.click("main form button[type=submit]")
        page.wait_for_url(lambda url: "/ui/sign-in" not in url)
        return Person(page, site)

    yield sign_in
    for context in contexts:
        context.close()
