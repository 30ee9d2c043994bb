"""Demo data of certificate changes (R43): an amended Xiamen certificate and a replaced Fuzhou one.

Through the message bus, like the rest of the demo, so the certificate's trail shows the request and the `amend`
with its field-level diff; the validity stays as granted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace

from sqlalchemy import select

from config.bootstrap import Container
from workflow.domain import commands as c
from workflow.domain.actors import Actor
from workflow.domain.certificate_changes import ChangeKind, Particulars
from workflow.store.certificate_changes import particulars_of
from workflow.store.tables import CertificateRow


def amend_a_certificate(container: Container, actor: Callable[[Container, str], Actor]) -> Iterator[str]:
    """The holder names its customs broker and a second port; the Xiamen decider approves."""
    with container.sessions() as session:
        found = session.scalar(select(CertificateRow.id).where(CertificateRow.district == "xiamen").order_by("id"))
        if found is None:
            return
        current = particulars_of(session, found)
    ports = (*current.ports, "厦门高崎机场")
    asked = Particulars(current.contact_person, current.phone, "厦门象屿报关行有限公司", ports)
    reason = "委托报关行代理申报"
    change_id = container.bus.handle(
        c.RequestCertificateChange(actor(container, "xiamen.applicant"), found, ChangeKind.AMENDMENT, reason, asked)
    )
    container.bus.handle(c.DecideCertificateChange(actor(container, "xiamen.decider"), change_id, True, "核对无误"))
    yield f"certificate {found} amended: agent and ports (R43)"


def replace_a_certificate(
    container: Container, actor: Callable[[Container, str], Actor], granted: Callable[[], int]
) -> Iterator[str]:
    """A Fuzhou certificate (from `granted`, an application id) replaced by one for three times the quantity."""
    application_id = granted()
    with container.sessions() as session:
        old = session.scalar(select(CertificateRow.id).where(CertificateRow.application_id == application_id))
    assert old is not None
    applicant, officer = actor(container, "fuzhou.applicant"), lambda role: actor(container, f"fuzhou.{role}")
    draft = container.bus.handle(c.StartReplacement(applicant, old))
    with container.deps.uow() as uow:
        filed = uow.applications.get(draft)
    more = (replace(filed.lines[0], quantity=filed.lines[0].quantity * 3), *filed.lines[1:])
    for command in (
        c.ReviseDraft(applicant, draft, filed.direction, more),
        c.SubmitApplication(applicant, draft),
        c.AcceptApplication(officer("acceptor"), draft),
        c.StartReview(officer("reviewer"), draft),
        c.GrantApplication(officer("decider"), draft, "数量增加，准予许可并替换原审批单"),
    ):
        container.bus.handle(command)
    yield f"certificate {old} replaced by application {draft} (R43)"
