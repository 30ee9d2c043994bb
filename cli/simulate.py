"""`specgoods simulate`: the policy-impact simulator (docs/simulator.md), one scratch database per policy profile.

A table on stdout (or `--csv` / `--json`) and a progress bar on stderr. The report (report.html with inline SVG
charts, report.json, report.csv) goes to the instance's simulations/latest, which the auditor's page shows, and to
`--out`. Registered on the main group by `cli.main`.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from cli.progress import Advance, Reporter, reporting
from config.settings import load_settings
from config.simulation_workload import DEFAULT_WORKLOAD, load_workload
from simulator.runner import PROFILES, simulate
from workflow.simulation.render import CHANGE_COLUMNS, credit_change_rows, rows, to_csv, to_html, to_json
from workflow.simulation.report import ProfileReport
from workflow.simulation.workload import Workload


@click.command("simulate")
@click.option("--workload", "workload_file", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              default=None, help="Workload TOML (default config/simulation/default.toml).")  # fmt: skip
@click.option(
    "--seed", type=int, default=None, help="Seed of the year's shipments and the draws (default: the file's)."
)
@click.option("--profiles", default=",".join(PROFILES), show_default=True, help="Comma-separated policy profiles.")
@click.option("--shipments", type=click.IntRange(1, 1_000_000), default=None,
              help="Scale the workload's enterprise counts to about this many shipments a year.")  # fmt: skip
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Also write report.html, report.json and report.csv here.")  # fmt: skip
@click.option("--jobs", type=click.IntRange(1, 16), default=None,
              help="Profiles run at once, each in its own process (default: one per CPU).")  # fmt: skip
@click.option("--csv", "as_csv", is_flag=True, help="CSV on stdout instead of the table.")
@click.option("--json", "as_json", is_flag=True, help="JSON on stdout instead of the table.")
def simulate_command(
    workload_file: Path | None,
    seed: int | None,
    profiles: str,
    shipments: int | None,
    out: Path | None,
    jobs: int | None,
    as_csv: bool,
    as_json: bool,
) -> None:
    """Run a synthetic year of a district under each policy profile and report them side by side."""
    workload = _workload(workload_file, seed, shipments)
    chosen = tuple(profile.strip() for profile in profiles.split(",") if profile.strip())
    with reporting(quiet=as_json or as_csv) as report:
        reports = simulate(workload, chosen, _counters(report), jobs or min(len(chosen), os.cpu_count() or 1))
    meta = _meta(workload_file, workload)
    _write(load_settings().simulation_report_dir, reports, meta)  # the one /ui/audit/simulation shows
    if out is not None:
        _write(out, reports, meta)
    if as_json:
        click.echo(to_json(reports, meta))
    elif as_csv:
        click.echo(to_csv(reports), nl=False)
    else:
        _table(reports, meta)


def _workload(path: Path | None, seed: int | None, shipments: int | None) -> Workload:
    workload = load_workload(path)
    if seed is not None:
        workload = replace(workload, seed=seed)
    return workload.scaled_to(shipments) if shipments else workload


def _counters(report: Reporter) -> Callable[[str, int], Advance]:
    def counter(profile: str, shipments: int) -> Advance:
        return report.counter(f"simulating {profile}", shipments)

    return counter


def _meta(path: Path | None, workload: Workload) -> dict[str, object]:
    return {
        "workload": str(path or DEFAULT_WORKLOAD),
        "seed": workload.seed,
        "year": workload.year,
        "district": workload.district,
        "enterprises": sum(group.count for group in workload.groups),
        "written_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def _title(meta: dict[str, object]) -> str:
    return f"政策影响模拟 policy-impact simulation: {meta['district']} {meta['year']}, seed {meta['seed']}"


def _write(out: Path, reports: list[ProfileReport], meta: dict[str, object]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.html").write_text(to_html(reports, _title(meta)), encoding="utf-8")
    (out / "report.json").write_text(to_json(reports, meta), encoding="utf-8")
    (out / "report.csv").write_text(to_csv(reports), encoding="utf-8")
    click.echo(f"wrote {out / 'report.html'}, report.json and report.csv", err=True)


def _table(reports: list[ProfileReport], meta: dict[str, object]) -> None:
    table = Table(title=_title(meta))
    table.add_column("")
    for report in reports:
        table.add_column(report.profile, justify="right")
    for label, values in rows(reports):
        table.add_row(label, *values)
    console = Console(file=sys.stdout, width=max(100, 48 + 14 * len(reports)))
    console.print(table)
    changes = credit_change_rows(reports)
    if changes:  # R72, R73: the tier in force on each declaration's date routes it (E1, E3)
        by_change = Table(title="信用变更前后的查验 port inspections before and from a credit change")
        for column in CHANGE_COLUMNS:
            by_change.add_column(column, justify="left" if column in CHANGE_COLUMNS[:4] else "right")
        for row in changes:
            by_change.add_row(*row)
        Console(file=sys.stdout, width=180).print(by_change)
    for report in reports:
        for failure in report.failures[:5]:
            click.echo(f"{report.profile}: {failure}", err=True)
