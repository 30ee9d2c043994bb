"""The facts a lifecycle step reads beside its application, in one statement where each was one query per table.

The submission's, the screening's and the grant's (issue #15), each only what it asks for (a replacement's certificate
among them, R43; on PostgreSQL, the id of the certificate a grant issues, drawn from its sequence so that the
certificate goes with the commit's last statement instead of a statement of its own). Every part is a SELECT
of the same typed columns tagged with its kind; the parts a step asks for go together as one UNION ALL, built once
per combination, and its few rows become a StepFacts. On PostgreSQL the statement converts no value on the way, so
it runs on the driver's connection (workflow/store/driver_statements.py). The answers are those of the single reads
they replace (`tests/integration/test_step_reads.py` compares them).
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from sqlalchemy import (
    ARRAY,
    Boolean,
    Connection,
    Date,
    Integer,
    String,
    any_,
    bindparam,
    cast,
    exists,
    func,
    literal_column,
    null,
    select,
    union_all,
)
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement, Select

from workflow.domain.credit import CreditRecord
from workflow.domain.goods import ProductIdentity
from workflow.domain.policy import CreditRegime, CreditTier
from workflow.service.ports import StepFacts, Wanted
from workflow.store.assessments import standing_of
from workflow.store.driver_statements import plain_rows
from workflow.store.granted_products import key_of
from workflow.store.tables import (
    ApplicantBanRow,
    CertificateReplacementRow,
    CertificateRow,
    CreditRecordRow,
    DocumentRow,
    EnterpriseRow,
    GrantedProductRow,
    RiskAssessmentRow,
)


class SqlStepReads:
    def __init__(self, session: Session) -> None:
        self.session = session

    def read(self, application_id: int, enterprise_id: int, wanted: Wanted) -> StepFacts:
        return step_facts(self.session.connection(), application_id, enterprise_id, wanted)


def step_facts(connection: Connection, application_id: int, enterprise_id: int, wanted: Wanted) -> StepFacts:
    """One round trip for every part asked for; none when nothing is."""
    keyed = {key_of(identity): identity for identity in wanted.products}
    postgresql = connection.dialect.name == "postgresql"
    parts = _parts(wanted, bool(keyed), postgresql)
    if not parts:
        return StepFacts()
    parameters = {"application_id": application_id, "enterprise_id": enterprise_id, "on": wanted.banned_on}
    statement = _statement(parts, postgresql)
    rows = plain_rows(connection, statement, {**parameters, "keys": list(keyed)})
    return _facts(rows, enterprise_id, keyed)


def _parts(wanted: Wanted, products: bool, postgresql: bool) -> tuple[str, ...]:
    asked = {
        "natural_person": wanted.enterprise,
        "has_grant": wanted.enterprise,
        "banned_until": wanted.banned_on is not None,
        "document": wanted.documents,
        "credit": wanted.credit,
        "granted": products,
        "assessment": wanted.assessment,
        "replaces": wanted.replacement,
        "certificate_id": wanted.certificate_id and postgresql,  # SQLite has no sequence: the insert numbers it
    }
    return tuple(kind for kind, ask in asked.items() if ask)


# -- the parts: the same seven typed columns each, so any of them may come first in the UNION --------------------


def _tagged(
    kind: str,
    word: Any = None,
    word2: Any = None,
    day: Any = None,
    day2: Any = None,
    number: Any = None,
    flag: Any = None,
) -> Select[Any]:
    def typed(value: Any, type_: Any) -> ColumnElement[Any]:
        return cast(null(), type_) if value is None else value

    return select(
        literal_column(f"'{kind}'", String).label("kind"),
        typed(word, String).label("word"),
        typed(word2, String).label("word2"),
        typed(day, Date).label("day"),
        typed(day2, Date).label("day2"),
        typed(number, Integer).label("number"),
        typed(flag, Boolean).label("flag"),
    )


_ENTERPRISE = bindparam("enterprise_id", type_=Integer)
_APPLICATION = bindparam("application_id", type_=Integer)
_BAN, _CREDIT, _ASSESSMENT, _REPLACEMENT = (
    ApplicantBanRow,
    CreditRecordRow,
    RiskAssessmentRow,
    CertificateReplacementRow,
)
_LATEST_ASSESSMENT = select(func.max(_ASSESSMENT.id)).where(_ASSESSMENT.application_id == _APPLICATION)
_ON = bindparam("on", type_=Date)


def _granted(among_keys: ColumnElement[bool]) -> Select[Any]:
    """Which of the keys asked for the enterprise was granted (R60)."""
    return _tagged("granted", word=GrantedProductRow.product_key).where(
        GrantedProductRow.enterprise_id == _ENTERPRISE, among_keys
    )


PARTS: dict[str, Select[Any]] = {
    "natural_person": _tagged("natural_person", flag=EnterpriseRow.is_natural_person).where(
        EnterpriseRow.id == _ENTERPRISE
    ),
    "has_grant": _tagged("has_grant", flag=exists().where(GrantedProductRow.enterprise_id == _ENTERPRISE)),
    "banned_until": _tagged("banned_until", day=func.max(_BAN.until_on)).where(
        _BAN.enterprise_id == _ENTERPRISE, _BAN.from_on <= _ON, _BAN.until_on >= _ON
    ),
    "document": _tagged("document", word=DocumentRow.doc_type).where(
        DocumentRow.application_id == _APPLICATION, DocumentRow.removed_at.is_(None)
    ),
    "credit": _tagged(
        "credit", word=_CREDIT.tier, word2=_CREDIT.regime, day=_CREDIT.effective_from, day2=_CREDIT.effective_to
    ).where(_CREDIT.enterprise_id == _ENTERPRISE),
    "granted": _granted(GrantedProductRow.product_key.in_(bindparam("keys", expanding=True))),
    "assessment": _tagged(
        "assessment",
        word=_ASSESSMENT.state,
        word2=_ASSESSMENT.outcome,
        number=_ASSESSMENT.id,
        flag=_ASSESSMENT.overridden_by.is_not(None),
    ).where(_ASSESSMENT.id == _LATEST_ASSESSMENT.scalar_subquery()),
    "replaces": _tagged("replaces", number=_REPLACEMENT.old_certificate_id).where(
        _REPLACEMENT.application_id == _APPLICATION
    ),
}
# A grant's certificate id, drawn as its number's insert would draw it (the id comes before the number is made of it).
_DRAWN_CERTIFICATE_ID = _tagged(
    "certificate_id", number=func.nextval(func.pg_get_serial_sequence(CertificateRow.__tablename__, "id"))
)
# On PostgreSQL the keys go as one array, so the statement's text does not depend on how many there are: it is
# prepared once and run on the driver (workflow/store/driver_statements.py); an expanding IN is rendered per run.
_PARTS_ON_POSTGRESQL = {
    **PARTS,
    "granted": _granted(GrantedProductRow.product_key == any_(cast(bindparam("keys"), ARRAY(String)))),
    "certificate_id": _DRAWN_CERTIFICATE_ID,
}


@functools.cache
def _statement(parts: tuple[str, ...], postgresql: bool) -> Any:
    """Built once per combination of parts: a step asks for the same ones every time."""
    selects = [(_PARTS_ON_POSTGRESQL if postgresql else PARTS)[kind] for kind in parts]
    return selects[0] if len(selects) == 1 else union_all(*selects)


# -- the rows back into facts -----------------------------------------------------------------------------------------


def _facts(rows: Iterable[Any], enterprise_id: int, keyed: dict[str, ProductIdentity]) -> StepFacts:
    by_kind: dict[str, list[Any]] = defaultdict(list)
    for row in rows:
        by_kind[row.kind].append(row)
    latest = next(iter(by_kind["assessment"]), None)
    return StepFacts(
        natural_person=any(row.flag for row in by_kind["natural_person"]),
        has_grant=any(row.flag for row in by_kind["has_grant"]),
        banned_until=next((row.day for row in by_kind["banned_until"]), None),
        attached=frozenset(row.word for row in by_kind["document"]),
        credit_records=tuple(
            CreditRecord(enterprise_id, CreditTier(row.word), CreditRegime(row.word2), row.day, row.day2)
            for row in by_kind["credit"]
        ),
        granted=frozenset(keyed[row.word] for row in by_kind["granted"]),
        assessment=standing_of(latest.number, latest.word, latest.word2, bool(latest.flag)) if latest else None,
        replaces=next((row.number for row in by_kind["replaces"]), None),
        certificate_id=next((row.number for row in by_kind["certificate_id"]), None),
    )
