"""The schedule math, alone: no database, no models."""

import itertools
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tablecron import calendar_rules, schedules
from tablecron.exceptions import InvalidSchedule
from tests.support.fuzzing import FUZZ

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def fires(schedule: schedules.Schedule, after: datetime, count: int) -> list[datetime]:
    return list(schedules.upcoming(schedule, schedule.next_after(after), count))


def test_cron_fires_strictly_after_and_returns_utc() -> None:
    cron = schedules.CronSchedule("*/15 * * * *", ZoneInfo("UTC"))
    assert cron.next_after(utc(2026, 1, 1, 12, 0)) == utc(2026, 1, 1, 12, 15)
    assert cron.next_after(utc(2026, 1, 1, 12, 14, 59, 999999)) == utc(2026, 1, 1, 12, 15)
    assert cron.next_after(utc(2026, 1, 1, 12, 0)).tzinfo is UTC  # type: ignore[union-attr]


def test_cron_is_read_in_its_time_zone() -> None:
    cron = schedules.CronSchedule("0 9 * * 1", ZoneInfo("Asia/Shanghai"))
    # Monday 2026-11-30 09:00 in Shanghai is 01:00 UTC.
    assert cron.next_after(utc(2026, 11, 25)) == utc(2026, 11, 30, 1, 0)


def test_six_fields_have_leading_seconds() -> None:
    cron = schedules.CronSchedule("*/10 * * * * *", ZoneInfo("UTC"))
    assert fires(cron, utc(2026, 1, 1), 3) == [
        utc(2026, 1, 1, 0, 0, 10),
        utc(2026, 1, 1, 0, 0, 20),
        utc(2026, 1, 1, 0, 0, 30),
    ]


@pytest.mark.parametrize(
    ("alias", "expected"),
    [
        ("@hourly", utc(2026, 1, 1, 13)),
        ("@daily", utc(2026, 1, 2)),
        ("@midnight", utc(2026, 1, 2)),
        ("@weekly", utc(2026, 1, 4)),  # the next Sunday
        ("@monthly", utc(2026, 2, 1)),
        ("@yearly", utc(2027, 1, 1)),
        ("@annually", utc(2027, 1, 1)),
        ("@DAILY", utc(2026, 1, 2)),
    ],
)
def test_aliases(alias: str, expected: datetime) -> None:
    assert schedules.CronSchedule(alias, ZoneInfo("UTC")).next_after(utc(2026, 1, 1, 12, 30)) == (
        expected
    )


@pytest.mark.parametrize("zone", [BERLIN, NEW_YORK])
def test_spring_forward_skipped_time_fires_once_at_first_valid_instant(zone: ZoneInfo) -> None:
    # Berlin skips 02:00-03:00 on 2026-03-29; New York on 2026-03-08.
    day = {BERLIN: 29, NEW_YORK: 8}[zone]
    cron = schedules.CronSchedule("30 2 * * *", zone)
    got = fires(cron, datetime(2026, 3, day - 1, 12, tzinfo=zone), 3)
    local = [fire.astimezone(zone) for fire in got]
    assert [(d.day, d.hour, d.minute) for d in local] == [
        (day, 3, 0),
        (day + 1, 2, 30),
        (day + 2, 2, 30),
    ]


@pytest.mark.parametrize("zone", [BERLIN, NEW_YORK])
def test_fall_back_repeated_time_fires_once(zone: ZoneInfo) -> None:
    # Berlin repeats 02:00-03:00 on 2026-10-25; New York repeats 01:00-02:00 on 2026-11-01.
    day_before, hour = {
        BERLIN: (datetime(2026, 10, 24, 12), 2),
        NEW_YORK: (datetime(2026, 10, 31, 12), 1),
    }[zone]
    cron = schedules.CronSchedule(f"30 {hour} * * *", zone)
    got = fires(cron, day_before.replace(tzinfo=zone), 2)
    assert got[1] - got[0] == timedelta(hours=25)  # one fire on the long day, not two
    assert [fire.astimezone(zone).hour for fire in got] == [hour, hour]


def test_fall_back_wildcard_hour_keeps_its_cadence() -> None:
    cron = schedules.CronSchedule("*/30 * * * *", NEW_YORK)
    got = fires(cron, datetime(2026, 11, 1, 0, 50, tzinfo=NEW_YORK), 6)
    assert [b - a for a, b in itertools.pairwise(got)] == [timedelta(minutes=30)] * 5


def test_interval_is_absolute_time_across_dst() -> None:
    anchor = datetime(2026, 3, 28, 12, tzinfo=BERLIN)
    every_day = schedules.IntervalSchedule(timedelta(days=1), anchor=anchor)
    nxt = every_day.next_after(anchor)
    assert nxt == anchor.astimezone(UTC) + timedelta(hours=24)
    assert nxt.astimezone(BERLIN).hour == 13  # type: ignore[union-attr]  # 24 h, not 12:00


def test_interval_counts_from_anchor_or_from_after() -> None:
    anchor = utc(2026, 1, 1, 0, 0)
    every_7m = schedules.IntervalSchedule(timedelta(minutes=7), anchor=anchor)
    assert every_7m.next_after(utc(2025, 12, 31)) == anchor
    assert every_7m.next_after(anchor) == utc(2026, 1, 1, 0, 7)
    assert every_7m.next_after(utc(2026, 1, 1, 1, 0)) == utc(2026, 1, 1, 1, 3)
    floating = schedules.IntervalSchedule(timedelta(minutes=7))
    assert floating.next_after(utc(2026, 1, 1, 1, 0, 30)) == utc(2026, 1, 1, 1, 7, 30)


def test_once() -> None:
    once = schedules.OnceSchedule(utc(2026, 5, 1))
    assert once.next_after(utc(2026, 4, 30)) == utc(2026, 5, 1)
    assert once.next_after(utc(2026, 5, 1)) is None


def test_window_bounds_every_kind() -> None:
    start, end = utc(2026, 1, 1, 10), utc(2026, 1, 1, 11)
    hourly = schedules.build(cron="0 * * * *", start_at=start, end_at=end)
    assert hourly is not None
    assert fires(hourly, utc(2026, 1, 1), 5) == [utc(2026, 1, 1, 10), utc(2026, 1, 1, 11)]
    every_20m = schedules.build(interval=timedelta(minutes=20), start_at=start, end_at=end)
    assert every_20m is not None
    assert fires(every_20m, utc(2026, 1, 1), 9) == [
        start,
        utc(2026, 1, 1, 10, 20),
        utc(2026, 1, 1, 10, 40),
        end,
    ]


def test_manual_only_has_no_schedule() -> None:
    assert schedules.build() is None


def test_never_matching_cron_has_no_next_fire() -> None:
    # The 1st or 21st of a month that is also its last Monday: impossible (cron ANDs the
    # day fields when day-of-month starts with *).
    cron = schedules.CronSchedule("* * */20 * 1L", ZoneInfo("UTC"))
    assert cron.next_after(utc(2026, 1, 1)) is None


@pytest.mark.parametrize(
    ("expression", "days"),
    [
        # docs/reference.md's example, "When a job fires": a day field starting with * makes
        # a day match both fields, so Mondays that fall on an odd day of the month ...
        ("0 9 */2 * 1", [(6, 1), (6, 15), (6, 29), (7, 13), (7, 27), (8, 3)]),
        # ... while with both fields restricted, a day matches either: odd days and Mondays.
        ("0 9 1-31/2 * 1", [(6, 1), (6, 3), (6, 5), (6, 7), (6, 8), (6, 9)]),
        ("0 9 1,15 * 1", [(6, 1), (6, 8), (6, 15), (6, 22), (6, 29), (7, 1)]),
    ],
)
def test_day_of_month_and_day_of_week_as_documented(
    expression: str, days: list[tuple[int, int]]
) -> None:
    cron = schedules.CronSchedule(expression, ZoneInfo("UTC"))
    assert fires(cron, utc(2026, 6, 1), 6) == [utc(2026, m, d, 9) for m, d in days]


@pytest.mark.parametrize(
    ("fields", "bad_field"),
    [
        ({"cron": "61 * * * *"}, "cron"),
        ({"cron": "* * * *"}, "cron"),
        ({"cron": "@fortnightly"}, "cron"),
        ({"cron": "0 9 * * *", "timezone": "Mars/Olympus"}, "timezone"),
        ({"interval": timedelta(0)}, "interval"),
        ({"run_at": datetime(2026, 1, 1)}, "run_at"),
        ({"cron": "* * * * *", "interval": timedelta(minutes=1)}, "interval"),
        ({"cron": "* * * * *", "start_at": utc(2026, 2, 1), "end_at": utc(2026, 1, 1)}, "end_at"),
    ],
)
def test_bad_schedules_name_the_field(fields: dict[str, object], bad_field: str) -> None:
    with pytest.raises(InvalidSchedule) as caught:
        schedules.build(**fields)  # type: ignore[arg-type]
    assert caught.value.field == bad_field


# -- the ends of the calendar (issue 20, item 5) ----------------------------------------

# Cron expressions from every corner of cronsim: fires every second, rare ones (the fifth
# Monday of February matches once in decades), the last day or weekday of a month.
EDGE_CRONS = [
    "* * * * * *", "*/7 * * * *", "0 0 * 2 1#5", "0 0 29 2 *", "0 0 29 2 1", "0 0 L * *",
    "0 0 * * 5L", "0 0 LW * *", "0 0 15W * *", "0 0 1 1 *", "59 23 31 12 *", "@yearly",
    "0 0 */20 * 1L", "0 0 1-7 * 1#1",
]  # fmt: skip
LAST_MOMENT = schedules.LATEST - timedelta(microseconds=1)
moments = st.one_of(
    st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(1971, 1, 1)),
    st.datetimes(min_value=datetime(8950, 1, 1), max_value=LAST_MOMENT.replace(tzinfo=None)),
    st.datetimes(min_value=datetime(1970, 1, 1), max_value=LAST_MOMENT.replace(tzinfo=None)),
).map(lambda moment: moment.replace(tzinfo=UTC))
kinds = st.one_of(
    st.builds(dict, cron=st.sampled_from(EDGE_CRONS)),
    st.builds(dict, interval=st.timedeltas(schedules.MIN_INTERVAL, schedules.MAX_DURATION)),
    st.builds(dict, run_at=moments),
)
windows = st.fixed_dictionaries(
    {},
    optional={
        "start_at": moments,
        "end_at": moments,
        "timezone": st.sampled_from(["UTC", "Pacific/Kiritimati", "America/St_Johns"]),
    },
)


@dataclass(frozen=True)
class Weekdays:
    """Monday to Friday: a calendar of working days (hashable, as schedules are cached)."""

    def __call__(self, day: date) -> bool:
        return day.weekday() < 5


calendars = st.one_of(
    st.just({}),
    st.builds(
        lambda rule, day: {
            "working_days": Weekdays(),
            "calendar_rule": rule,
            "calendar_day": day if rule == "nth" else None,
        },
        st.sampled_from(calendar_rules.CALENDAR_RULES),
        st.sampled_from([1, 3, -1]),
    ),
)
edge_schedules = st.builds(
    lambda kind, window, calendar: {**kind, **window, **calendar}, kinds, windows, calendars
)


@FUZZ
@given(fields=edge_schedules, after=moments)
def test_every_series_ends_within_the_calendar(fields: dict[str, Any], after: datetime) -> None:
    """From anywhere in the allowed range, a hundred fires of any kind of schedule, kept
    to working days or not, are listed without an error, each later than the one before,
    inside the job's window, and before LATEST: a series that reaches the end of the
    calendar ends there."""
    try:
        schedule = schedules.build(**fields)
    except InvalidSchedule:
        return  # end before start, a run time outside its window: refused when typed
    assert schedule is not None
    listed = fires(schedule, after, 100)
    assert listed == sorted(set(listed))
    for fire in listed:
        assert after < fire < schedules.LATEST
        assert fields.get("start_at") is None or fire >= fields["start_at"]
        assert fields.get("end_at") is None or fire <= fields["end_at"]


def test_a_rare_cron_ends_at_the_calendars_end() -> None:
    """The fifth Monday of February, from 8990: cronsim ran past year 9999 (an
    OverflowError) on the way to the hundredth; the series ends before 9000 instead."""
    schedule = schedules.build(cron="0 0 * 2 1#5")
    assert schedule is not None
    listed = fires(schedule, utc(8990, 1, 1), 100)
    assert listed == [utc(8996, 2, 29)]  # and none in or after 9000
    assert schedule.next_after(LAST_MOMENT) is None


def test_a_long_interval_ends_at_the_calendars_end() -> None:
    schedule = schedules.build(interval=schedules.MAX_DURATION, start_at=utc(8990, 1, 1))
    assert schedule is not None
    first = utc(8990, 1, 1)
    assert fires(schedule, utc(8989, 1, 1), 100) == [first, first + schedules.MAX_DURATION]
