"""config/local_time.py: a UTC instant's local date and its labelled local time, and each district's zone."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from config import local_time
from config.clock import SystemClock
from config.profiles import DISTRICTS_FILE, load_districts
from workflow.domain.errors import PolicyError

LATE_UTC = datetime(2026, 12, 5, 17, 30)  # naive UTC: 01:30 on the 6th in Beijing


def test_a_naive_instant_is_utc_and_an_aware_one_keeps_its_offset() -> None:
    assert local_time.to_local(LATE_UTC, "Asia/Shanghai").replace(tzinfo=None) == datetime(2026, 12, 6, 1, 30)
    same = datetime(2026, 12, 6, 1, 30, tzinfo=timezone(timedelta(hours=8)))
    assert local_time.local_date(same, "Asia/Shanghai") == date(2026, 12, 6)
    assert local_time.local_date(same.astimezone(UTC), "UTC") == date(2026, 12, 5)


def test_the_local_date_turns_at_local_midnight_not_utc_midnight() -> None:
    assert local_time.local_date(datetime(2026, 12, 5, 15, 59), "Asia/Shanghai") == date(2026, 12, 5)
    assert local_time.local_date(datetime(2026, 12, 5, 16, 0), "Asia/Shanghai") == date(2026, 12, 6)


def test_the_label_names_the_zone_and_the_offset_then() -> None:
    assert local_time.stamp(LATE_UTC, "Asia/Shanghai", str) == "2026-12-06 01:30 Beijing time (UTC+8)"
    assert local_time.stamp(LATE_UTC, "Asia/Urumqi", str) == "2026-12-05 23:30 Xinjiang time (UTC+6)"
    summer, winter = datetime(2026, 7, 1, 12), datetime(2026, 12, 1, 12)
    assert local_time.label(summer, "Europe/Berlin", str) == "Local time (UTC+2)"
    assert local_time.label(winter, "Europe/Berlin", str) == "Local time (UTC+1)"
    assert local_time.label(winter, "America/St_Johns", str) == "Local time (UTC-3:30)"


def test_the_zone_names_come_from_the_catalog() -> None:
    chinese = local_time.catalog_gettext("zh")
    assert local_time.label(LATE_UTC, "Asia/Shanghai", chinese) == "北京时间 (UTC+8)"
    assert chinese(local_time.TIME_IN_ZONE) % {"zone": "北京时间"} == "时间（北京时间）"
    assert local_time.label(LATE_UTC, "Asia/Shanghai", local_time.catalog_gettext("en")) == "Beijing time (UTC+8)"


def test_iso_text_is_read_as_the_same_instant() -> None:
    assert local_time.parse_instant("2026-12-05T17:30:00Z").replace(tzinfo=None) == LATE_UTC
    assert local_time.parse_instant("2026-12-05T17:30:00") == LATE_UTC


def test_every_shipped_district_keeps_beijing_time_and_a_district_without_one_gets_it(tmp_path: Path) -> None:
    districts = load_districts()
    assert {district.time_zone for district in districts.by_code.values()} == {"Asia/Shanghai"}
    text = DISTRICTS_FILE.read_text(encoding="utf-8").replace('time_zone = "Asia/Shanghai"\n', "")
    bare = tmp_path / "districts.toml"
    bare.write_text(text, encoding="utf-8")
    assert {district.time_zone for district in load_districts(bare).by_code.values()} == {"Asia/Shanghai"}


def test_the_system_clocks_today_is_beijings_date() -> None:
    clock = SystemClock()
    before = local_time.local_date(datetime.now(UTC), "Asia/Shanghai")
    today = clock.today()
    after = local_time.local_date(datetime.now(UTC), "Asia/Shanghai")
    assert today in {before, after}


def test_a_misspelt_zone_stops_the_start(tmp_path: Path) -> None:
    districts = DISTRICTS_FILE.read_text(encoding="utf-8")
    broken = tmp_path / "districts.toml"
    broken.write_text(districts.replace('time_zone = "Asia/Shanghai"', 'time_zone = "Asia/Beijing"', 1), "utf-8")
    with pytest.raises(PolicyError, match="time_zone"):
        load_districts(broken)
