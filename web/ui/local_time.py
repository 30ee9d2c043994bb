"""Times on the pages: in the reader's district time zone, labelled ("2026-12-06 01:30 北京时间 (UTC+8)").

The `local_time` filter renders an instant (naive UTC from the tables, or ISO text) as a `<time>` element whose
`datetime` attribute keeps the UTC instant for machines; `local_date` gives the district's date of an instant. The
rule and the words are config/local_time.py's, shared with the CSV and the mails.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from apiflask import APIFlask
from flask import g
from flask_babel import get_locale, gettext
from flask_login import current_user
from markupsafe import Markup, escape

from config import local_time
from web.context import container
from web.request_reads import request_reads
from workflow.store import ui_queries

TIME_HTML = '<time datetime="{}Z"><span translate="no">{}</span> {} <span translate="no">({})</span></time>'


def register(app: APIFlask) -> None:
    app.jinja_env.filters["local_time"] = local_time_html
    app.jinja_env.filters["local_date"] = viewer_date


def viewer_zone() -> str:
    """The reader's district zone: an officer's district, an applicant's enterprise's; else Beijing time.

    Looked up once per request: a page shows many times.
    """
    if "specgoods_viewer_zone" not in g:
        g.specgoods_viewer_zone = local_time.zone_of(container().deps.policies, _viewer_district())
    return str(g.specgoods_viewer_zone)


def _viewer_district() -> str | None:
    actor = getattr(current_user, "actor", None) if getattr(current_user, "is_authenticated", False) else None
    if actor is None or actor.district or not actor.enterprise_id:
        return getattr(actor, "district", None)
    with request_reads() as session:
        return ui_queries.enterprise_district(session, actor.enterprise_id)


def viewer_date(instant: datetime | str | None) -> date | None:
    """The reader's local date of an instant, for a page that shows a day rather than a time."""
    return None if instant is None else local_time.local_date(local_time.parse_instant(instant), viewer_zone())


def local_time_html(instant: datetime | str | None) -> Markup | str:
    """The time and the offset are data (translate="no"); the zone's name is words, in the page's language."""
    zone = viewer_zone()
    return _time_html(instant, zone, _zone_words(zone))


class PageTimes:
    """One page's many times (a history of two hundred entries): the reader's zone and its words looked up once."""

    def __init__(self) -> None:
        self.zone = viewer_zone()
        self.zone_words = _zone_words(self.zone)

    def html(self, instant: datetime | str | None) -> Markup | str:
        """As `local_time_html` gives it."""
        return _time_html(instant, self.zone, self.zone_words)


def _time_html(instant: datetime | str | None, zone: str, zone_words: str) -> Markup | str:
    if instant is None or instant == "":
        return "—"
    moment = local_time.parse_instant(instant)
    utc = (moment if moment.tzinfo is None else moment.astimezone(UTC).replace(tzinfo=None)).isoformat()
    local = local_time.to_local(moment, zone)
    parts = (utc, local.strftime(local_time.STAMP_FORMAT), zone_words, local_time.utc_offset(local))
    return Markup(TIME_HTML.format(*(escape(part) for part in parts)))  # escaped as Markup.format would, faster


_ZONE_WORDS: dict[tuple[str, str], str] = {}  # the catalog does not change while the process runs


def _zone_words(zone: str) -> str:
    """The zone's name in the page's language, translated once per language (a history page shows fifty times)."""
    key = (str(get_locale()), zone)
    found = _ZONE_WORDS.get(key)
    if found is None:
        found = _ZONE_WORDS[key] = local_time.zone_name_words(zone, gettext)
    return found
