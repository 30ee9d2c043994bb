"""An application's `save` writes the columns its aggregate changed since it was read in the same unit of work (#15).

The version guard vouches for the others: they are still as read. So a column another statement wrote without
moving the version (a certificate change's ports, workflow/store/certificate_changes.py) is not put back by a save
that did not change it; a column the aggregate did change is written; two saves in one unit of work each write
what changed since the one before.
"""

from __future__ import annotations

from sqlalchemy import select, update

from config.bootstrap import Container
from tests.conftest import Cast
from tests.integration.support import file_application
from workflow.store.tables import ApplicationRow
from workflow.store.uow import SqlUnitOfWork


def stored(container: Container, application_id: int) -> tuple[str, list[str] | None, int]:
    with container.sessions() as session:
        row = session.execute(
            select(ApplicationRow.decision_reason, ApplicationRow.ports, ApplicationRow.version).where(
                ApplicationRow.id == application_id
            )
        ).one()
    return row.decision_reason, row.ports, row.version


def filed(container: Container, cast: Cast) -> tuple[int, int]:
    """A new draft's id and stored version."""
    application_id = file_application(container, cast)
    return application_id, stored(container, application_id)[2]


def written_behind(uow: object, application_id: int, reason: str) -> None:
    """A column written by another statement of the transaction that leaves the version alone."""
    assert isinstance(uow, SqlUnitOfWork)
    uow.session.execute(
        update(ApplicationRow).where(ApplicationRow.id == application_id).values(decision_reason=reason)
    )


def test_a_save_leaves_what_it_did_not_change_as_stored(container: Container, cast: Cast) -> None:
    application_id, version = filed(container, cast)
    with container.deps.uow() as uow:
        application = uow.applications.get(application_id)
        written_behind(uow, application_id, "written elsewhere")
        application.ports = ("厦门",)
        uow.applications.save(application, at_commit=True)
        uow.commit()

    assert stored(container, application_id) == ("written elsewhere", ["厦门"], version + 1)


def test_two_saves_in_one_unit_of_work_each_write_what_changed_since_the_one_before(
    container: Container, cast: Cast
) -> None:
    application_id, version = filed(container, cast)
    with container.deps.uow() as uow:
        application = uow.applications.get(application_id)
        application.decision_reason = "first"
        uow.applications.save(application)
        application.ports = ("厦门",)
        uow.applications.save(application)  # `decision_reason` unchanged since the first save: not written again
        application.decision_reason = "second"
        uow.applications.save(application, at_commit=True)
        uow.commit()

    assert stored(container, application_id) == ("second", ["厦门"], version + 3)
