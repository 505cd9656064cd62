"""Keeping a schedule's fires to working days: the rules ``skip``, ``next``, ``previous``
and ``nth`` of ``Job.calendar_rule``, over any schedule of ``schedules`` and any calendar
(``workdays``: a callable ``day -> bool``). Pure, as the rest of the schedule math."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Protocol
from zoneinfo import ZoneInfo

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from tablecron.exceptions import InvalidSchedule

if TYPE_CHECKING:
    from tablecron.schedules import Schedule

_TICK = timedelta(microseconds=1)
NTH_DAY_ALONE = gettext_lazy("A working day of the month goes with the rule “nth” only.")

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
            raise InvalidSchedule(str(NTH_DAY_ALONE), "calendar_day")

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
