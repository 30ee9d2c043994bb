"""The interactive API reference in Debian's chromium: Swagger UI draws the operations under the strict CSP.

Every request the page makes stays on the server's origin, and the console holds no error: no CSP refusal, no
script error. The browser asks for /favicon.ico on its own, which the site does not have; that one 404 is expected.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from playwright.sync_api import Browser, ConsoleMessage

from tests.e2e.conftest import SCREENSHOTS, Site


def test_the_reference_draws_every_operation_with_no_console_error_and_no_other_origin(
    browser: Browser, site: Site
) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    page = context.new_page()
    page.set_default_timeout(20_000)
    errors: list[str] = []
    requested: list[str] = []
    page.on("console", lambda message: errors.extend(_error(message)))
    page.on("pageerror", lambda error: errors.append(f"page error: {error}"))
    page.on("request", lambda request: requested.append(request.url))

    page.goto(f"{site.url}/api/docs")
    page.locator(".opblock").first.wait_for()
    assert page.locator(".opblock").count() > 20
    assert page.locator(".opblock-tag").count() > 3
    page.locator(".opblock-summary").first.click()  # one operation opened: its parameters and responses drawn
    page.locator(".opblock-body .responses-wrapper").first.wait_for()
    page.locator(".btn.authorize").click()  # the sign-in dialog: the security schemes from web/spec.py
    page.locator(".auth-container").first.wait_for()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "api-docs.png"))
    context.close()

    origin = urlsplit(site.url).netloc
    fetched = [urlsplit(url) for url in requested if urlsplit(url).scheme in ("http", "https")]
    elsewhere = [url.geturl() for url in fetched if url.netloc != origin]
    assert requested and elsewhere == []
    assert errors == []


def _error(message: ConsoleMessage) -> list[str]:
    if message.type != "error":
        return []
    if message.location.get("url", "").endswith("/favicon.ico"):
        return []
    return [f"{message.text} at {message.location.get('url')}"]
