"""`specgoods tasks`: the dead-letter list of background tasks that failed for good, and their retry.

Registered on the main group by `config.cli`; that module imports this one, so this one imports it only lazily.
A retry is an outbox row like any other, so the CLI needs no worker code and no broker of its own.
"""

from __future__ import annotations

import json
from typing import Any

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from config.celery_config import TASK_PREFIX
from workflow.domain.errors import InvalidInput
from workflow.store.dead_letters import SqlDeadLetters
from workflow.store.repositories import SqlOutbox


@click.group("tasks")
def tasks_group() -> None:
    """Background tasks: the dead letters and their retry."""


@tasks_group.command("dead-letters")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list instead of a table.")
def dead_letters(as_json: bool) -> None:
    """List the tasks that failed for good, newest first."""
    from config.cli import _container

    container = _container()
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
    from config.cli import _container

    container = _container()
    now = container.deps.clock.now
    with container.sessions() as session, session.begin():
        letters = SqlDeadLetters(session, now)
        letter = letters.get(dead_letter_id)
        if letter is None:
            raise InvalidInput(f"no dead letter {dead_letter_id}", field="ID")
        SqlOutbox(session, now).add(letter["task"].removeprefix(TASK_PREFIX), letter["payload"])
        letters.mark_retried(dead_letter_id)
    # In embedded mode this process's in-memory broker reaches no worker: the serve process's relay sweep sends it.
    if not container.settings.is_embedded:
        container.relay.relay()
    click.echo(f"queued {letter['task']} again (dead letter {dead_letter_id})")


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
