"""Test support for the biosafety capability (R9(b), R14, R62): an enterprise's verified lab, and lines that name it.

Applications filed by the shared helpers name the enterprise's "reference lab" (accredited BSL-3, verified, valid
through the tests' years) on every pathogen line that names no lab, so scenarios about other rules meet R62 as a
real enterprise would; tests about R62 itself name labs of their own.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from config.bootstrap import Container
from workflow.domain.biosafety import LabDetails
from workflow.domain.goods import GoodsLine
from workflow.store.tables import EnterpriseRow, LaboratoryRow

REFERENCE_LAB = "参比实验室 (reference lab)"
REFERENCE = LabDetails(
    name=REFERENCE_LAB,
    address="厦门市海沧区",
    bsl_level=3,
    accreditation_body="CNAS",
    accreditation_no="BL0001",
    valid_from=date(2000, 1, 1),
    valid_until=date(2099, 12, 31),
)


def add_lab(
    session: Session, enterprise_id: int, details: LabDetails, verified_on: date | None = date(2000, 1, 1)
) -> int:
    """A lab row as the service would leave it (tests that are not about keeping labs skip the doors)."""
    enterprise = session.get(EnterpriseRow, enterprise_id)
    assert enterprise is not None
    row = LaboratoryRow(
        enterprise_id=enterprise_id,
        district=enterprise.district,
        name=details.name,
        address=details.address,
        bsl_level=details.bsl_level,
        accreditation_body=details.accreditation_body,
        accreditation_no=details.accreditation_no,
        valid_from=details.valid_from,
        valid_until=details.valid_until,
        evidence_sha256="0" * 64,
        evidence_filename="evidence.pdf",
        verified_on=verified_on,
        created_at=datetime(2000, 1, 1),
    )
    session.add(row)
    session.flush()
    return row.id


def reference_lab(container: Container, enterprise_id: int) -> int:
    """The enterprise's reference lab, made on first use."""
    with container.sessions() as session, session.begin():
        query = select(LaboratoryRow.id).where(
            LaboratoryRow.enterprise_id == enterprise_id, LaboratoryRow.name == REFERENCE_LAB
        )
        found = session.scalar(query)
        return found if found is not None else add_lab(session, enterprise_id, REFERENCE)


def naming_the_reference_lab(
    container: Container, enterprise_id: int, lines: tuple[GoodsLine, ...]
) -> tuple[GoodsLine, ...]:
    """Pathogen lines that name no lab name the enterprise's reference lab; other lines are left as they are."""
    if not any(line.contains_pathogen and line.lab_id is None for line in lines):
        return lines
    lab_id = reference_lab(container, enterprise_id)
    return tuple(
        replace(line, lab_id=lab_id) if line.contains_pathogen and line.lab_id is None else line for line in lines
    )
