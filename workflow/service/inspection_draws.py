"""E2/E4 in the write-off: the draw under the district's period key, and inspections withdrawals leave pending.

A declaration withdrawn while drawn for inspection leaves it pending for the next declarations of its certificate
lines (docs/inspection-draw.md).
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from workflow.domain.actors import Actor, Role
from workflow.domain.declaration import Declaration
from workflow.domain.draws import DRAW_SCHEME, inherited, inspection_draw, is_inspected, period_of
from workflow.domain.ledger import CertificateFacts
from workflow.domain.lifecycle import DeclState
from workflow.domain.policy import Policy
from workflow.service.officer_notifications import ask_fan_out
from workflow.service.ports import Dependencies, UnitOfWork

INSPECTION_WITHDRAWN = "inspection_withdrawn"


def draw_route(
    uow: UnitOfWork,
    deps: Dependencies,
    certificate: CertificateFacts,
    declaration: Declaration,
    rate: Decimal,
    policy: Policy,
) -> dict[str, Any]:
    """The route's draw fields: drawn under the key of the period the port routes it in, never the filer's date.

    The period comes from the clock, so a backdated declaration is still drawn under a key nobody has seen.
    """
    period = period_of(deps.clock.today(certificate.district))
    key = uow.draws.period_key(certificate.district, period)
    draw = inspection_draw(
        key.secret(), certificate.district, period, certificate.certificate_no, declaration.declaration_no
    )
    inherits = _inherit(uow, deps, certificate, declaration, policy.inspection.withdrawal_carry_days)
    inspected = bool(inherits) or is_inspected(rate, draw)
    return {
        "rate": str(rate),
        "draw": str(draw),
        "inspected": inspected,
        "outcome": "inspect" if inspected else "release",
        "draw_scheme": DRAW_SCHEME,
        "certificate_no": certificate.certificate_no,
        "draw_period": period,
        "draw_commitment": key.commitment,
        "inherited_from": inherits,
    }


def _inherit(
    uow: UnitOfWork, deps: Dependencies, certificate: CertificateFacts, declaration: Declaration, window_days: int
) -> list[str]:
    """E4: take on (and carry quantity off) the inspections withdrawn declarations left pending on these lines."""
    if not any(certificate.lines[line_no].inspection_pending for line_no in declaration.drawn):
        return []  # nothing waits on these lines: the certificate's read said so, no query needed
    drawn = {certificate.lines[line_no].line_id: qty for line_no, qty in declaration.drawn.items()}
    taken = inherited(uow.draws.open_pending(list(drawn)), drawn, deps.clock.today(certificate.district), window_days)
    for pending, qty in taken:
        uow.draws.carry(pending.id, qty)
    return sorted({pending.declaration_no for pending, _ in taken})


def leave_inspection_pending(
    uow: UnitOfWork, deps: Dependencies, declaration: Declaration, certificate: CertificateFacts, actor: Actor
) -> None:
    """E4: a declaration withdrawn while drawn for inspection leaves that inspection pending on its lines.

    The withdrawal is noted in the declaration's audit trail and the district's port officers are told, so an
    escape attempt is seen at the port whether or not the goods are ever declared again.
    """
    route = declaration.route or {}
    if declaration.state is not DeclState.WITHDRAWN or route.get("inspected") is not True or declaration.id is None:
        return
    held = {certificate.lines[line_no].line_id: qty for line_no, qty in declaration.drawn.items()}
    uow.draws.add_pending(declaration.id, declaration.declaration_no, deps.clock.today(certificate.district), held)
    declaration.note(
        "inspection_left_pending",
        actor,
        reason="withdrawn while drawn for inspection: the inspection passes to the line's next declarations",
        rule_ids=("E4",),
        inputs={"lines": {str(line_no): str(qty) for line_no, qty in sorted(declaration.drawn.items())}},
    )
    params = {"declaration_no": declaration.declaration_no, "certificate_no": certificate.certificate_no}
    # every port officer of the district, through one outbox row: the withdrawal's cost does not grow with them
    ask_fan_out(uow, INSPECTION_WITHDRAWN, certificate.district, (Role.PORT_OFFICER,), params,
                f"declaration:{declaration.id}")  # fmt: skip


def publish_commitments(deps: Dependencies, district_codes: Iterable[str]) -> list[str]:
    """Make sure each district's keys for this period and the next exist, so each commitment is public in advance.

    A draw makes its period's keys on first need; a district that drew nothing for a while would otherwise make
    the key of the very period it draws in, its commitment published only as it is used. Beat runs this daily.
    """
    with deps.uow() as uow:
        made = [
            uow.draws.period_key(code, period_of(deps.clock.today(code))).district for code in sorted(district_codes)
        ]
        uow.commit()
    return made
