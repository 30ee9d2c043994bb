"""`specgoods credit` (R68–R74): a named officer records through the same schema and permission as the API and form."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from config.bootstrap import Container
from tests.conftest import Cast
from tests.integration.support import cli
from workflow.store.tables import CreditChangeRow, EnterpriseRow


def _uscc(container: Container, cast: Cast) -> str:
    with container.sessions() as session:
        return str(session.scalar(select(EnterpriseRow.uscc).where(EnterpriseRow.id == cast.enterprise_id)))


def _tomorrow() -> str:
    """The subprocess reads the real clock in the district's zone (Beijing time)."""
    return (datetime.now(ZoneInfo("Asia/Shanghai")).date() + timedelta(days=1)).isoformat()


def _changes(container: Container) -> int:
    with container.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(CreditChangeRow)) or 0)


def test_r72_r73_the_cli_records_a_discredit_as_the_named_decider_and_refuses_a_reviewer(
    container: Container, cast: Cast
):
    uscc = _uscc(container, cast)
    change = ["credit", "change", uscc, "--kind", "discredit", "--tier", "discredited", "--from", _tomorrow(),
              "--ground", "smuggling", "--reason", "走私"]  # fmt: skip
    refused = cli(container, *change, "--as", cast.reviewer.name)
    assert refused.returncode == 1 and "credit.record_change" in refused.stderr
    assert _changes(container) == 0
    done = cli(container, *change, "--as", cast.decider.name)
    assert done.returncode == 0, done.stderr
    assert _changes(container) == 1
    shown = json.loads(cli(container, "credit", "show", uscc).stdout)
    assert shown["pending"]["tier"] == "discredited"


def test_r73_the_cli_refuses_a_change_dated_today_at_its_field(container: Container, cast: Cast):
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date().isoformat()
    refused = cli(container, "credit", "change", _uscc(container, cast), "--as", cast.head.name, "--kind", "discredit",
                  "--tier", "discredited", "--from", today, "--ground", "smuggling", "--reason", "x")  # fmt: skip
    assert refused.returncode == 2 and "effective_from" in refused.stderr
    assert _changes(container) == 0


def test_r69_the_cli_runs_the_restoration_sweep(container: Container, cast: Cast):
    answer = cli(container, "credit", "restore")
    assert answer.returncode == 0 and "0 restoration(s)" in answer.stdout
