"""The `main` group of `specgoods` and the commands too small for a module of their own: users, precheck, diagrams.

Every other command lives in a module of this package and is registered below; a new group is one import and one
`main.add_command` line here.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import click
from werkzeug.security import generate_password_hash

from cli.audit import audit
from cli.credit import credit
from cli.database import db, demo
from cli.labs import labs
from cli.lifecycles import lifecycles
from cli.processes import beat, serve, worker
from cli.shell import SpecgoodsGroup, container, fail
from cli.simulate import simulate_command
from cli.tasks import tasks_group
from cli.verify import keys, verify
from config.local_time import local_today, zone_of
from config.settings import load_settings
from workflow.domain.actors import Role
from workflow.domain.errors import InvalidInput


@click.group(cls=SpecgoodsGroup, context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """specgoods: entry/exit special-goods health-quarantine approval (出入境特殊物品卫生检疫审批)."""


@main.group()
def users() -> None:
    """User administration."""


@users.command("create")
@click.option("--username", required=True)
@click.option("--role", required=True, type=click.Choice([role.value for role in Role if role is not Role.SYSTEM]))
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@click.option("--enterprise", "uscc", default=None, help="The enterprise's unified social credit code (applicants).")
@click.option("--district", default=None, help="The officer's district code (customs roles).")
@click.option("--name", "display_name", default="", help="Display name.")
def users_create(
    username: str, role: str, password: str, uscc: str | None, district: str | None, display_name: str
) -> None:
    """Create a user: an applicant of one enterprise, or an officer of one district."""
    from workflow.store.directory import create_user, find_enterprise

    built = container()
    with built.sessions() as session, session.begin():
        enterprise = find_enterprise(session, uscc) if uscc else None
        if uscc and enterprise is None:
            raise InvalidInput(f"no enterprise with code {uscc}", field="enterprise")
        create_user(
            session,
            username=username,
            role=Role(role),
            password_hash=generate_password_hash(password),
            now=built.deps.clock.now(),
            display_name=display_name,
            enterprise_id=enterprise.id if enterprise else None,
            district=district,
        )
    click.echo(f"created {role} {username}")


@main.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--district", default=None, help="District whose policy applies (default: the file's, then settings).")
@click.option("--date", "on", default=None, type=click.DateTime(["%Y-%m-%d"]), help="Policy date (default today).")
def precheck(file: Path, district: str | None, on: Any) -> None:
    """Pre-check goods before filing: scope, grade, validity, write-off, paperless, documents, follow-up."""
    from config.profiles import load_districts
    from workflow.service.precheck import parse_precheck_input, run_precheck

    raw = _read_json(file)
    request = parse_precheck_input(raw)
    districts, code = load_districts(), district or request.district or load_settings().district
    when: date = on.date() if on else (request.date or local_today(zone_of(districts, code)))  # the district's today
    policy = districts.policy_for(code, when)
    click.echo(json.dumps(run_precheck(request, policy), ensure_ascii=False, indent=2))


def _read_json(file: Path) -> Any:
    try:
        return json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidInput(f"no such file: {file}", field="FILE") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise InvalidInput(f"{file} is not valid UTF-8 JSON: {error}", field="FILE") from None


@main.command()
@click.option("--check", is_flag=True, help="Exit 1 if the committed diagrams or guard doc differ from the machines.")
@click.option("--out", default="docs/lifecycles", show_default=True, type=click.Path(file_okay=False, path_type=Path))
def diagrams(check: bool, out: Path) -> None:
    """Write the lifecycle diagrams (mermaid) and docs/guards.md, generated from the state machines."""
    from workflow.domain.diagrams import render_lifecycle_docs
    from workflow.domain.guard_docs import render_guard_doc

    stale = []
    generated = {out / name: text for name, text in render_lifecycle_docs().items()}
    for path, text in {**generated, out.parent / "guards.md": render_guard_doc()}.items():
        if path.exists() and path.read_text(encoding="utf-8") == text:
            continue
        stale.append(str(path))
        if not check:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    if check and stale:
        fail(f"lifecycle diagrams out of date: {', '.join(stale)} (run `specgoods diagrams`)", 1)
    click.echo("diagrams up to date" if not stale else f"wrote {', '.join(stale)}")


for command in (serve, worker, beat, db, demo, audit, lifecycles, tasks_group, verify, keys):
    main.add_command(command)
main.add_command(credit)  # R68–R74: credit events (cli/credit.py)
main.add_command(labs)  # R9(b), R14, R62: laboratories (cli/labs.py)
main.add_command(simulate_command)  # policy-impact simulator (cli/simulate.py, docs/simulator.md)


if __name__ == "__main__":
    main()
