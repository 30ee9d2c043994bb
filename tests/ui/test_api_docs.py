"""The interactive API reference (/api/docs): same-origin files only, no inline script, linked from every page's footer.

The browser half (the operations drawn under the CSP, no console error) is tests/e2e/test_api_docs.py.
"""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import urlsplit

from tests.ui.conftest import Pages
from web import SPEC_PATH
from web.api_docs import ASSETS_PATH
from web.security import CSP


class Links(HTMLParser):
    """Every src and href of a page, and the body of each script element."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.urls: list[str] = []
        self.scripts: list[tuple[str | None, str]] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        self.urls.extend(str(found[name]) for name in ("src", "href") if found.get(name))
        if tag == "script":
            self._in_script = True
            self.scripts.append((found.get("src"), ""))

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            source, body = self.scripts[-1]
            self.scripts[-1] = (source, body + data)


def parse(html: str) -> Links:
    links = Links()
    links.feed(html)
    return links


def test_the_reference_page_links_only_same_origin_files_and_carries_the_strict_csp(pages: Pages) -> None:
    response = pages.client.get("/api/docs")
    assert response.status_code == 200
    assert response.headers["Content-Security-Policy"] == CSP
    links = parse(response.get_data(as_text=True))
    assert links.urls, "the page links its files"
    for url in links.urls:
        parts = urlsplit(url)
        assert not parts.scheme and not parts.netloc and url.startswith("/"), url
    for url in links.urls:
        fetched = pages.client.get(url)
        fetched.close()  # a file response holds its file open until closed
        assert fetched.status_code in (200, 302), url  # 302: the brand's link to the sign-in page
        assert fetched.headers["Content-Security-Policy"] == CSP
    assert f"{ASSETS_PATH}/swagger-ui-bundle.js" in links.urls and SPEC_PATH in links.urls


def test_every_script_of_the_reference_is_a_file_and_none_is_inline(pages: Pages) -> None:
    links = parse(pages.text("/api/docs"))
    assert len(links.scripts) >= 2
    assert all(source and not body.strip() for source, body in links.scripts), links.scripts


def test_only_the_swagger_files_the_page_links_are_served_and_they_are_cached_for_a_year(pages: Pages) -> None:
    css = pages.client.get(f"{ASSETS_PATH}/swagger-ui.css")
    css.close()
    assert css.status_code == 200 and css.mimetype == "text/css"
    assert "max-age=31536000" in css.headers["Cache-Control"]
    for name in ("index.html", "swagger-initializer.js", "swagger-editor-bundle.js", "..%2F__init__.py"):
        assert pages.client.get(f"{ASSETS_PATH}/{name}").status_code == 404, name


def test_every_page_footer_links_the_reference_in_chinese_then_in_english(pages: Pages) -> None:
    sign_in = pages.text("/ui/sign-in")
    assert '<a href="/api/docs">接口参考</a>' in sign_in
    assert "<h1>接口参考</h1>" in pages.text("/api/docs")
    pages.post("/ui/language", {"lang": "en", "next": "/ui/sign-in"})
    assert '<a href="/api/docs">API reference</a>' in pages.text("/ui/sign-in")
    assert "<h1>API reference</h1>" in pages.text("/api/docs")
