"""The enterprises' laboratories in the tables, and the links from granted certificates to the labs they rely on.

Edits are version-guarded UPDATEs (a stale edit or verification is a conflict, never an overwrite); an edit clears
the verification, so an officer's verification always covers what the decisions read. The lapse sweep takes its
links with SKIP LOCKED and marks each flagged once, so two sweeps never flag or notify twice (docs/biosafety.md).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from workflow.domain.biosafety import LabDetails, Laboratory
from workflow.domain.errors import NotFound
from workflow.domain.lifecycle import CertState
from workflow.store.repositories import skip_locked
from workflow.store.tables import CertificateLabRow, CertificateRow, LaboratoryRow


class SqlLaboratories:
    def __init__(self, session: Session, now: Callable[[], datetime]) -> None:
        self.session, self.now = session, now

    def add(self, enterprise_id: int, district: str, details: LabDetails, evidence: tuple[str, str] | None) -> int:
        row = LaboratoryRow(enterprise_id=enterprise_id, district=district, created_at=self.now(), **_values(details))
        if evidence is not None:
            row.evidence_sha256, row.evidence_filename = evidence
        self.session.add(row)
        self.session.flush()
        return row.id

    def get(self, lab_id: int, lock: bool = False) -> Laboratory:
        query = select(LaboratoryRow).where(LaboratoryRow.id == lab_id)
        row = self.session.scalar(query.with_for_update() if lock else query)
        if row is None:
            raise NotFound(f"no laboratory {lab_id}", field="lab_id")
        return laboratory_of(row)

    def change(self, lab_id: int, version: int, details: LabDetails | None, evidence: tuple[str, str] | None) -> bool:
        """UPDATE … WHERE version = ?; any change clears the verification. False when another edit came first."""
        values: dict[str, Any] = _values(details) if details is not None else {}
        if evidence is not None:
            values |= {"evidence_sha256": evidence[0], "evidence_filename": evidence[1]}
        values |= {"verified_on": None, "verified_by": None, "version": version + 1}
        return self._guarded(lab_id, version, values)

    def verify(self, lab_id: int, version: int, on: date, by: int | None) -> bool:
        return self._guarded(lab_id, version, {"verified_on": on, "verified_by": by, "version": version + 1})

    def _guarded(self, lab_id: int, version: int, values: Mapping[str, Any]) -> bool:
        statement = update(LaboratoryRow).where(LaboratoryRow.id == lab_id, LaboratoryRow.version == version)
        return bool(self.session.execute(statement.values(**values)).rowcount)  # type: ignore[attr-defined]

    def of_enterprise(self, enterprise_id: int) -> dict[int, Laboratory]:
        """The enterprise's labs by id, for the decisions of R9(b)/R14/R62 (an enterprise keeps a handful)."""
        rows = self.session.scalars(select(LaboratoryRow).where(LaboratoryRow.enterprise_id == enterprise_id))
        return {row.id: laboratory_of(row) for row in rows}

    def link(self, certificate_id: int, lab_ids: Iterable[int]) -> None:
        """The labs a granted certificate's lines named, written in the granting transaction."""
        for lab_id in sorted(set(lab_ids)):
            self.session.add(CertificateLabRow(certificate_id=certificate_id, lab_id=lab_id))

    def lapsed_links(self, today: date, limit: int = 500) -> list[tuple[int, int]]:
        """(certificate, lab) pairs of active certificates whose lab's qualification ended before today, unflagged."""
        query = (
            select(CertificateLabRow.certificate_id, CertificateLabRow.lab_id)
            .join(LaboratoryRow, LaboratoryRow.id == CertificateLabRow.lab_id)
            .join(CertificateRow, CertificateRow.id == CertificateLabRow.certificate_id)
            .where(
                CertificateLabRow.flagged_at.is_(None),
                LaboratoryRow.valid_until < today,
                CertificateRow.state == CertState.ACTIVE.value,
            )
            .order_by(CertificateLabRow.certificate_id, CertificateLabRow.lab_id)
            .limit(limit)
        )
        rows = self.session.execute(skip_locked(self.session, query, of=CertificateLabRow))
        return [(row.certificate_id, row.lab_id) for row in rows]

    def set_flag(self, certificate_id: int, lab_id: int, flagged: bool) -> None:
        statement = update(CertificateLabRow).where(
            CertificateLabRow.certificate_id == certificate_id, CertificateLabRow.lab_id == lab_id
        )
        self.session.execute(statement.values(flagged_at=self.now() if flagged else None))

    def flagged_certificates(self, lab_id: int) -> list[int]:
        """Certificates the sweep flagged for this lab, locked (the verification that clears them holds them)."""
        query = select(CertificateLabRow.certificate_id).where(
            CertificateLabRow.lab_id == lab_id, CertificateLabRow.flagged_at.is_not(None)
        )
        return list(self.session.scalars(query.with_for_update()))

    def still_flagged(self, certificate_id: int) -> bool:
        query = select(CertificateLabRow.lab_id).where(
            CertificateLabRow.certificate_id == certificate_id, CertificateLabRow.flagged_at.is_not(None)
        )
        return self.session.scalar(query.limit(1)) is not None


def _values(details: LabDetails) -> dict[str, Any]:
    return {
        "name": details.name,
        "address": details.address,
        "bsl_level": details.bsl_level,
        "accreditation_body": details.accreditation_body,
        "accreditation_no": details.accreditation_no,
        "valid_from": details.valid_from,
        "valid_until": details.valid_until,
    }


def laboratory_of(row: LaboratoryRow) -> Laboratory:
    return Laboratory(
        id=row.id,
        enterprise_id=row.enterprise_id,
        district=row.district,
        name=row.name,
        address=row.address,
        bsl_level=row.bsl_level,
        accreditation_body=row.accreditation_body,
        accreditation_no=row.accreditation_no,
        valid_from=row.valid_from,
        valid_until=row.valid_until,
        evidence_sha256=row.evidence_sha256,
        evidence_filename=row.evidence_filename,
        verified_on=row.verified_on,
        verified_by=row.verified_by,
        version=row.version,
    )


def enterprise_labs(session: Session, enterprise_id: int) -> list[Laboratory]:
    """The enterprise's labs, oldest first (the pages and the API's list)."""
    query = select(LaboratoryRow).where(LaboratoryRow.enterprise_id == enterprise_id).order_by(LaboratoryRow.id)
    return [laboratory_of(row) for row in session.scalars(query)]


def district_labs(session: Session, district: str | None, limit: int = 200) -> list[Laboratory]:
    """The labs of a district (every district's for a district-less officer), unverified first, for the officers."""
    query = select(LaboratoryRow).order_by(LaboratoryRow.verified_on.is_not(None), LaboratoryRow.id).limit(limit)
    if district is not None:
        query = query.where(LaboratoryRow.district == district)
    return [laboratory_of(row) for row in session.scalars(query)]
