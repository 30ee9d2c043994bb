"""`specgoods credit`: an enterprise's credit read, credit events recorded by a named officer, restorations run.

The officer is named with `--as USERNAME` (an active account); the command asks `may_record_credit`, as the API and
the form do, and the handler asks again in the transaction. The options are validated by the schemas the API and
the form share (workflow/service/credit_inputs.py). Registered on the main group by `cli.main`.
"""

from __future__ import annotations

import json
from typing import Any

import click

from cli import shell
from config.bootstrap import Container
from workflow.domain.actors import SYSTEM_ACTOR, Actor
from workflow.domain.credit_events import (
    GROUNDS,
    ApplyCreditRestorations,
    CreditChangeKind,
    ViolationKind,
)
from workflow.domain.errors import InvalidInput, NotFound, PermissionDenied
from workflow.domain.permissions import Action, may_record_credit
from workflow.domain.policy import CreditTier
from workflow.service.credit_inputs import CreditChangeInput, ViolationCaseInput, parse
from workflow.service.ports import CreditEnterprise
from workflow.store import credit_reads
from workflow.store.directory import find_enterprise, find_user

GROUND_CODES = sorted({ground.value for grounds in GROUNDS.values() for ground in grounds})


@click.group("credit")
def credit() -> None:
    """Enterprise credit (R68–R74): read it, record violation cases and credit changes, run restorations."""


@credit.command("show")
@click.argument("uscc")
def show(uscc: str) -> None:
    """The tier in force today, a pending change, the records, changes and cases (JSON)."""
    built = shell.container()
    enterprise = _enterprise(built, uscc)
    with built.sessions() as session:
        view = credit_reads.view_today(session, enterprise.id, enterprise.district, built.deps)
    click.echo(json.dumps(view, ensure_ascii=False, indent=2, default=str))


@credit.command("change")
@click.argument("uscc")
@click.option("--as", "username", required=True, help="The recording officer's user name (a decider or head).")
@click.option("--kind", required=True, type=click.Choice([kind.value for kind in CreditChangeKind]))
@click.option("--tier", required=True, type=click.Choice([tier.value for tier in CreditTier]))
@click.option("--from", "effective_from", required=True, metavar="YYYY-MM-DD", help="Tomorrow at the earliest (R73).")
@click.option("--ground", required=True, type=click.Choice(GROUND_CODES), help="R72's grounds, or the way up.")
@click.option("--reason", required=True, help="Why; kept in the audit trail.")
@click.option("--case-id", type=int, default=None, help="The violation case a `violation_case` ground names (R74).")
def change(uscc: str, username: str, case_id: int | None, **fields: Any) -> None:
    """Record a downgrade, discredit, restoration or certification from its effective date."""
    built = shell.container()
    enterprise, actor = _enterprise(built, uscc), _officer(built, username)
    _door(actor, Action.RECORD_CREDIT_CHANGE, enterprise)
    body = parse(CreditChangeInput, {**fields, **({"case_id": case_id} if case_id is not None else {})})
    change_id = built.bus.handle(body.command(actor, enterprise.id))
    click.echo(f"credit change {change_id} recorded: {body.kind.value} to {body.tier.value} from {body.effective_from}")


@credit.command("case")
@click.argument("uscc")
@click.option("--as", "username", required=True, help="The recording officer's user name (reviewer, decider, head).")
@click.option("--case-no", required=True, help="The case's reference number.")
@click.option("--kind", required=True, type=click.Choice([kind.value for kind in ViolationKind]))
@click.option("--decided-on", required=True, metavar="YYYY-MM-DD")
@click.option("--summary", default="")
def case(uscc: str, username: str, **fields: Any) -> None:
    """R74: record a violation case's reference (never a fine)."""
    built = shell.container()
    enterprise, actor = _enterprise(built, uscc), _officer(built, username)
    _door(actor, Action.RECORD_VIOLATION_CASE, enterprise)
    body = parse(ViolationCaseInput, fields)
    case_id = built.bus.handle(body.command(actor, enterprise.id))
    click.echo(f"violation case {case_id} recorded: {body.case_no}")


@credit.command("restore")
def restore() -> None:
    """Run the restoration sweep now (R69, R71), as beat does daily; a second run restores nothing more."""
    applied = shell.container().bus.handle(ApplyCreditRestorations(SYSTEM_ACTOR))
    click.echo(f"{applied} restoration(s) recorded")


def _enterprise(built: Container, uscc: str) -> CreditEnterprise:
    with built.sessions() as session:
        row = find_enterprise(session, uscc)
        if row is None:
            raise NotFound(f"no enterprise with code {uscc}")
        return CreditEnterprise(row.id, row.district, row.uscc, row.name)


def _officer(built: Container, username: str) -> Actor:
    with built.sessions() as session:
        account = find_user(session, username)
    if account is None:
        raise InvalidInput(f"no active user {username}", field="as")
    return account.actor


def _door(actor: Actor, action: Action, enterprise: CreditEnterprise) -> None:
    if not may_record_credit(actor, action, enterprise):
        raise PermissionDenied(f"{action.value} is for the officers of district {enterprise.district}", "R72")
