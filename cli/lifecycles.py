"""`specgoods lifecycles check`: the static verification of the three lifecycle tables, printed as tables.

Registered on the main group by `cli.main`. A test passes other tables as the click context object
(`CliRunner().invoke(main, ["lifecycles", "check"], obj=LifecycleTables(...))`).
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from workflow.domain.lifecycle import Lifecycle
from workflow.domain.lifecycle_check import CheckRow, LifecycleReport, LifecycleTables, check_lifecycles

EXIT_VIOLATIONS = 1


@click.group("lifecycles")
def lifecycles() -> None:
    """The lifecycle tables: static checks."""


@lifecycles.command("check")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of tables.")
@click.pass_obj
def check(tables: Any, as_json: bool) -> None:
    """Prove reachability, a way out of every state, role guards and the rule-required guards; exit 1 on a violation."""
    tables = tables if isinstance(tables, LifecycleTables) else LifecycleTables()
    report = check_lifecycles(tables)
    if as_json:
        click.echo(json.dumps(report.as_dict(), ensure_ascii=False, indent=2))
    else:
        _print(tables, report, _console())
    if not report.ok:
        sys.exit(EXIT_VIOLATIONS)


def _console() -> Console:
    """A terminal's own width; piped (CI logs), wide enough that a row stays on one line."""
    return Console() if sys.stdout.isatty() else Console(width=160)


def _print(tables: LifecycleTables, report: LifecycleReport, console: Console) -> None:
    for lifecycle in tables.lifecycles.values():
        console.print(_transitions_table(lifecycle))
    console.print(_checks_table(report.rows))
    violations = report.violations
    summary = f"lifecycles OK: {len(report.rows)} checks passed" if not violations else (
        f"{len(violations)} violation(s) in {len(report.rows)} checks"
    )  # fmt: skip
    console.print(summary, highlight=False)


def _transitions_table(lifecycle: Lifecycle[Any]) -> Table:
    table = Table(title=f"{lifecycle.name} transitions (initial {lifecycle.initial.name})")
    for name in ("Trigger", "From", "To", "Actors", "Guards (rule)"):
        table.add_column(name)
    for spec in lifecycle.specs:
        guards = ", ".join(f"{guard.name} ({guard.rule_id})" for guard in spec.guards) or "—"
        cells = (
            spec.trigger,
            ", ".join(source.name for source in spec.sources),
            spec.dest.name,
            ", ".join(str(actor) for actor in spec.actors) or "—",
            guards,
        )
        table.add_row(*map(Text, cells))
    return table


def _checks_table(rows: tuple[CheckRow, ...]) -> Table:
    table = Table(title="Checks")
    for name in ("Lifecycle", "Check", "Subject", "Status", "Detail"):
        table.add_column(name)
    # Table text goes in as Text, so a '[' in a summary or reason is never read as rich markup.
    for row in rows:
        status = "[green]ok[/green]" if row.ok else "[bold red]violation[/bold red]"
        table.add_row(Text(row.lifecycle), Text(row.check), Text(row.subject), status, Text(row.detail))
    return table
