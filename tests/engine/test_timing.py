"""Send windows and attribute-relative dates in the contact's timezone, DST included."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest

from service.engine.durations import format_duration, parse_duration
from service.engine.model import SendWindow
from service.engine.moments import At
from service.engine.timing import at_moment, in_window, next_allowed, zone
from tests.engine.conftest import utc

NY = ZoneInfo("America/New_York")
DAY = SendWindow(start="09:00", end="20:00")


def test_inside_window_is_unchanged() -> None:
    assert next_allowed(utc(2027, 1, 4, 15), DAY, NY) == utc(2027, 1, 4, 15)


def test_after_window_moves_to_next_morning() -> None:
    assert next_allowed(utc(2027, 1, 5, 2), DAY, NY) == utc(2027, 1, 5, 14)  # 21:00 -> 09:00


def test_window_on_fall_back_day() -> None:
    # 2027-11-07: clocks go back at 02:00; 09:00 local is 14:00 UTC (EST) that day.
    assert next_allowed(utc(2027, 11, 7, 5), DAY, NY) == utc(2027, 11, 7, 14)


def test_window_starting_inside_a_dst_gap_moves_forward() -> None:
    window = SendWindow(start="02:30", end="05:00")
    # 02:30 does not exist on 2027-03-14 in New York; the send happens at 03:30 EDT.
    moment = next_allowed(utc(2027, 3, 14, 5), window, NY)
    assert moment == utc(2027, 3, 14, 7, 30)
    assert moment.astimezone(NY).hour == 3


def test_weekday_window_skips_the_weekend() -> None:
    window = SendWindow(start="09:00", end="17:00", weekdays=["mon", "tue", "wed", "thu", "fri"])
    friday_evening = utc(2027, 1, 8, 23)  # Friday 18:00 New York
    assert next_allowed(friday_evening, window, NY) == utc(2027, 1, 11, 14)


def test_overnight_window() -> None:
    window = SendWindow(start="22:00", end="02:00")
    assert in_window(utc(2027, 1, 5, 4), window, NY)  # 23:00 local
    assert not in_window(utc(2027, 1, 5, 12), window, NY)
    assert next_allowed(utc(2027, 1, 5, 12), window, NY) == utc(2027, 1, 6, 3)


def test_at_keeps_local_hour_across_dst() -> None:
    spec = At(attribute="wedding_date", offset="-30d", time="10:00")
    summer = at_moment(spec, "2027-09-18", NY)
    winter = at_moment(spec, "2027-12-18", NY)
    assert summer == utc(2027, 8, 19, 14)
    assert winter == utc(2027, 11, 18, 15)


def test_at_with_datetime_attribute_and_no_time() -> None:
    spec = At(attribute="call_at", offset="-2h")
    assert at_moment(spec, "2027-03-01T15:00:00+00:00", NY) == utc(2027, 3, 1, 13)
    assert at_moment(spec, "not a date", NY) is None
    assert at_moment(spec, 42, NY) is None


def test_unknown_zone_falls_back_to_default() -> None:
    assert zone("Mars/Base", "Europe/Paris") == ZoneInfo("Europe/Paris")
    assert zone(None, "UTC") == ZoneInfo("UTC")


@pytest.mark.parametrize(
    ("text", "delta"),
    [
        ("30s", timedelta(seconds=30)),
        ("10m", timedelta(minutes=10)),
        ("2h", timedelta(hours=2)),
        ("5d", timedelta(days=5)),
        ("2w", timedelta(weeks=2)),
    ],
)
def test_durations_round_trip(text: str, delta: timedelta) -> None:
    assert parse_duration(text) == delta
    assert format_duration(delta) == text


@pytest.mark.parametrize("text", ["5", "5 days", "-1d", "1y", "", "d"])
def test_bad_durations_are_rejected(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


def test_negative_offsets_only_where_allowed() -> None:
    assert parse_duration("-30d", allow_negative=True) == timedelta(days=-30)


def test_dates_at_the_edge_of_the_calendar_are_no_moment() -> None:
    spec = At(attribute="wedding_date", offset="-30d", time="10:00")
    assert at_moment(spec, "0001-01-01", NY) is None
    assert at_moment(At(attribute="d", offset="2w"), "9999-12-31", NY) is None
