"""Working days, from python-holidays: a country's weekend, its holidays and its make-up
working days (China's Saturdays), never a list written here. No models: a custom
calendar (``models.Calendar``) adds its own days off and working days to these.

A calendar is a callable ``day -> bool``, frozen and hashable, so that the schedule math
can cache per calendar (``calendar_rules.Calendar``).
"""

from __future__ import annotations

import difflib
import functools
from dataclasses import dataclass, field
from datetime import date

import holidays
from django.utils.translation import gettext as _

from tablecron.exceptions import InvalidSchedule


@functools.cache
def supported() -> dict[str, tuple[str, ...]]:
    """Country codes (ISO 3166-1 alpha-2) and their subdivisions, as python-holidays
    names them."""
    return {
        code: tuple(subdivisions)
        for code, subdivisions in holidays.list_supported_countries().items()
        if len(code) == 2
    }


@functools.cache
def codes() -> tuple[str, ...]:
    """Every calendar code: "CN", "US", "US-CA", "DE-BY" …"""
    return tuple(
        code
        for country, subdivisions in supported().items()
        for code in (country, *(f"{country}-{sub}" for sub in subdivisions))
    )


def split_code(code: str) -> tuple[str, str | None]:
    """("US", "CA") for "US-CA", ("CN", None) for "CN"; InvalidSchedule on the
    ``calendar`` field if python-holidays has no such country or subdivision."""
    country, _dash, subdivision = code.partition("-")
    if country not in supported() or (subdivision and subdivision not in supported()[country]):
        raise InvalidSchedule(unknown_message(code), "calendar")
    return country, subdivision or None


def close_matches(name: str, candidates: list[str] | tuple[str, ...]) -> list[str]:
    """The candidates that read like ``name`` (a typo, the wrong case)."""
    found = difflib.get_close_matches(name.upper(), [c.upper() for c in candidates], n=5)
    by_upper = {c.upper(): c for c in candidates}
    return [by_upper[match] for match in found]


def unknown_message(name: str, more: tuple[str, ...] = ()) -> str:
    matches = close_matches(name, (*codes(), *more))
    if matches:
        return _("“%(name)s” is not a known calendar. Did you mean: %(matches)s?") % {
            "name": name,
            "matches": ", ".join(matches),
        }
    return _(
        "“%(name)s” is not a known calendar. Enter a country code with an optional "
        "subdivision, such as “CN”, “US-CA” or “DE-BY”, or the name of a calendar kept in "
        "the admin."
    ) % {"name": name}


@functools.cache
def _country(country: str, subdivision: str | None) -> holidays.HolidayBase:
    # One object per code for the process: it adds each year's days the first time a date
    # of that year is asked (python-holidays' expand), and its data only changes with a
    # new release of the package.
    return holidays.country_holidays(country, subdiv=subdivision)


@dataclass(frozen=True)
class WorkingDays:
    """A country's working days (none given: every day), changed by ``days_off`` and
    ``working_days``."""

    code: str = ""
    days_off: frozenset[date] = field(default_factory=frozenset)
    working_days: frozenset[date] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        if self.code:
            split_code(self.code)

    def __call__(self, day: date, /) -> bool:
        if day in self.days_off:
            return False
        if day in self.working_days:
            return True
        if not self.code:
            return True
        return bool(_country(*split_code(self.code)).is_working_day(day))


def data_until(code: str) -> int:
    """The last year python-holidays has a country's days for. Countries that move days
    off against make-up working days (China, Vietnam, Russia …) announce them a year at a
    time, and each release of python-holidays adds the year announced: for them it is the
    last year of those announcements; for the others, the end of the rules' range."""
    days = _country(*split_code(code))
    if getattr(days, "substituted_label", None):
        announced = getattr(days, "special_public_holidays", {})
        if announced:
            return int(max(announced))
    return int(days.end_year)
