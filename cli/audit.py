"""`specgoods audit`: the auditor's commands — ledger check (W13), hash chain, checkpoints, evidence packs, draws (E2).

Registered on the main group by `cli.main`.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from cli import shell
from cli.progress import reporting
from config.keys import key_ring
from config.settings import load_settings
from workflow.domain.draws import DrawAudit, parse_period
from workflow.domain.errors import GuardFailed, InvalidInput
from workflow.store.audit_ledger import LedgerAudit, LineAudit, audit_ledger
from workflow.store.audit_trail import TrailReport, total_events, verify_trail
from workflow.store.draw_keys import audit_draws, published_keys
from workflow.store.engine import READ_ONLY
from workflow.store.evidence import PackReport, export_pack, verify_pack
from workflow.store.signing import PublicKeys, keys_from_jwks

EXIT_VIOLATIONS = 1
EXIT_PERIOD_OPEN = 2


@click.group()
def audit() -> None:
    """Auditor's checks over the stored records."""


@audit.command("ledger")
@click.option("--certificate", "certificate_no", default=None, metavar="NO", help="Check this certificate only.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of tables.")
def ledger(certificate_no: str | None, as_json: bool) -> None:
    """Re-derive each line's balances from the write-off ledger and check W13; exit 1 on any violation."""
    container = shell.container()
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


# -- the tamper-evident trail ---------------------------------------------------------------------------------------


@audit.command("verify")
@click.option("--district", default=None, help="Walk this district's chain only (receipts are then not checked).")
@click.option("--pack", "pack", type=click.Path(path_type=Path), default=None, help="Check an evidence pack instead.")
@click.option("--jwks", "jwks_file", type=click.Path(path_type=Path), default=None, help="Trust only these keys.")
@click.option(
    "--jobs", type=click.IntRange(1, 64), default=os.cpu_count() or 1, show_default="CPU count", help="Processes."
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of tables.")
def verify(district: str | None, pack: Path | None, jwks_file: Path | None, jobs: int, as_json: bool) -> None:
    """Recompute the audit hash chains, check signed checkpoints and receipts; exit 1 naming the first problem."""
    keys = _trusted_keys(jwks_file)
    if pack is not None:
        _verify_pack(pack, keys, as_json)
        return

    container = shell.container(relay_after_commit=False)
    # A reader only: on SQLite it must not hold the write lock while it walks a long chain.
    with container.engine.connect().execution_options(**{READ_ONLY: True}) as connection:
        total = total_events(connection, district)
        with reporting(quiet=as_json) as report:
            advance = report.counter("verifying the audit chain", total)
            trusted = keys or key_ring(container.settings).public_keys()
            result = verify_trail(connection, trusted, district, advance, jobs)
    _print_trail(result, as_json)
    if not result.ok:
        sys.exit(EXIT_VIOLATIONS)


def _trusted_keys(jwks_file: Path | None) -> PublicKeys | None:
    if jwks_file is None:
        return None
    try:
        return keys_from_jwks(json.loads(jwks_file.read_text(encoding="utf-8")))
    except (OSError, ValueError) as error:
        raise InvalidInput(f"cannot read {jwks_file}: {error}", field="--jwks") from None


def _print_trail(report: TrailReport, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(report.as_dict(), ensure_ascii=False, indent=2))
        return
    console = Console()
    table = Table(title="Audit hash chains by district")
    for name in ("District", "Events", "Head", "Checkpoints", "Unsealed", "Status"):
        table.add_column(name, justify="left" if name in ("District", "Status") else "right")
    for district in report.districts:
        finding = district.finding
        status = Text("OK", style="green") if finding is None else Text(f"{finding.kind}: seq {finding.seq}", "red")
        head = "-" if district.head_seq is None else str(district.head_seq)
        counts = (str(district.events), head, str(district.checkpoints), str(district.unsealed))
        table.add_row(Text(district.district), *counts, status)
    console.print(table)
    for district in report.districts:
        if district.finding is not None:
            found = district.finding
            where = f"event id {found.event_id}" if found.event_id is not None else f"seq {found.seq}"
            console.print(Text(f"{found.district}: first {found.kind} at {where}: {found.detail}", style="bold red"))
    for problem in report.receipt_problems:
        console.print(Text(f"receipts of {problem.certificate_no} line {problem.line_no}: {problem.detail}", "red"))
    events = sum(district.events for district in report.districts)
    verdict = "audit trail OK" if report.ok else "audit trail TAMPERED"
    checked = f"{report.receipts_checked} receipts checked, {report.receipts_waiting} waiting for the sequencer"
    console.print(f"{verdict}: {events} events, {checked}", highlight=False)


def _verify_pack(path: Path, keys: PublicKeys | None, as_json: bool) -> None:
    try:
        content = path.read_bytes()
    except OSError as error:
        raise InvalidInput(f"cannot read {path}: {error.strerror}", field="--pack") from None
    report = verify_pack(content, keys)
    _print_pack(report, as_json)
    if not report.ok:
        sys.exit(EXIT_VIOLATIONS)


def _print_pack(report: PackReport, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(report.as_dict(), ensure_ascii=False, indent=2))
        return
    click.echo(f"evidence pack of {report.certificate_no}")
    click.echo(f"  {report.events} events in a chain segment of {report.segment}, {report.receipts} receipts")
    click.echo(f"  {report.draws} inspection draws, {report.draws_recomputed} recomputed from revealed keys")
    click.echo(f"  certificate PDF: {report.pdf}")
    if report.keys_from_pack:
        click.echo("  note: checked against the pack's own keys; pass --jwks with the published keys to pin them")
    for problem in report.problems:
        click.echo(f"  TAMPERED: {problem}")
    click.echo("pack OK" if report.ok else f"pack TAMPERED: {len(report.problems)} problem(s)")


@audit.command("checkpoint")
def checkpoint() -> None:
    """Sign every district's chain head that moved since its last checkpoint (beat does this hourly)."""
    from workflow.store.audit_trail import write_checkpoints

    container = shell.container(relay_after_commit=False)
    with container.sessions() as session:
        written = write_checkpoints(session, key_ring(container.settings), container.deps.clock.now())
        session.commit()
    for row in written:
        click.echo(f"checkpoint {row['district']} at {row['seq']}: {row['event_hash'][:16]}… key {row['key_id']}")
    if not written:
        click.echo("every chain head is already checkpointed")


@audit.command("seal")
def seal() -> None:
    """Seal the audit events and sign the receipts waiting for the sequencer (beat does this every second)."""
    sequencer = shell.container(relay_after_commit=False).sequencer
    sealed, receipts = sequencer.seal_events(), sequencer.seal_receipts()
    for district, count in sorted(sealed.items()):
        click.echo(f"{district}: {count} event(s) sealed, head signed")
    if receipts:
        click.echo(f"{receipts} write-off receipt(s) signed")
    if not sealed and not receipts:
        click.echo("nothing waits to be sealed")


@audit.command("export")
@click.option("--certificate", "certificate_no", required=True, metavar="NO", help="The certificate to export.")
@click.option("--output", "-o", type=click.Path(path_type=Path), default=None, help="Zip file (default NO.zip).")
def export(certificate_no: str, output: Path | None) -> None:
    """Write the certificate's evidence pack: events, chain segment, checkpoint, receipts, PDF, public keys."""
    container = shell.container(relay_after_commit=False)
    settings = load_settings()
    with container.sessions() as session, reporting() as report:
        content = export_pack(
            session,
            key_ring(settings),
            certificate_no,
            settings.instance_path / "certificates",
            container.deps.clock.now(),
            container.deps.clock.today(),
            on_phase=report.phase,
        )
    target = output or Path(f"{certificate_no}.zip")
    target.write_bytes(content)
    click.echo(f"wrote {target} ({len(content)} bytes); check it with: specgoods audit verify --pack {target}")


# -- the inspection draws (E2) --------------------------------------------------------------------------------------


@audit.command("draws")
@click.option("--district", required=True, help="The district whose draws to check.")
@click.option("--period", default=None, metavar="YYYY-MM", help="A closed period; without it, list the commitments.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")
def draws(district: str, period: str | None, as_json: bool) -> None:
    """Recompute every inspection draw of a closed period from its revealed key and check the key's commitment.

    Exit 1 on any mismatch; exit 2 for a period that has not closed (its key is not revealed yet).
    """
    container = shell.container(relay_after_commit=False)
    today = container.deps.clock.today(district)
    with container.engine.connect().execution_options(**{READ_ONLY: True}) as connection:
        if period is None:
            click.echo(json.dumps(published_keys(connection, today, district), indent=2))
            return
        try:
            report = audit_draws(connection, district, parse_period(period), today)
        except GuardFailed as refused:
            click.echo(f"specgoods: refused: {refused.message}", err=True)
            sys.exit(EXIT_PERIOD_OPEN)
    _print_draws(report, as_json)
    if not report.ok:
        sys.exit(EXIT_VIOLATIONS)


def _print_draws(report: DrawAudit, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(report.as_dict(), ensure_ascii=False, indent=2))
        return
    click.echo(f"inspection draws of {report.district} in {report.period}")
    click.echo(f"  commitment {report.commitment}")
    click.echo(f"  key        {report.key}")
    click.echo(f"  {report.draws} draws recomputed, {report.inspected} inspected")
    for finding in report.findings:
        click.echo(f"  MISMATCH {finding.kind}: {finding.declaration_no or '-'}: {finding.detail}")
    click.echo("draws OK" if report.ok else f"draws MISMATCH: {len(report.findings)} finding(s)")
