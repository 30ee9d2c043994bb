"""The sweeps act on each district's own local date: a certificate expires when its district's date has passed it.

The clock here gives Xiamen one date and every other district another, as two time zones would around midnight.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import pytest
from sqlalchemy import select

from config.bootstrap import Container
from tests.conftest import Cast, FixedClock
from tests.integration.support import fx10_cytokine, grant
from workflow.domain import commands as c
from workflow.domain.local_days import DistrictScope
from workflow.store.tables import CertificateRow


@dataclass
class TwoZoneClock(FixedClock):
    """Xiamen reads `xiamen_today` once set; every other district reads `today_value`."""

    xiamen_today: date | None = None
    asked: list[str | None] = field(default_factory=list)

    def today(self, district: str | None = None) -> date:
        self.asked.append(district)
        return self.xiamen_today if district == "xiamen" and self.xiamen_today else self.today_value

    def local_days(self) -> list[tuple[date, DistrictScope]]:
        if self.xiamen_today is None:
            return super().local_days()
        return [
            (self.today_value, DistrictScope(besides=("xiamen",))),
            (self.xiamen_today, DistrictScope(only=("xiamen",))),
        ]


@pytest.fixture
def clock() -> TwoZoneClock:  # type: ignore[override]
    return TwoZoneClock(date(2016, 6, 1))


def _state(container: Container, number: str) -> str:
    with container.sessions() as session:
        return str(session.scalar(select(CertificateRow.state).where(CertificateRow.certificate_no == number)))


def _valid_until(container: Container, number: str) -> date:
    with container.sessions() as session:
        found = session.scalar(select(CertificateRow.valid_until).where(CertificateRow.certificate_no == number))
    assert found is not None
    return found


def test_r38_a_certificate_is_not_expired_while_its_own_district_still_has_validity_left(
    container: Container, cast: Cast, clock: TwoZoneClock
) -> None:
    number = grant(container, cast, fx10_cytokine(100))
    last_day = _valid_until(container, number)
    clock.today_value, clock.xiamen_today = date.fromordinal(last_day.toordinal() + 1), last_day
    assert container.bus.handle(c.ExpireCertificates(cast.applicant)) == 0  # elsewhere it is past; not in Xiamen
    assert _state(container, number) == "active"


def test_r38_a_certificate_expires_once_its_own_district_has_passed_its_last_day(
    container: Container, cast: Cast, clock: TwoZoneClock
) -> None:
    number = grant(container, cast, fx10_cytokine(100))
    last_day = _valid_until(container, number)
    clock.today_value, clock.xiamen_today = last_day, date.fromordinal(last_day.toordinal() + 1)
    assert container.bus.handle(c.ExpireCertificates(cast.applicant)) == 1
    assert _state(container, number) == "expired"


def test_a_decision_asks_the_date_of_the_district_it_decides_for(
    container: Container, cast: Cast, clock: TwoZoneClock
) -> None:
    clock.asked.clear()
    grant(container, cast, fx10_cytokine(100))
    assert clock.asked and set(clock.asked) == {"xiamen"}
