"""`specgoods audit`: the auditor's commands, starting with the write-off ledger check (W13).

Registered on the main group by `config.cli`; that module imports this one, so this one imports it only lazily.
"""

from __future__ import annotations

import json
import sys

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from workflow.store.audit_ledger import LedgerAudit, LineAudit, audit_ledger

EXIT_VIOLATIONS = 1


@click.group()
def audit() -> None:
    """Auditor's checks over the stored records."""


@audit.command("ledger")
@click.option("--certificate", "certificate_no", default=None, metavar="NO", help="Check this certificate only.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of tables.")
def ledger(certificate_no: str | None, as_json: bool) -> None:
    """Re-derive each line's balances from the write-off ledger and check W13; exit 1 on any violation."""
    from config.cli import _container

    container = _container()
    with container.sessions() as session:
        result = audit_ledger(session, certificate_no)
    if as_json:
        click.echo(json.dumps(result.as_dict(), ensure_ascii=False, indent=2))
    else:
        _print_report(result, Console())
    if not result.ok:
        sys.exit(EXIT_VIOLATIONS)


def _print_report(result: LedgerAudit, console: Console) -> None:
    console.print(_lines_table(result.lines))
    if result.violations:
        console.print(_violations_table(result))
    console.print(
        f"ledger OK: {len(result.lines)} lines checked"
        if result.ok
        else f"{len(result.violations)} violation(s) in {len(result.lines)} lines",
        highlight=False,
    )


def _lines_table(lines: tuple[LineAudit, ...]) -> Table:
    table = Table(title="Write-off ledger by certificate line")
    for name in ("Certificate", "Line", "Unit"):
        table.add_column(name)
    for name in ("Approved", "Committed", "Reserved", "Remaining"):
        table.add_column(name, justify="right")
    table.add_column("Status")
    # Stored text (numbers, units, details) goes in as Text, so a '[' in it is never read as rich markup.
    for line in lines:
        status = "[green]OK[/green]" if line.ok else "[bold red]violation[/bold red]"
        amounts = (line.approved, line.committed, line.reserved, line.remaining)
        cells = (line.certificate_no, str(line.line_no), line.unit, *map(str, amounts))
        table.add_row(*map(Text, cells), status)
    return table


def _violations_table(result: LedgerAudit) -> Table:
    table = Table(title="Violations", title_style="bold red")
    for name in ("Rule", "Certificate", "Line", "Detail"):
        table.add_column(name)
    for violation in result.violations:
        line = "-" if violation.line_no is None else str(violation.line_no)
        table.add_row(*map(Text, (violation.rule, violation.certificate_no, line, violation.detail)))
    return table
