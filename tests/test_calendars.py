"""Working-day calendars: fire times compared with python-holidays' own working days."""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays
import pytest

from tablecron import schedules
from tablecron.exceptions import InvalidSchedule
from tablecron.workdays import WorkingDays, data_until

CASES = [  # code, zone: a zone with DST for the countries that have it
    ("CN", "Asia/Shanghai"),
    ("US-CA", "America/Los_Angeles"),
    ("DE-BY", "Europe/Berlin"),
]


def library_days(code: str, year: int) -> holidays.HolidayBase:
    country, _dash, subdivision = code.partition("-")
    return holidays.country_holidays(country, subdiv=subdivision or None, years=year)


def fires_in(schedule: schedules.Schedule, zone: str, year: int) -> list[datetime]:
    tz = ZoneInfo(zone)
    fire = schedule.next_after(datetime(year, 1, 1, tzinfo=tz) - timedelta(microseconds=1))
    found = []
    while fire is not None and fire.astimezone(tz).year == year:
        found.append(fire.astimezone(tz))
        fire = schedule.next_after(fire)
    return found


def calendar(
    code: str, zone: str, rule: str = "skip", day: int | None = None, cron: str = "0 9 * * *"
) -> schedules.Schedule:
    schedule = schedules.build(
        cron=cron,
        timezone=zone,
        working_days=WorkingDays(code),
        calendar_rule=rule,
        calendar_day=day,
    )
    assert schedule is not None
    return schedule


def year_days(year: int) -> list[date]:
    return [
        date(year, 1, 1) + timedelta(days=n)
        for n in range((date(year + 1, 1, 1) - date(year, 1, 1)).days)
    ]


@pytest.mark.parametrize(("code", "zone"), CASES)
def test_skip_fires_on_every_working_day_of_the_library_and_no_other(code: str, zone: str) -> None:
    days = library_days(code, 2026)
    fires = fires_in(calendar(code, zone), zone, 2026)
    assert [f.date() for f in fires] == [d for d in year_days(2026) if days.is_working_day(d)]
    assert {f.time() for f in fires} == {time(9)}  # 09:00 wall time on both sides of DST
    assert {f.utcoffset() for f in fires} == {
        ZoneInfo(zone).utcoffset(datetime(2026, 1, 1)),
        ZoneInfo(zone).utcoffset(datetime(2026, 7, 1)),
    }


def test_china_2026_make_up_saturdays_and_spring_festival() -> None:
    fires = {f.date() for f in fires_in(calendar("CN", "Asia/Shanghai"), "Asia/Shanghai", 2026)}
    assert {date(2026, 2, 14), date(2026, 2, 28)} <= fires  # make-up Saturdays
    assert not fires & {date(2026, 2, 15) + timedelta(days=n) for n in range(9)}  # 15-23 Feb
    assert date(2026, 2, 21) not in fires
    assert date(2026, 3, 7) not in fires


@pytest.mark.parametrize(("code", "zone"), CASES)
@pytest.mark.parametrize("rule", ["next", "previous"])
def test_moved_fires_land_on_the_library_next_or_previous_working_day(
    code: str, zone: str, rule: str
) -> None:
    days = library_days(code, 2026)
    days.update(library_days(code, 2025))
    days.update(library_days(code, 2027))
    expected = set()
    for day in year_days(2026):
        if day.weekday() != 0:  # Mondays, "0 9 * * 1"
            continue
        step = timedelta(days=1 if rule == "next" else -1)
        while not days.is_working_day(day):
            day += step
        expected.add(day)
    fires = fires_in(calendar(code, zone, rule, cron="0 9 * * 1"), zone, 2026)
    assert [f.date() for f in fires] == sorted(d for d in expected if d.year == 2026)
    assert {f.time() for f in fires} == {time(9)}


def test_a_moved_fire_that_lands_on_another_fires_once() -> None:
    # Daily at 09:00: every fire of a day off moves onto the next working day's own.
    fires = fires_in(calendar("DE-BY", "Europe/Berlin", "next"), "Europe/Berlin", 2026)
    skipped = fires_in(calendar("DE-BY", "Europe/Berlin", "skip"), "Europe/Berlin", 2026)
    assert fires == skipped


@pytest.mark.parametrize(("code", "zone"), CASES)
@pytest.mark.parametrize("nth", [1, 2, -1, -2])
def test_nth_and_last_working_day_of_the_month(code: str, zone: str, nth: int) -> None:
    days = library_days(code, 2026)
    expected = []
    for month in range(1, 13):
        working = [d for d in year_days(2026) if d.month == month and days.is_working_day(d)]
        expected.append(working[nth - 1 if nth > 0 else nth])
    fires = fires_in(calendar(code, zone, "nth", nth), zone, 2026)
    assert [f.date() for f in fires] == expected
    assert {f.time() for f in fires} == {time(9)}


def test_last_working_day_of_february_2026_in_china_is_a_make_up_saturday() -> None:
    fires = fires_in(calendar("CN", "Asia/Shanghai", "nth", -1), "Asia/Shanghai", 2026)
    assert fires[1].date() == date(2026, 2, 28)


def test_moved_to_a_wall_time_that_does_not_exist_fires_at_the_first_valid_instant() -> None:
    # 02:30 on Saturdays with a calendar of Sundays only: moved back? no: forward, onto
    # the Sunday of spring-forward in Berlin (29 March 2026), where 02:30 does not exist.
    sundays = WorkingDaysOnly(weekday=6)
    schedule = schedules.build(
        cron="30 2 * * 6", timezone="Europe/Berlin", working_days=sundays, calendar_rule="next"
    )
    assert schedule is not None
    fire = schedule.next_after(datetime(2026, 3, 27, tzinfo=UTC))
    assert fire == datetime(2026, 3, 29, 1, 0, tzinfo=UTC)  # 03:00 CEST, the gap's end
    # Fall back (25 October 2026): 02:30 happens twice; the moved fire once, the first.
    fire = schedule.next_after(datetime(2026, 10, 23, tzinfo=UTC))
    assert fire == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # 02:30 CEST
    assert schedule.next_after(fire) == datetime(2026, 11, 1, 1, 30, tzinfo=UTC)


class WorkingDaysOnly:
    def __init__(self, weekday: int) -> None:
        self.weekday = weekday

    def __call__(self, day: date) -> bool:
        return day.weekday() == self.weekday


def test_skip_on_a_calendar_without_working_days_gives_up_past_the_horizon() -> None:
    never = schedules.build(cron="0 9 * * *", working_days=lambda day: False)
    assert never is not None
    assert never.next_after(datetime(2026, 1, 1, tzinfo=UTC)) is None


def test_custom_days_change_the_country() -> None:
    shutdown = WorkingDays(
        "DE-BY",
        days_off=frozenset({date(2026, 12, 28)}),
        working_days=frozenset({date(2026, 12, 26)}),
    )
    assert not shutdown(date(2026, 12, 28))
    assert shutdown(date(2026, 12, 26))
    assert WorkingDays()(date(2026, 12, 26))  # no country: every day


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"working_days": WorkingDays("CN"), "calendar_rule": "sideways"}, "calendar_rule"),
        ({"working_days": WorkingDays("CN"), "calendar_rule": "nth"}, "calendar_day"),
        (
            {"working_days": WorkingDays("CN"), "calendar_rule": "nth", "calendar_day": 24},
            "calendar_day",
        ),
        ({"working_days": WorkingDays("CN"), "calendar_day": 1}, "calendar_day"),
        ({"calendar_rule": "next"}, "calendar"),
        ({"calendar_day": 2}, "calendar_day"),
    ],
)
def test_calendar_fields_are_checked(fields: dict, field: str) -> None:
    with pytest.raises(InvalidSchedule) as caught:
        schedules.build(cron="0 9 * * *", **fields)
    assert caught.value.field == field


def test_unknown_country_lists_close_matches() -> None:
    with pytest.raises(InvalidSchedule, match="Did you mean: DE-BY") as caught:
        WorkingDays("de-by")
    assert caught.value.field == "calendar"


def test_data_until() -> None:
    assert data_until("CN") >= 2026  # make-up days are announced a year at a time
    assert data_until("US-CA") >= 2100
