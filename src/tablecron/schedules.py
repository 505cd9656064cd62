"""When a job fires next: pure functions of the schedule fields, no models.

Every schedule honours one contract, taken from APScheduler's triggers:
``next_after(t)`` returns the first fire time strictly after the aware datetime ``t``,
as an aware UTC datetime, or ``None`` when there is none. Constructors validate.

Cron parsing and iteration come from cronsim, whose DST behaviour is Debian cron's:
a fixed wall time skipped by spring-forward fires at the first valid instant after
it, a fixed wall time repeated by fall-back fires once, and expressions with a
wildcard hour keep their cadence in absolute time.

Every series ends at ``LATEST``, the end of tablecron's calendar: no fire time is at or
after it, whatever the schedule (a cron expression that matches once in decades, an
interval of years), so listing a hundred upcoming fires from near the end stops there
instead of running off Python's calendar.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from tablecron.exceptions import InvalidSchedule

CRON_ALIASES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
MIN_INTERVAL = timedelta(seconds=1)
# Bounds that keep every sum the scheduler makes (a fire time plus an interval, a jitter,
# a retry delay or a misfire grace) inside what Python's datetime and every database
# column hold. docs/reference.md documents them.
MAX_DURATION = timedelta(days=3650)
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)
# IANA names are short; a long one only makes zoneinfo walk its path (deep enough, until
# RecursionError). The job's ``timezone`` column is as long.
MAX_ZONE_NAME = 64
# The fields that describe a schedule, as ``build()`` takes them and ``of()`` reads them.
FIELDS = ("cron", "interval", "run_at", "timezone", "start_at", "end_at")
# The rules between fields, worded once: the model's CheckConstraints say them too.
ONE_KIND = gettext_lazy(
    "Choose one kind of schedule: a cron expression, an interval or a single run time."
)
INTERVAL_TOO_SHORT = gettext_lazy("Enter an interval of at least one second.")
END_BEFORE_START = gettext_lazy("The end must be later than the start.")
_TICK = timedelta(microseconds=1)


class Schedule(Protocol):
    def next_after(self, after: datetime) -> datetime | None: ...


def get_zone(name: str) -> ZoneInfo:
    """The IANA time zone called ``name``; InvalidSchedule on the ``timezone`` field if none."""
    try:
        if len(name) > MAX_ZONE_NAME:
            raise ValueError(name)
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError, OSError):
        raise InvalidSchedule(
            _("“%(name)s” is not a known time zone. Use an IANA name such as “Europe/Paris”.")
            % {"name": name},
            "timezone",
        ) from None


def require_moment(value: datetime, field: str = "") -> None:
    """An aware datetime between ``EARLIEST`` and ``LATEST``, or InvalidSchedule on ``field``."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidSchedule(
            _("Enter a date and time with a time zone (this one has none)."), field
        )
    if not EARLIEST <= value < LATEST:
        raise InvalidSchedule(
            _("Enter a date and time from the year %(first)d to %(last)d.")
            % {"first": EARLIEST.year, "last": LATEST.year - 1},
            field,
        )


@functools.lru_cache(maxsize=4096)
def _cron_problem(expression: str) -> str:
    """What cronsim finds wrong with an expression ("" if nothing); cached, as the same few
    expressions are checked for every row written."""
    try:
        CronSim(expression, datetime(2000, 1, 1))
    except CronSimError as exc:
        return str(exc).lower()
    return ""


@dataclass(frozen=True)
class CronSchedule:
    """A cron expression (5 fields, 6 with leading seconds, or an @alias) read in ``zone``."""

    expression: str
    zone: ZoneInfo

    def __post_init__(self) -> None:
        fields = self.expanded.split()
        if len(fields) not in (5, 6):
            raise InvalidSchedule(
                _(
                    "A cron expression has 5 fields (minute hour day month weekday) or 6 with "
                    "leading seconds; “%(expr)s” has %(count)d."
                )
                % {"expr": self.expression, "count": len(fields)},
                "cron",
            )
        problem = _cron_problem(self.expanded)
        if problem:
            raise InvalidSchedule(
                _("“%(expr)s” is not a valid cron expression: %(reason)s.")
                % {"expr": self.expression, "reason": problem},
                "cron",
            )

    @property
    def expanded(self) -> str:
        text = " ".join(self.expression.split())
        return CRON_ALIASES.get(text.lower(), text)

    def next_after(self, after: datetime) -> datetime | None:
        return _next_cron(self.expanded, self.zone, after)


@functools.lru_cache(maxsize=4096)
def _next_cron(expression: str, zone: ZoneInfo, after: datetime) -> datetime | None:
    """Cached: jobs sharing a schedule fall due together, and a claim advances them all
    from the same fire time."""
    try:
        fire: datetime = next(CronSim(expression, after.astimezone(zone)))
    except StopIteration:  # no match within cronsim's 50-year horizon
        return None
    return fire.astimezone(UTC)


@dataclass(frozen=True)
class IntervalSchedule:
    """Every ``interval`` of absolute time, counted from ``anchor`` (or from ``after``)."""

    interval: timedelta
    anchor: datetime | None = None

    def __post_init__(self) -> None:
        if self.interval < MIN_INTERVAL:
            raise InvalidSchedule(str(INTERVAL_TOO_SHORT), "interval")
        if self.interval > MAX_DURATION:
            raise InvalidSchedule(
                _("Enter an interval of at most %(days)d days.") % {"days": MAX_DURATION.days},
                "interval",
            )

    def next_after(self, after: datetime) -> datetime | None:
        # In UTC: arithmetic on datetimes sharing a zoneinfo tzinfo is wall-clock time.
        after = after.astimezone(UTC)
        if self.anchor is None:
            return after + self.interval
        anchor = self.anchor.astimezone(UTC)
        if after < anchor:
            return anchor
        return anchor + ((after - anchor) // self.interval + 1) * self.interval


@dataclass(frozen=True)
class OnceSchedule:
    """A single fire at ``run_at``."""

    run_at: datetime

    def next_after(self, after: datetime) -> datetime | None:
        return self.run_at.astimezone(UTC) if self.run_at > after else None


@dataclass(frozen=True)
class Window:
    """Limits ``schedule`` to fires within [start_at, end_at] (moments ``build()`` checked),
    and every series to fires before ``LATEST``."""

    schedule: Schedule
    start_at: datetime | None = None
    end_at: datetime | None = None

    def __post_init__(self) -> None:
        if self.start_at and self.end_at and self.end_at <= self.start_at:
            raise InvalidSchedule(str(END_BEFORE_START), "end_at")

    def next_after(self, after: datetime) -> datetime | None:
        if self.start_at is not None and after < self.start_at:
            after = self.start_at - _TICK
        if after >= LATEST:
            return None
        try:
            fire = self.schedule.next_after(after)
        except OverflowError:  # past year 9999: cronsim looks ahead up to 50 years
            return None
        if fire is None or fire >= LATEST or (self.end_at is not None and fire > self.end_at):
            return None
        return fire


@functools.lru_cache(maxsize=1024)  # the same few schedules, checked for every row
def build(
    *,
    cron: str = "",
    interval: timedelta | None = None,
    run_at: datetime | None = None,
    timezone: str = "UTC",
    start_at: datetime | None = None,
    end_at: datetime | None = None,
    working_days: WorkingDay | None = None,
    calendar_rule: str = "skip",
    calendar_day: int | None = None,
) -> Schedule | None:
    """The schedule the fields describe, or ``None`` for a manual-only job; with
    ``working_days``, kept to them by ``calendar_rule`` (see ``Calendar``)."""
    for field, moment in (("run_at", run_at), ("start_at", start_at), ("end_at", end_at)):
        if moment is not None:  # checked even without a schedule: the columns hold them
            require_moment(moment, field)
    kinds = [
        name
        for name, value in (("cron", cron), ("interval", interval), ("run_at", run_at))
        if value not in ("", None)
    ]
    if len(kinds) > 1:
        raise InvalidSchedule(str(ONE_KIND), kinds[-1])
    zone = get_zone(timezone)
    schedule: Schedule
    if cron:
        schedule = CronSchedule(cron, zone)
    elif interval is not None:
        schedule = IntervalSchedule(interval, anchor=start_at)
    elif run_at is not None:
        schedule = OnceSchedule(run_at)
    else:
        return None
    window = Window(schedule, start_at, end_at)
    if run_at is not None and window.next_after(run_at - _TICK) is None:
        raise InvalidSchedule(
            _("The single run time falls outside the start and end of the job."), "run_at"
        )
    if working_days is not None:
        if calendar_rule != "skip" and interval is not None and start_at is None:
            raise InvalidSchedule(
                _(
                    "Only “skip” applies to an interval without a start: it counts from "
                    "whenever it is asked. Give the interval a start, or use a cron "
                    "expression."
                ),
                "calendar_rule",
            )
        calendar = Calendar(schedule, zone, working_days, calendar_rule, calendar_day)
        return Window(calendar, start_at, end_at)
    if calendar_day is not None and calendar_rule != "nth":
        raise InvalidSchedule(
            _("A working day of the month goes with the rule “nth” only."), "calendar_day"
        )
    if calendar_rule != "skip" or calendar_day is not None:
        raise InvalidSchedule(
            _("Choose a calendar: the rule “%(rule)s” needs its working days.")
            % {"rule": calendar_rule},
            "calendar",
        )
    return window


def of(source: Any) -> Schedule | None:
    """The schedule of anything with the schedule ``FIELDS`` as attributes (a ``Job``, or a
    due row read by the scheduler); ``InvalidSchedule`` if they describe none."""
    return build(**{name: getattr(source, name) for name in FIELDS})


def upcoming(schedule: Schedule, first: datetime | None, count: int) -> Iterator[datetime]:
    """Up to ``count`` upcoming fire times of ``schedule``, starting with ``first``."""
    fire = first
    for _i in range(count):
        if fire is None:
            return
        yield fire
        fire = schedule.next_after(fire)


# -- working-day calendars -------------------------------------------------------------

# How the calendar treats a fire that falls on a day off (``Job.calendar_rule``).
CALENDAR_RULES = ("skip", "next", "previous", "nth")
# The furthest ``Calendar.next_after`` looks past ``after`` for a working day: a calendar
# without one that long (a custom one made only of days off) means no fire at all.
CALENDAR_HORIZON = timedelta(days=3660)
MAX_CALENDAR_DAY = 23  # no month has more working days than that in any country's week
_DAY = timedelta(days=1)
_YEAR_DAYS = 366


class WorkingDay(Protocol):
    """Whether ``day`` is a working day; hashable, as schedules are cached by it."""

    def __call__(self, day: date, /) -> bool: ...

    def __hash__(self) -> int: ...


@dataclass(frozen=True)
class Calendar:
    """Limits or moves the fires of ``schedule`` to the days ``is_working`` accepts, in
    ``zone``.

    ``skip``: a fire on a day off does not happen. ``next`` / ``previous``: it happens at
    the same wall time on the next / previous working day (a wall time that does not
    exist that day fires at the first valid instant after it, a repeated one once, as
    cron's fixed times do), and a moved fire that lands on another fire is one fire.
    ``nth``: only the fires on the ``day``-th working day of the month (``-1``: the last).
    Fires are found day by day, each day's from the inner schedule; past
    ``CALENDAR_HORIZON`` without one, there is none.
    """

    schedule: Schedule
    zone: ZoneInfo
    is_working: WorkingDay
    rule: str = "skip"
    day: int | None = None

    def __post_init__(self) -> None:
        if self.rule not in CALENDAR_RULES:
            raise InvalidSchedule(
                _("Choose one of: %(rules)s.") % {"rules": ", ".join(CALENDAR_RULES)},
                "calendar_rule",
            )
        if self.rule == "nth":
            if self.day is None or not 1 <= abs(self.day) <= MAX_CALENDAR_DAY:
                raise InvalidSchedule(
                    _(
                        "Enter the working day of the month from 1 to %(max)d, or from -1 "
                        "(the last) to -%(max)d."
                    )
                    % {"max": MAX_CALENDAR_DAY},
                    "calendar_day",
                )
        elif self.day is not None:
            raise InvalidSchedule(
                _("A working day of the month goes with the rule “nth” only."), "calendar_day"
            )

    def next_after(self, after: datetime) -> datetime | None:
        # The inner fires in order, from the first day whose fires may land after
        # ``after``; a fire's target (its day, or the working day it moves to) never goes
        # back as its own day goes on, so the search ends past the best target's day.
        fire = self.schedule.next_after(self._search_from(after))
        last = after + CALENDAR_HORIZON
        best: datetime | None = None
        while fire is not None and fire <= last:
            day = fire.astimezone(self.zone).date()
            target = self._target(day)
            if target is None:  # skipped, or no working day near: on to the next day
                fire = self.schedule.next_after(_day_start(self._after(day), self.zone) - _TICK)
                continue
            if best is not None and target > best.astimezone(self.zone).date():
                break
            if target != day:
                fire_time = fire.astimezone(self.zone).time()
                moved = at_wall_time(target, fire_time, self.zone)
            else:
                moved = fire
            if moved > after and (best is None or moved < best):
                best = moved
            fire = self.schedule.next_after(fire)
        return best

    def _search_from(self, after: datetime) -> datetime:
        """Where to read the inner fires from: for ``next``, the days off just before
        ``after``'s day, whose fires move to it or later."""
        if self.rule != "next":
            return after
        day = after.astimezone(self.zone).date()
        first = self._working(day - _DAY, -1)
        if first is None:
            return after
        return min(after, _day_start(first + _DAY, self.zone) - _TICK)

    def _after(self, day: date) -> date:
        """The next day that may have a fire after a day without: for ``nth``, the Nth
        working day of this month or a later one (the month after the last if none)."""
        if self.rule != "nth":
            return day + _DAY
        month = day.replace(day=1)
        for _i in range(12):
            nth = _nth_working_day(self.is_working, month, self.day)
            if nth is not None and nth > day:
                return nth
            month = (month + timedelta(days=31)).replace(day=1)
        return month

    def _target(self, day: date) -> date | None:
        """The day a fire on ``day`` happens on, or None if it does not."""
        if self.rule == "nth":
            month = day.replace(day=1)  # the cache's key: one list per month
            return day if day == _nth_working_day(self.is_working, month, self.day) else None
        if self.is_working(day):
            return day
        if self.rule == "skip":
            return None
        return self._working(day, 1 if self.rule == "next" else -1)

    def _working(self, day: date, step: int) -> date | None:
        """The first working day from ``day`` on, by ``step`` days; None if none in a year."""
        for _i in range(_YEAR_DAYS):
            if self.is_working(day):
                return day
            day += timedelta(days=step)
        return None


def _day_start(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(), zone).astimezone(UTC)


def at_wall_time(day: date, wall: time, zone: ZoneInfo) -> datetime:
    """``day`` at ``wall`` in ``zone``, in UTC: the first of a repeated wall time, and for
    one that does not exist (spring-forward), the first valid instant after it."""
    naive = datetime.combine(day, wall)
    aware = naive.replace(tzinfo=zone)
    if aware.astimezone(UTC).astimezone(zone).replace(tzinfo=None) == naive:
        return aware.astimezone(UTC)
    # In the gap: the clock jumps past ``wall`` at the transition, the instant to find
    # between the wall time read with the offsets before and after it.
    low, high = naive.replace(tzinfo=zone, fold=1).astimezone(UTC), aware.astimezone(UTC)
    while high - low > _TICK:
        middle = low + (high - low) / 2
        if middle.astimezone(zone).replace(tzinfo=None) >= naive:
            high = middle
        else:
            low = middle
    return high


@functools.lru_cache(maxsize=1024)
def _nth_working_day(is_working: WorkingDay, day: date, nth: int | None) -> date | None:
    """The ``nth`` working day of ``day``'s month (counted from its end if negative), or
    None if the month has fewer. Cached: a claim asks it for the same months over again."""
    first = day.replace(day=1)
    month = [first + timedelta(days=i) for i in range(31)]
    working = [d for d in month if d.month == first.month and is_working(d)]
    if not nth or abs(nth) > len(working):
        return None
    return working[nth - 1 if nth > 0 else nth]
