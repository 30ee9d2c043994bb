"""The daily reminders: a certificate expiring within 30 days (C4) and a follow-up report due within 7 days (R54),
each once per object and user however often the sweep runs, and late rather than never if a day's run is missed."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import select, update

from config.bootstrap import Container
from config.celery_config import ROUTES
from tests.conftest import Cast, FixedClock
from tests.integration.support import declare, fx04_ecoli, fx10_cytokine, grant
from tests.integration.test_applicant_notifications import colleague, told
from workflow.service.reminders import send_reminders
from workflow.store.tables import CertificateRow


def valid_until(container: Container, number: str) -> date:
    with container.sessions() as session:
        found = session.scalar(select(CertificateRow.valid_until).where(CertificateRow.certificate_no == number))
    assert found is not None
    return found


def test_a_certificate_expiring_within_30_days_is_reminded_once_to_each_user_of_the_holder(
    container: Container, cast: Cast, clock: FixedClock
) -> None:
    other = colleague(container, cast, "colleague", locale="en")
    number = grant(container, cast, fx10_cytokine(100))
    until = valid_until(container, number)
    clock.today_value = until - timedelta(days=31)
    assert send_reminders(container.deps)["certificate_expiring"] == 0
    clock.today_value = until - timedelta(days=30)
    assert send_reminders(container.deps)["certificate_expiring"] == 2
    assert send_reminders(container.deps)["certificate_expiring"] == 0  # the same day again
    clock.today_value = until - timedelta(days=3)
    assert send_reminders(container.deps)["certificate_expiring"] == 0  # a later day: still once
    expected = [{"certificate_no": number, "valid_until": until.isoformat(), "days": "30"}]
    assert told(container, cast.applicant.user_id or 0, "certificate_expiring") == expected
    assert told(container, other, "certificate_expiring") == expected


def test_a_missed_day_still_reminds_later_and_an_ended_certificate_is_not_reminded(
    container: Container, cast: Cast, clock: FixedClock
) -> None:
    kept, ended = grant(container, cast, fx10_cytokine(100)), grant(container, cast, fx10_cytokine(50))
    with container.sessions() as session, session.begin():
        session.execute(update(CertificateRow).where(CertificateRow.certificate_no == ended).values(state="exhausted"))
    clock.today_value = valid_until(container, kept) - timedelta(days=12)  # the sweep never ran before today
    assert send_reminders(container.deps)["certificate_expiring"] == 1
    assert [p["days"] for p in told(container, cast.applicant.user_id or 0, "certificate_expiring")] == ["12"]
    assert [p["certificate_no"] for p in told(container, cast.applicant.user_id or 0, "certificate_expiring")] == [kept]


def test_a_follow_up_report_due_within_7_days_is_reminded_once(
    container: Container, cast: Cast, clock: FixedClock
) -> None:
    number = grant(container, cast, fx04_ecoli(10))
    shipment = declare(container, cast, number, 3, inspected=False, rate=Decimal("0.5"))
    due_on = date.fromisoformat(shipment["follow_up_due_on"])
    clock.today_value = due_on - timedelta(days=8)
    assert send_reminders(container.deps)["follow_up_due"] == 0
    clock.today_value = due_on - timedelta(days=7)
    assert send_reminders(container.deps)["follow_up_due"] == 1
    clock.today_value = due_on
    assert send_reminders(container.deps)["follow_up_due"] == 0
    assert told(container, cast.applicant.user_id or 0, "follow_up_due") == [
        {"declaration_no": shipment["declaration_no"], "due_on": due_on.isoformat()}
    ]


def test_beat_runs_the_reminders_daily_on_the_notifications_queue(container: Container) -> None:
    from tasks.app import beat_schedule, create_celery_app

    entry = beat_schedule(container)["send-reminders"]
    assert entry["task"] == "specgoods.send_reminders"
    assert entry["schedule"].hour == {8} and entry["schedule"].minute == {0}
    assert ROUTES["send_reminders"] == ROUTES["notify_officers"] == "notifications"
    assert {"specgoods.send_reminders", "specgoods.notify_officers"} <= set(create_celery_app(container).tasks)
