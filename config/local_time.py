"""One rule for time: instants are stored in UTC, rules read the district's local date, people see local time, labelled.

Every timestamp column holds naive UTC (config/clock.py). Each district names its IANA time zone in
config/districts.toml (Asia/Shanghai, Beijing time, for the Fujian districts); this module turns an instant into that
zone's date (for a rule or a count by day) and into the words a person reads: "2026-12-06 01:30 北京时间 (UTC+8)".
The zone's name comes from the message catalog (web/translations), so the pages, the CSV and the mails
label a time with the same words. Machines (the JSON API) keep ISO 8601 instants in UTC.

Shared by web/ and tasks/ (which never import each other), so it lives in config/.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from workflow.domain.policy import DEFAULT_TIME_ZONE

Gettext = Callable[[str], str]
CATALOG_DIR = Path(__file__).resolve().parents[1] / "web" / "translations"  # read as data: one catalog for people
CHINESE_CATALOG = "zh_Hans_CN"
STAMP_FORMAT = "%Y-%m-%d %H:%M"


def N_(message: str) -> str:  # gettext's marker name: the catalog extraction looks for it
    """Marks a catalog message id here; it is translated where it is shown, in the reader's language."""
    return message


ZONE_NAMES = {"Asia/Shanghai": N_("Beijing time"), "Asia/Urumqi": N_("Xinjiang time")}
OTHER_ZONE = N_("Local time")  # a zone without a name of its own is labelled by its offset alone
TIME_IN_ZONE = N_("Time (%(zone)s)")  # the CSV header over local times


@cache
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def known_zone(name: str) -> bool:
    try:
        zone(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def zone_of(districts: object, district: str | None) -> str:  # `districts`: the container's Districts
    """A district's time zone; the default (Beijing time) for no district or one the configuration does not list."""
    found = getattr(districts, "by_code", {}).get(district) if district else None
    return str(getattr(found, "time_zone", DEFAULT_TIME_ZONE))


def to_local(instant: datetime, zone_name: str) -> datetime:
    """The instant in `zone_name`; a naive instant is UTC, the convention of every timestamp column."""
    aware = instant if instant.tzinfo is not None else instant.replace(tzinfo=UTC)
    return aware.astimezone(zone(zone_name))


def local_date(instant: datetime, zone_name: str) -> date:
    """The district's calendar date of an instant: the date a rule or a count by day reads, never the UTC date."""
    return to_local(instant, zone_name).date()


def local_today(zone_name: str, now: datetime | None = None) -> date:
    return local_date(now or datetime.now(UTC), zone_name)


def utc_offset(local: datetime) -> str:
    """UTC+8, UTC+5:30, UTC-3: the offset in force at that local time (a zone with summer time changes it)."""
    offset = local.utcoffset() or timedelta(0)
    sign = "-" if offset < timedelta(0) else "+"
    hours, rest = divmod(abs(int(offset.total_seconds())) // 60, 60)
    return f"UTC{sign}{hours}" + (f":{rest:02d}" if rest else "")


def zone_name_words(zone_name: str, gettext: Gettext) -> str:
    return gettext(ZONE_NAMES.get(zone_name, OTHER_ZONE))


def label(instant: datetime, zone_name: str, gettext: Gettext) -> str:
    """The zone's name in the reader's language and its offset then: 北京时间 (UTC+8), Beijing time (UTC+8)."""
    return f"{zone_name_words(zone_name, gettext)} ({utc_offset(to_local(instant, zone_name))})"


def stamp(instant: datetime, zone_name: str, gettext: Gettext) -> str:
    """A time as a person reads it, local and labelled: 2026-12-06 01:30 北京时间 (UTC+8)."""
    return f"{to_local(instant, zone_name).strftime(STAMP_FORMAT)} {label(instant, zone_name, gettext)}"


def clock_time(instant: datetime, zone_name: str) -> str:
    """The local time alone (2026-12-06 01:30), for a cell whose header carries the label."""
    return to_local(instant, zone_name).strftime(STAMP_FORMAT)


def parse_instant(value: datetime | str) -> datetime:
    """A datetime, or the ISO 8601 text some reads hand over (with or without Z): naive means UTC."""
    return value if isinstance(value, datetime) else datetime.fromisoformat(value.replace("Z", "+00:00"))


@cache
def catalog_gettext(locale: str) -> Gettext:
    """The catalog's gettext for work outside a request (mails, PDFs): Chinese unless the reader chose English."""
    if locale == "en":
        return str  # message ids are English
    from babel.support import Translations  # only the worker paths that write to people need it

    return Translations.load(str(CATALOG_DIR), [CHINESE_CATALOG]).gettext
