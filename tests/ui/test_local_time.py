"""One rule for time: an instant stored in UTC is shown in the district's local time, labelled, everywhere.

Every event here is committed at 2026-12-05T17:30Z, which is 01:30 on 6 December in Beijing: the page, the CSV, the
mail and the dashboard must all say the 6th, and a district configured with another zone shows its own.
"""

from __future__ import annotations

import csv
import email
import io
import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from email.message import EmailMessage
from email.policy import default
from pathlib import Path

import pytest
from sqlalchemy import select, update

from config import local_time
from config.bootstrap import Container, bootstrap
from config.profiles import DISTRICTS_FILE
from config.settings import load_settings
from tasks.mail import send_notification_email
from tests.conftest import make_cast
from tests.integration.support import grant
from tests.ui.conftest import Pages
from web import create_app
from web.ui.audit import CSV_COLUMNS
from workflow.domain import commands as c
from workflow.domain.goods import Direction
from workflow.domain.local_days import EVERY_DISTRICT, DistrictScope
from workflow.store.tables import ApplicationRow, CertificateRow, NotificationRow, UserRow

EVENT = datetime(2026, 12, 5, 17, 30)  # naive UTC, as the tables keep it
BEIJING = "2026-12-06 01:30"
DASHBOARD_COUNT = re.compile(r'<section id="decisions">.*?<span translate="no">(\d+)</span>', re.S)


@dataclass
class PinnedClock:
    """Every event at EVENT; today is Beijing's date of it, as the real clock gives (config/clock.py)."""

    instant: datetime = EVENT

    def now(self) -> datetime:
        return self.instant

    def today(self, district: str | None = None) -> date:
        return local_time.local_date(self.instant, "Asia/Shanghai")

    def local_days(self) -> list[tuple[date, DistrictScope]]:
        return [(self.today(), EVERY_DISTRICT)]


@pytest.fixture
def clock() -> PinnedClock:  # type: ignore[override]
    return PinnedClock()


def granted(container: Container) -> tuple[int, str]:
    """A fresh Xiamen enterprise's application granted at EVENT: (application id, certificate number)."""
    cast = make_cast(container, suffix="tz")
    certificate_no = grant(container, cast)
    with container.sessions() as session:
        application_id = session.scalar(
            select(ApplicationRow.id).join(CertificateRow).where(CertificateRow.certificate_no == certificate_no)
        )
    assert application_id is not None
    return int(application_id), certificate_no


def decisions_on_dashboard(pages: Pages, day: str) -> int:
    """The dashboard's count of decisions over one local day."""
    found = DASHBOARD_COUNT.search(pages.text(f"/ui/audit/?period=custom&since={day}&until={day}"))
    assert found, "the dashboard shows no count of decisions"
    return int(found.group(1))


# -- the rule itself ------------------------------------------------------------------------------------------------


def test_an_instant_late_in_the_utc_day_is_the_next_day_in_beijing() -> None:
    assert local_time.local_date(EVENT, "Asia/Shanghai") == date(2026, 12, 6)
    assert local_time.stamp(EVENT, "Asia/Shanghai", str) == f"{BEIJING} Beijing time (UTC+8)"
    assert local_time.stamp(EVENT, "Asia/Shanghai", local_time.catalog_gettext("zh")) == f"{BEIJING} 北京时间 (UTC+8)"
    assert local_time.stamp(EVENT, "Asia/Kolkata", str) == "2026-12-05 23:00 Local time (UTC+5:30)"
    assert local_time.stamp(EVENT, "America/Sao_Paulo", str).endswith("(UTC-3)")


def test_the_configured_districts_keep_beijing_time(pages: Pages) -> None:
    districts = pages.container.deps.policies
    assert {local_time.zone_of(districts, code) for code in ("xiamen", "fuzhou", "quanzhou", "pingtan")} == {
        "Asia/Shanghai"
    }
    assert local_time.zone_of(districts, None) == local_time.zone_of(districts, "nowhere") == "Asia/Shanghai"


# -- pages, CSV, mail, dashboard ------------------------------------------------------------------------------------


def test_the_timeline_shows_the_local_time_with_its_label(pages: Pages) -> None:
    application_id, _ = granted(pages.container)
    pages.sign_in("xiamen.auditor")
    page = pages.text(f"/ui/applications/{application_id}")
    assert f'<time datetime="2026-12-05T17:30:00Z"><span translate="no">{BEIJING}</span> 北京时间' in page
    assert '<span translate="no">(UTC+8)</span>' in page
    assert "2026-12-05 17:30" not in page  # no UTC time left beside the local dates
    with pages.client.session_transaction() as session:
        session["lang"] = "en"
    assert f"{BEIJING}</span> Beijing time" in pages.text(f"/ui/applications/{application_id}")


def test_the_write_off_history_and_its_csv_show_local_times(pages: Pages) -> None:
    _, certificate_no = granted(pages.container)
    officer = make_cast(pages.container, suffix="tzp").port_officer
    declare = c.DeclareShipment(
        officer, "DEC-TZ-1", certificate_no, date(2026, 12, 6), Direction.ENTRY, ((1, Decimal(1)),)
    )
    pages.container.bus.handle(declare)
    pages.sign_in("xiamen.auditor")
    assert f"{BEIJING}</span> 北京时间" in pages.text(f"/ui/audit/write-offs?certificate_no={certificate_no}")

    body = pages.client.get(f"/ui/audit/write-offs.csv?certificate_no={certificate_no}").get_data()
    headers, *rows = csv.reader(io.StringIO(body.decode("utf-8-sig"), newline=""))
    assert headers[CSV_COLUMNS.index("at")] == "时间（北京时间）"
    assert rows and {row[CSV_COLUMNS.index("at")] for row in rows} == {BEIJING}
    english = pages.client.get(f"/ui/audit/write-offs.csv?certificate_no={certificate_no}&lang=en").get_data()
    assert next(csv.reader(io.StringIO(english.decode("utf-8-sig"))))[1] == "Time (Beijing time)"


def test_a_period_is_a_range_of_local_dates(pages: Pages) -> None:
    _, certificate_no = granted(pages.container)
    officer = make_cast(pages.container, suffix="tzq").port_officer
    pages.container.bus.handle(
        c.DeclareShipment(officer, "DEC-TZ-2", certificate_no, date(2026, 12, 6), Direction.ENTRY, ((1, Decimal(1)),))
    )
    pages.sign_in("xiamen.auditor")
    query = f"/ui/audit/write-offs.csv?certificate_no={certificate_no}"
    on_the_6th = pages.client.get(f"{query}&since=2026-12-06&until=2026-12-06").get_data(as_text=True)
    on_the_5th = pages.client.get(f"{query}&since=2026-12-05&until=2026-12-05").get_data(as_text=True)
    assert "DEC-TZ-2" in on_the_6th and "DEC-TZ-2" not in on_the_5th


def test_the_grant_mail_says_when_in_the_readers_local_time(pages: Pages) -> None:
    granted(pages.container)
    with pages.container.sessions() as session, session.begin():
        applicant = session.scalar(select(UserRow.id).where(UserRow.username == "xiamentz.applicant"))
        session.execute(update(UserRow).where(UserRow.id == applicant).values(email="lab@example.com"))
        notification_id = session.scalar(
            select(NotificationRow.id).where(
                NotificationRow.user_id == applicant, NotificationRow.kind == "application_granted"
            )
        )
    assert notification_id is not None
    assert send_notification_email(pages.container, notification_id) == "sent"
    path = pages.container.settings.mail_dir / f"{notification_id}.eml"
    message = email.message_from_bytes(path.read_bytes(), policy=default)
    assert isinstance(message, EmailMessage)
    body = message.get_content()
    assert f"决定时间：{BEIJING} 北京时间 (UTC+8)" in body


def test_the_dashboard_counts_a_decision_made_after_16_utc_on_its_local_date(pages: Pages) -> None:
    pages.sign_in("xiamen.auditor")
    assert decisions_on_dashboard(pages, "2026-12-06") == 0
    granted(pages.container)  # received and granted on the 6th in Beijing; the 5th in UTC
    assert decisions_on_dashboard(pages, "2026-12-06") == 1
    assert decisions_on_dashboard(pages, "2026-12-05") == 0


# -- another zone ---------------------------------------------------------------------------------------------------


def xiamen_in_xinjiang_time(pages: Pages, tmp_path: Path, clock: PinnedClock) -> Container:
    """The same database, read by an app whose configuration puts Xiamen in Xinjiang time (UTC+6)."""
    districts = DISTRICTS_FILE.read_text(encoding="utf-8")
    elsewhere = tmp_path / "districts.toml"
    xinjiang = districts.replace(
        'name_en = "Xiamen Customs"\ntime_zone = "Asia/Shanghai"',
        'name_en = "Xiamen Customs"\ntime_zone = "Asia/Urumqi"',
        1,
    )
    assert xinjiang != districts
    elsewhere.write_text(xinjiang, encoding="utf-8")
    settings = load_settings(
        database_url=pages.container.settings.database_url, instance_path=tmp_path / "instance",
        districts_file=elsewhere,
    )  # fmt: skip
    return bootstrap(settings, clock=clock)


def test_an_applicant_reads_the_time_of_its_enterprises_district_on_pages_and_in_mail(
    pages: Pages, tmp_path: Path, clock: PinnedClock
) -> None:
    application_id, _ = granted(pages.container)  # an enterprise of Xiamen; its users have no district of their own
    with pages.container.sessions() as session, session.begin():  # the demo applicant's password, to sign in
        known = select(UserRow.password_hash).where(UserRow.username == "xiamen.applicant").scalar_subquery()
        session.execute(update(UserRow).where(UserRow.username == "xiamentz.applicant").values(password_hash=known))
    container = xiamen_in_xinjiang_time(pages, tmp_path, clock)
    try:
        applicant = Pages(container, create_app(container, {"TESTING": True}).test_client())
        applicant.sign_in("xiamentz.applicant")
        page = applicant.text(f"/ui/applications/{application_id}")
        assert '<span translate="no">2026-12-05 23:30</span> 新疆时间 <span translate="no">(UTC+6)</span>' in page
        with container.sessions() as session, session.begin():
            user = session.scalar(select(UserRow.id).where(UserRow.username == "xiamentz.applicant"))
            session.execute(update(UserRow).where(UserRow.id == user).values(email="lab@example.com"))
            notification_id = session.scalar(
                select(NotificationRow.id).where(
                    NotificationRow.user_id == user, NotificationRow.kind == "application_granted"
                )
            )
        assert notification_id is not None and send_notification_email(container, notification_id) == "sent"
        message = email.message_from_bytes((container.settings.mail_dir / f"{notification_id}.eml").read_bytes())
        assert "2026-12-05 23:30 新疆时间 (UTC+6)" in message.get_payload(decode=True).decode("utf-8")  # type: ignore[union-attr]
    finally:
        container.dispose()


def test_a_district_in_another_zone_shows_its_own_time(pages: Pages, tmp_path: Path, clock: PinnedClock) -> None:
    application_id, _ = granted(pages.container)
    container = xiamen_in_xinjiang_time(pages, tmp_path, clock)
    try:
        assert local_time.zone_of(container.deps.policies, "xiamen") == "Asia/Urumqi"
        app = create_app(container, {"TESTING": True})
        xiamen_auditor = Pages(container, app.test_client())
        xiamen_auditor.sign_in("xiamen.auditor")
        page = xiamen_auditor.text(f"/ui/applications/{application_id}")
        assert '<span translate="no">2026-12-05 23:30</span> 新疆时间 <span translate="no">(UTC+6)</span>' in page
        assert BEIJING not in page
        fuzhou_auditor = Pages(container, app.test_client())  # Fuzhou keeps Beijing time
        fuzhou_auditor.sign_in("fuzhou.auditor")
        assert f"{BEIJING}</span> 北京时间" in fuzhou_auditor.text("/ui/audit/trail?object_type=user")
    finally:
        container.dispose()
