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
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from tablecron.calendar_rules import NTH_DAY_ALONE, Calendar, WorkingDay
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
        raise InvalidSchedule(str(NTH_DAY_ALONE), "calendar_day")
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
