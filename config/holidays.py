"""Loads the PRC working-day calendar (R22) from its TOML data file into the pure `WorkingCalendar`."""

from __future__ import annotations

import tomllib
from pathlib import Path

from workflow.domain.calendar import WorkingCalendar
from workflow.domain.errors import PolicyError

DEFAULT_CALENDAR = Path(__file__).resolve().parent / "calendars" / "prc.toml"


def load_calendar(path: Path | None = None) -> WorkingCalendar:
    """Read and validate a holiday table (R22); `path` defaults to the shipped PRC calendar.

    Any unreadable, unparsable or malformed file raises PolicyError naming the file, the key and the reason.
    """
    path = DEFAULT_CALENDAR if path is None else path
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise PolicyError(f"{path}: cannot read the calendar: {exc.strerror}", rule_id="R22") from exc
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise PolicyError(f"{path}: not valid UTF-8 TOML: {exc}", rule_id="R22") from exc
    try:
        return WorkingCalendar.from_mapping(data)
    except PolicyError as exc:
        raise PolicyError(f"{path}: {exc.message}", rule_id=exc.rule_id, field=exc.field) from exc
