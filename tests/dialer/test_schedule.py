"""Contact Hours across the Australia/Melbourne daylight-saving changes and on closed dates.

Melbourne: AEDT (UTC+11) until 03:00 on the first Sunday of April (2026-04-05), when clocks go
back to 02:00 AEST (UTC+10); AEST until 02:00 on the first Sunday of October (2026-10-04), when
they jump to 03:00 AEDT.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest

from dialer.schedule import Schedule

MELBOURNE = zoneinfo.ZoneInfo("Australia/Melbourne")
UTC = dt.UTC


def schedule(*windows: tuple[int, int, int], closed: tuple[dt.date, ...] = ()) -> Schedule:
    return Schedule(1, "Melbourne", MELBOURNE, tuple(windows), frozenset(closed))


def utc(*parts: int) -> dt.datetime:
    return dt.datetime(*parts, tzinfo=UTC)


SUNDAY = 6
EARLY_SUNDAY = schedule((SUNDAY, 60, 4 * 60))  # Sunday 01:00-04:00 local


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        # 2026-04-05, clocks go back at 03:00 AEDT (16:00 UTC Saturday) to 02:00 AEST.
        (utc(2026, 4, 4, 13, 59), False),  # 00:59 AEDT
        (utc(2026, 4, 4, 14, 0), True),  # 01:00 AEDT
        (utc(2026, 4, 4, 15, 30), True),  # 02:30 AEDT (first time)
        (utc(2026, 4, 4, 16, 30), True),  # 02:30 AEST (second time)
        (utc(2026, 4, 4, 17, 59), True),  # 03:59 AEST
        (utc(2026, 4, 4, 18, 0), False),  # 04:00 AEST: 5 real hours after opening
        # 2026-10-04, clocks jump at 02:00 AEST (16:00 UTC Saturday) to 03:00 AEDT.
        (utc(2026, 10, 3, 14, 59), False),  # 00:59 AEST
        (utc(2026, 10, 3, 15, 0), True),  # 01:00 AEST
        (utc(2026, 10, 3, 16, 0), True),  # 03:00 AEDT (02:00 never happened)
        (utc(2026, 10, 3, 16, 59), True),  # 03:59 AEDT
        (utc(2026, 10, 3, 17, 0), False),  # 04:00 AEDT: only 2 real hours after opening
    ],
)
def test_windows_follow_the_wall_clock_across_dst(at: dt.datetime, expected: bool) -> None:
    assert EARLY_SUNDAY.is_open(at) is expected


def test_a_window_opening_in_the_skipped_hour_opens_at_the_jump() -> None:
    at_half_past_two = schedule((SUNDAY, 150, 240))  # Sunday 02:30-04:00 local
    friday = utc(2026, 10, 2, 0, 0)
    opens = at_half_past_two.next_open(friday)
    assert opens == dt.datetime(2026, 10, 4, 3, 0, tzinfo=MELBOURNE)  # 02:30 does not exist
    assert opens is not None and opens.utcoffset() == dt.timedelta(hours=11)
    assert at_half_past_two.is_open(opens)


def test_next_open_on_the_day_clocks_go_back() -> None:
    opens = EARLY_SUNDAY.next_open(utc(2026, 4, 1))
    assert opens == utc(2026, 4, 4, 14, 0)  # 01:00 AEDT


def test_closed_dates_close_the_whole_local_day_and_are_skipped() -> None:
    christmas = dt.date(2026, 12, 25)  # a Friday
    weekdays = schedule(*((day, 9 * 60, 17 * 60) for day in range(5)), closed=(christmas,))
    christmas_noon = dt.datetime(2026, 12, 25, 12, tzinfo=MELBOURNE)
    assert not weekdays.is_open(christmas_noon)
    assert weekdays.closed_on(christmas_noon)
    # 09:00 local on Christmas Eve is still 22:00 UTC on the 23rd: the local date counts.
    assert weekdays.is_open(dt.datetime(2026, 12, 24, 9, tzinfo=MELBOURNE))
    assert weekdays.next_open(christmas_noon) == dt.datetime(2026, 12, 28, 9, tzinfo=MELBOURNE)


def test_windows_are_half_open_and_may_end_at_midnight() -> None:
    evening = schedule((0, 18 * 60, 24 * 60), (0, 9 * 60, 12 * 60))  # Monday, two windows
    monday = dt.date(2026, 11, 23)

    def at(hour: int, minute: int = 0) -> dt.datetime:
        return dt.datetime.combine(monday, dt.time(hour, minute), tzinfo=MELBOURNE)

    assert evening.is_open(at(9)) and evening.is_open(at(11, 59))
    assert not evening.is_open(at(12))
    assert evening.is_open(at(23, 59))
    assert not evening.is_open(at(23, 59) + dt.timedelta(minutes=1))  # Tuesday 00:00
    assert evening.next_open(at(12)) == at(18)


def test_no_windows_never_opens() -> None:
    assert schedule().next_open(utc(2026, 1, 1)) is None
