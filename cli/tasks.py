"""`specgoods tasks`: dead letters, their retry, and the reconciliation of everything overdue.

The dead letters are background tasks that failed for good; `overdue` lists all unfinished work past its bound.

Registered on the main group by `cli.main`.
A retry is an outbox row like any other, so the CLI needs no worker code and no broker of its own.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from cli import shell
from config.celery_config import TASK_PREFIX
from workflow.domain.errors import InvalidInput
from workflow.store.dead_letters import SqlDeadLetters
from workflow.store.overdue_work import OverdueKind, overdue_work
from workflow.store.repositories import SqlOutbox


@click.group("tasks")
def tasks_group() -> None:
    """Background tasks: the dead letters and their retry."""


@tasks_group.command("dead-letters")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list instead of a table.")
def dead_letters(as_json: bool) -> None:
    """List the tasks that failed for good, newest first."""
    container = shell.container()
    with container.sessions() as session:
        letters = SqlDeadLetters(session, container.deps.clock.now).list()
    if as_json:
        click.echo(json.dumps(letters, ensure_ascii=False, indent=2))
    else:
        Console().print(_table(letters))


@tasks_group.command("retry")
@click.argument("dead_letter_id", metavar="ID", type=int)
def retry(dead_letter_id: int) -> None:
    """Queue a dead letter's task again with the same payload."""
    container = shell.container()
    now = container.deps.clock.now
    with container.sessions() as session, session.begin():
        letters = SqlDeadLetters(session, now)
        letter = letters.get(dead_letter_id)
        if letter is None:
            raise InvalidInput(f"no dead letter {dead_letter_id}", field="ID")
        outbox = SqlOutbox(session, now)
        outbox.add(letter["task"].removeprefix(TASK_PREFIX), letter["payload"])
        outbox.insert()  # unsent: the relay below, or the sweep, sends it
        letters.mark_retried(dead_letter_id)
    # In embedded mode this process's in-memory broker reaches no worker: the serve process's relay sweep sends it.
    if not container.settings.is_embedded:
        container.relay.relay()
    click.echo(f"queued {letter['task']} again (dead letter {dead_letter_id})")


@tasks_group.command("overdue")
@click.option(
    "--older-than",
    type=click.FloatRange(min=0),
    default=None,
    help="Seconds after which unfinished work counts as overdue (default: twice SPECGOODS_OUTBOX_REDELIVER_SECONDS).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
def overdue(older_than: float | None, as_json: bool) -> None:
    """List the background work that should have finished and has not; exit 1 if there is any (for cron)."""
    container = shell.container()
    bound = timedelta(seconds=older_than if older_than is not None else 2 * container.settings.outbox_redeliver_seconds)
    with container.sessions() as session:
        kinds = overdue_work(session, container.deps.clock.now(), bound)
    if as_json:
        click.echo(json.dumps([_kind_dict(kind) for kind in kinds], ensure_ascii=False, indent=2))
    else:
        console = Console()
        for kind in kinds:
            console.print(_overdue_table(kind))
    if any(kind.count for kind in kinds):
        raise SystemExit(1)


OVERDUE_TITLES = {
    "unsent": "Outbox rows the broker has not taken (is the broker up? is beat running?)",
    "incomplete": "Outbox rows sent but never completed (is a worker taking the queue? does the task die?)",
    "dead_letters": "Tasks that failed for good (specgoods tasks retry ID once the cause is fixed)",
    "unscreened": "Open applications whose submission has no screening",
    "email_pending": "E-mail copies of notifications still pending",
    "unsealed_events": "Audit events not sealed into their chain (is beat running the sequencer?)",
    "unsigned_receipts": "Write-offs still waiting for their receipt (is beat running the sequencer?)",
}


def _kind_dict(kind: OverdueKind) -> dict[str, Any]:
    return {"kind": kind.kind, "count": kind.count, "items": kind.items}


def _overdue_table(kind: OverdueKind) -> Table:
    table = Table(title=f"{OVERDUE_TITLES[kind.kind]}: {kind.count}")
    names = list(kind.items[0]) if kind.items else ["id"]
    for name in names:
        table.add_column(name)
    for item in kind.items:
        table.add_row(*(Text(_cell(item[name])) for name in names))
    return table


def _cell(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _table(letters: list[dict[str, Any]]) -> Table:
    table = Table(title="Dead letters")
    for name in ("ID", "Task", "Payload", "Failed at", "Retried at", "Error"):
        table.add_column(name)
    # Stored text goes in as Text, so a '[' in an error message is never read as rich markup.
    for letter in letters:
        cells = (
            str(letter["id"]),
            letter["task"],
            json.dumps(letter["payload"], ensure_ascii=False),
            letter["failed_at"],
            letter["retried_at"] or "-",
            letter["error"].partition("\n")[0],
        )
        table.add_row(*map(Text, cells))
    return table
