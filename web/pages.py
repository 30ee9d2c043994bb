"""Public HTML pages: the landing page with the live counts of the district's workflow."""

from __future__ import annotations

from flask import Blueprint, render_template

from web.context import container
from web.request_reads import request_reads
from workflow.domain.lifecycle import APPLICATION
from workflow.store import queries

blueprint = Blueprint("pages", __name__)


@blueprint.get("/")
def index() -> str:
    with request_reads() as session:
        counts = queries.applications_by_state(session)
    return render_template(
        "index.html", counts=counts, states=[state.value for state in APPLICATION.states], settings=container().settings
    )
