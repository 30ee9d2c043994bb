"""A refused action returns the officer to the page: the message at the form (or the field), the input kept."""

from __future__ import annotations

import re

from sqlalchemy import select

from tests.ui.conftest import Pages
from workflow.store.tables import ApplicationLineRow, ApplicationRow

REFUSED_FORM = re.compile(r'<form[^>]*id="refused"[^>]*>(.*?)</form>', re.S)


def plasma_under_review(pages: Pages) -> int:
    """The demo's grade A plasma file (R28), accepted and in review by the officers whose posts they are."""
    with pages.container.sessions() as session:
        application_id = session.scalar(
            select(ApplicationRow.id).join(ApplicationLineRow).where(ApplicationLineRow.name_zh == "人血浆")
        )
    for officer, trigger in (("xiamen.acceptor", "accept"), ("xiamen.reviewer", "start_review")):
        pages.sign_in(officer)
        assert pages.post(f"/ui/applications/{application_id}/act/{trigger}").status_code == 303
        pages.post("/ui/sign-out")
    assert application_id is not None
    return int(application_id)


def refused_form(response) -> str:  # type: ignore[no-untyped-def]
    found = REFUSED_FORM.search(response.get_data(as_text=True))
    assert found, "the page shows no refused form"
    return found.group(1)


def test_r32_a_refused_grant_comes_back_with_its_rule_and_the_reason_typed(pages: Pages) -> None:
    application_id = plasma_under_review(pages)
    pages.sign_in("xiamen.decider")

    response = pages.post(f"/ui/applications/{application_id}/act/grant", {"reason": "资料齐全，准予许可"})

    assert response.status_code == 422
    form = refused_form(response)
    assert 'data-action="grant"' in response.get_data(as_text=True)
    assert 'role="alert"' in form and "R32" in form
    assert "资料齐全，准予许可" in form  # what was typed is still there


def test_r25_a_denial_without_reasons_is_refused_at_its_field(pages: Pages) -> None:
    application_id = plasma_under_review(pages)
    pages.sign_in("xiamen.decider")

    response = pages.post(f"/ui/applications/{application_id}/act/deny", {"reason": "   ", "false_information": "yes"})

    assert response.status_code == 422
    form = refused_form(response)
    assert 'class="field invalid"' in form and 'class="error"' in form
    assert 'name="false_information" value="yes" checked' in form  # the box ticked stays ticked


def test_a_refused_action_leaves_the_other_forms_empty(pages: Pages) -> None:
    application_id = plasma_under_review(pages)
    pages.sign_in("xiamen.decider")

    response = pages.post(f"/ui/applications/{application_id}/act/grant", {"reason": "只在一处出现"})

    assert response.get_data(as_text=True).count("只在一处出现") == 1
