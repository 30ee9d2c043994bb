"""`specgoods labs`: an enterprise's laboratories (R9(b), R14, R62): list, register from a file, verify, run the sweep.

The person is named with `--as USERNAME`; the command asks the same permission predicates as the API and the pages
(workflow/domain/biosafety.py) and the handler asks again in the transaction. A lab file is validated by the one
input schema the API and the form share (`LaboratoryInput`). Registered on the main group by `cli.main`.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from cli import shell
from config.bootstrap import Container
from workflow.domain import commands as c
from workflow.domain.actors import SYSTEM_ACTOR, Actor
from workflow.domain.biosafety import LabOwner, may_maintain_labs, may_verify_lab
from workflow.domain.errors import InvalidInput, NotFound, PermissionDenied
from workflow.service.biosafety import parse_laboratory
from workflow.store.directory import find_enterprise, find_user
from workflow.store.enterprise_admin import is_enterprise_admin
from workflow.store.laboratories import enterprise_labs, laboratory_of
from workflow.store.tables import LaboratoryRow


@click.group("labs")
def labs() -> None:
    """An enterprise's laboratories and their verification (R9(b), R14, R62; docs/biosafety.md)."""


@labs.command("list")
@click.argument("uscc")
def list_labs(uscc: str) -> None:
    """The enterprise's labs with level, accreditation, validity and verification (JSON)."""
    built = shell.container()
    with built.sessions() as session:
        enterprise = find_enterprise(session, uscc)
        if enterprise is None:
            raise NotFound(f"no enterprise with code {uscc}")
        found = [vars(lab) for lab in enterprise_labs(session, enterprise.id)]
    click.echo(json.dumps(found, ensure_ascii=False, indent=2, default=str))


@labs.command("add")
@click.argument("uscc")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--as", "username", required=True, help="The enterprise admin's user name.")
def add(uscc: str, file: Path, username: str) -> None:
    """Register a lab from a JSON file (name, address, bsl_level, accreditation_*, valid_from, valid_until)."""
    built = shell.container()
    actor = _person(built, username)
    with built.sessions() as session:
        enterprise = find_enterprise(session, uscc)
        if enterprise is None:
            raise NotFound(f"no enterprise with code {uscc}")
        owner, admin = LabOwner(enterprise.id, enterprise.district), is_enterprise_admin(session, actor.user_id or 0)
    if not may_maintain_labs(actor, owner, admin):
        raise PermissionDenied("only the enterprise's admin or a customs administrator of its district keeps its labs")
    details = parse_laboratory(json.loads(file.read_text(encoding="utf-8")))
    lab_id = built.bus.handle(c.RegisterLaboratory(actor, owner.enterprise_id or 0, details))
    click.echo(f"laboratory {lab_id} registered; attach its evidence, then an officer of the district verifies it")


@labs.command("verify")
@click.argument("lab_id", type=int)
@click.option("--as", "username", required=True, help="An acceptor, reviewer, decider or head of the lab's district.")
def verify(lab_id: int, username: str) -> None:
    """Verify the lab's level and accreditation against its evidence document."""
    built = shell.container()
    actor = _person(built, username)
    with built.sessions() as session:
        row = session.get(LaboratoryRow, lab_id)
        if row is None:
            raise NotFound(f"no laboratory {lab_id}")
        lab = laboratory_of(row)
    if not may_verify_lab(actor, lab):
        raise PermissionDenied("only an officer of the lab's district verifies it", rule_id="R7")
    verified = built.bus.handle(c.VerifyLaboratory(actor, lab_id, lab.version))
    click.echo(f"laboratory {lab_id} verified on {verified.verified_on}")


@labs.command("sweep")
def sweep() -> None:
    """Run the lapse sweep now (R62), as beat does daily; a second run flags nothing more."""
    flagged = shell.container().bus.handle(c.FlagLapsedLaboratories(SYSTEM_ACTOR))
    click.echo(f"{flagged} certificate(s) held for a lapsed laboratory")


def _person(built: Container, username: str) -> Actor:
    with built.sessions() as session:
        account = find_user(session, username)
    if account is None:
        raise InvalidInput(f"no active user {username}", field="as")
    return account.actor
