"""Routing a declaration once D2 lets it through: inspection rate and draw (D3, E1–E4), release (D6, D8), its view.

These steps run inside the caller's transaction, under the certificate's row lock the caller took: the route, the
release and the declaration's audit events commit with the rest of the handler's writes, or not at all.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from workflow.domain import rules
from workflow.domain.credit import credit_as_of
from workflow.domain.declaration import Declaration
from workflow.domain.ledger import CertificateFacts
from workflow.domain.signature import quantity_text
from workflow.service.inspection_draws import draw_route
from workflow.service.ports import Dependencies, UnitOfWork


def route_declaration(
    uow: UnitOfWork, deps: Dependencies, certificate: CertificateFacts, declaration: Declaration
) -> None:
    """D3 / E1–E4: rate from grade × credit as of the declaration date, and a draw under the district's period key.

    An inspection a withdrawn declaration left pending on the same lines overrides the draw (E4). The holder's credit
    history comes with the certificate's read; a store that could not bring it has it read here.
    """
    policy = deps.policies.policy_for(certificate.district, declaration.declared_on)
    known = certificate.credit_records
    credit_records = known if known is not None else uow.enterprises.credit_records(certificate.enterprise_id)
    credit = credit_as_of(credit_records, declaration.declared_on, policy)
    rate = rules.inspection_rate(certificate.grade, credit.tier, policy)
    drawn = draw_route(uow, deps, certificate, declaration, rate.result, policy)
    inherited = drawn["inherited_from"]
    route = {
        **drawn,
        "grade": certificate.grade.value,
        "credit_tier": credit.tier.value,
        "credit_regime": credit.regime.value,
        "policy_id": policy.id,
        "policy_hash": policy.content_hash,
        "rule_ids": list(rate.rule_ids) + (["E4"] if inherited else []),
        "reason": rate.reason
        + (f"; E4: inspected for withdrawn declaration(s) {', '.join(inherited)}" if inherited else ""),
    }
    declaration.route_by(route, drawn["inspected"])
    if not drawn["inspected"]:
        mark_released(uow, deps, certificate, declaration)


def mark_released(uow: UnitOfWork, deps: Dependencies, certificate: CertificateFacts, declaration: Declaration) -> None:
    """D6 / D8: released today; entry (and exit) goods of a follow-up grade await the user's report (R53–R54)."""
    today = deps.clock.today(certificate.district)
    declaration.mark_released(today)
    if certificate.follow_up:
        policy = deps.policies.policy_for(certificate.district, declaration.declared_on)
        declaration.await_follow_up(today + timedelta(days=policy.follow_up.report_window_days))


def declaration_view(declaration: Declaration) -> dict[str, Any]:
    """What a use case answers: everything the API shows of the declaration, so a fresh one needs no read back."""
    return {
        "declaration_id": declaration.id,
        "certificate_id": declaration.certificate_id,
        "enterprise_id": declaration.enterprise_id,
        "district": declaration.district,
        "port": declaration.port,
        "declared_on": declaration.declared_on.isoformat(),
        "released_on": declaration.released_on.isoformat() if declaration.released_on else None,
        "lines": [
            {
                "line_no": line.line_no,
                "requested_qty": quantity_text(line.qty),
                "drawn_qty": quantity_text(declaration.drawn.get(line.line_no, Decimal(0))),
            }
            for line in declaration.lines
        ],
        "declaration_no": declaration.declaration_no,
        "state": str(declaration.state),
        "hold_reason": declaration.hold_reason,
        "route": declaration.route,
        "drawn": {str(line): str(qty) for line, qty in sorted(declaration.drawn.items())},
        "disposal": declaration.disposal.value if declaration.disposal else None,
        "follow_up_due_on": declaration.follow_up_due_on.isoformat() if declaration.follow_up_due_on else None,
    }
