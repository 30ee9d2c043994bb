"""The expert desk: the assessments whose panel the expert sits on, their deadlines, and the opinion form (A8)."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from web.context import container
from web.request_reads import request_reads
from web.ui.auth import actor, allow
from web.ui.forms import OpinionForm, options
from web.ui.i18n import OPINIONS as OPINION_WORDS
from web.ui.refusals import Refusal, back_to_the_page
from workflow.domain import commands as c
from workflow.domain.actors import Role
from workflow.domain.assessment import Opinion
from workflow.domain.errors import InvalidInput
from workflow.domain.permissions import Action
from workflow.store import ui_queries

blueprint = Blueprint("ui_expert", __name__, url_prefix="/ui/expert")
OPINIONS = list(OPINION_WORDS.items())


def _form() -> OpinionForm:
    form = OpinionForm()
    form.opinion.choices = options(OPINIONS)
    return form


@blueprint.get("/")
@allow((Role.EXPERT,))
def desk() -> str:
    return _desk()


def _desk(refusal: Refusal | None = None, **_route: int) -> str:
    """The desk; after a refused opinion, its assessment's form holds what was posted, with the message at it."""
    with request_reads() as session:
        seats = ui_queries.expert_seats(session, actor().user_id or 0, open_only=False)
    return render_template(
        "ui/expert/desk.html",
        seats=seats,
        form=_form(),
        today=container().deps.clock.today(actor().district),
        opinions=dict(OPINIONS),
        refusal=refusal,
    )


@blueprint.post("/assessments/<int:assessment_id>/opinion")
@allow(Action.GIVE_OPINION)
@back_to_the_page(_desk, lambda assessment_id: f"opinion-{assessment_id}")
def opinion(assessment_id: int) -> Response:
    """The engine checks the expert sits on this panel and has not given an opinion yet."""
    form = _form()
    if not form.validate_on_submit():
        field, errors = next(iter(form.errors.items()))
        raise InvalidInput(str(errors[0]), field=field)
    container().bus.handle(c.SubmitOpinion(actor(), assessment_id, Opinion(form.opinion.data), form.reason.data))
    flash(_("Opinion recorded."))
    return redirect(url_for("ui_expert.desk"), 303)
