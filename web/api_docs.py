"""The interactive API reference at /api/docs: Swagger UI over the served OpenAPI document, under the strict CSP.

Swagger UI's files are served straight from the installed `swagger-ui-py` package (Swagger UI 5, which reads OpenAPI
3.1; nothing copied into the tree, no CDN), under a path that carries the package version, so browsers may cache
them for a year. The page starts it with our own file, web/static/api-docs.js: the CSP forbids inline script.
"""

from __future__ import annotations

from importlib.metadata import version
from importlib.resources import files
from pathlib import Path

from flask import Blueprint, Response, abort, render_template, send_from_directory

from web import SPEC_PATH

blueprint = Blueprint("api_docs", __name__)

PACKAGE = "swagger-ui-py"
ASSETS_DIR = Path(str(files("swagger_ui") / "static"))
# A new version of the package is a new URL, so a year of caching never serves a stale bundle.
ASSETS_PATH = f"/api/docs/{PACKAGE}-{version(PACKAGE)}"
# Only what the page links: the package's own demo page and initializer point at another origin.
ASSETS = frozenset({"swagger-ui.css", "swagger-ui-bundle.js"})
YEAR = 365 * 24 * 3600


@blueprint.get("/api/docs")
def page() -> str:
    """The reference, in the person's language around Swagger UI (whose own labels are English)."""
    return render_template("api_docs.html", spec_url=SPEC_PATH)


@blueprint.get(f"{ASSETS_PATH}/<name>")
def asset(name: str) -> Response:
    if name not in ASSETS:
        abort(404)
    return send_from_directory(ASSETS_DIR, name, max_age=YEAR)
