"""A job's schedule in words, in the active language: "At 09:00, only on Monday
(Asia/Shanghai)", "Every 30 seconds", "Once at 2026-12-01 09:00:00", "Manual only".

Cron text comes from cron-descriptor, in the locale that matches Django's active language
(English when it has none), except the days when it would say what cronsim does not do:
cron-descriptor reads a restricted day of month and day of week as "either" always, where
cronsim (as Debian cron) fires on days that match both when either field starts with
``*``, and it words ``*/2`` as "every 2 days" where cronsim counts from day 1 of each
month. Those days are worded here from cronsim's own reading of the fields. Kept apart
from ``schedules.py``, which stays free of Django, so the admin and the API show the same
words.
"""

from __future__ import annotations

import calendar
import functools
import inspect
import itertools
import re
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Protocol

import babel
import cron_descriptor
from cron_descriptor import CasingTypeEnum, DescriptionTypeEnum, ExpressionDescriptor
from cronsim import CronSim
from django.utils import timezone as django_timezone
from django.utils.dates import MONTHS, WEEKDAYS
from django.utils.formats import date_format
from django.utils.text import get_text_list
from django.utils.translation import get_language, gettext, ngettext, to_locale

from tablecron import workdays
from tablecron.schedules import CRON_ALIASES

# Seconds matter to a scheduler, and an ISO-like date reads the same in every language.
TIME_FORMAT = "Y-m-d H:i:s"
FALLBACK_LOCALE = "en_US"
# cron-descriptor 2 takes its options as arguments; 1.x (django-celery-beat pins it) none.
_OPTIONS_TAKE_ARGUMENTS = "locale_code" in inspect.signature(cron_descriptor.Options).parameters
# Django language codes whose cron-descriptor locale is not their own name.
_LOCALE_ALIASES = {
    "zh_Hans": "zh_CN",
    "zh_SG": "zh_CN",
    "zh": "zh_CN",
    "zh_Hant": "zh_TW",
    "zh_HK": "zh_TW",
    "zh_MO": "zh_TW",
}


class HasSchedule(Protocol):
    """The schedule fields of a ``Job`` (or anything shaped like one)."""

    cron: str
    interval: timedelta | None
    run_at: datetime | None
    timezone: str


def describe_schedule(job: HasSchedule) -> str:
    """The job's schedule in words, in the active language, with its working days."""
    words = _describe_times(job)
    calendar = getattr(job, "calendar", "")
    if not calendar or not (job.cron or job.interval is not None or job.run_at is not None):
        return words
    return describe_calendar(
        words, calendar, getattr(job, "calendar_rule", "skip"), getattr(job, "calendar_day", None)
    )


def describe_calendar(words: str, calendar: str, rule: str, day: int | None) -> str:
    """``words`` (a schedule) kept to ``calendar``'s working days by ``rule``: "At 09:00
    (Asia/Shanghai), on working days in China"."""
    place = calendar_name(calendar)
    if rule == "nth" and day is not None:
        if day == -1:
            template = gettext(
                "%(schedule)s, only on the last working day of the month in %(place)s"
            )
        elif day < 0:
            template = gettext(
                "%(schedule)s, only on working day %(nth)d from the end of the month in %(place)s"
            )
        else:
            template = gettext(
                "%(schedule)s, only on working day %(nth)d of the month in %(place)s"
            )
        return template % {"schedule": words, "place": place, "nth": abs(day)}
    templates = {
        "next": gettext(
            "%(schedule)s, on working days in %(place)s; on a day off, the next working day"
        ),
        "previous": gettext(
            "%(schedule)s, on working days in %(place)s; on a day off, the previous working day"
        ),
    }
    template = templates.get(rule, gettext("%(schedule)s, on working days in %(place)s"))
    return template % {"schedule": words, "place": place}


def calendar_name(calendar: str) -> str:
    """A country code's country in the active language (CLDR's names, from Babel), with
    its subdivision's code: "China", "美国（CA）"; a custom calendar's name quoted."""
    country, _dash, subdivision = calendar.partition("-")
    if country not in workdays.supported():
        return gettext("“%(name)s”") % {"name": calendar}
    name = _territory(country, get_language() or "en")
    if subdivision:
        return gettext("%(country)s (%(subdivision)s)") % {
            "country": name,
            "subdivision": subdivision,
        }
    return name


@functools.lru_cache(maxsize=256)
def _territory(code: str, language: str) -> str:
    try:
        locale = babel.Locale.parse(to_locale(language))
    except (babel.UnknownLocaleError, ValueError):
        locale = babel.Locale.parse(FALLBACK_LOCALE)
    return str(locale.territories.get(code, code))


def _describe_times(job: HasSchedule) -> str:
    if job.cron:
        return gettext("%(schedule)s (%(timezone)s)") % {
            "schedule": describe_cron(job.cron),
            "timezone": job.timezone,
        }
    if job.interval is not None:
        return describe_interval(job.interval)
    if job.run_at is not None:
        return gettext("Once at %(time)s") % {"time": format_time(job.run_at)}
    upstream = getattr(job, "after", None)  # a Job's, read with it where shown in lists
    if upstream is not None:
        return gettext("After “%(name)s” succeeds") % {"name": upstream.name}
    return gettext("Manual only")


def format_time(moment: datetime) -> str:
    """``moment`` in the current time zone, to the second."""
    return date_format(django_timezone.localtime(moment), TIME_FORMAT)


def describe_interval(interval: timedelta) -> str:
    """ "Every 30 seconds", "Every 2 hours": the largest whole unit that fits."""
    seconds = interval.total_seconds()
    if seconds != int(seconds):
        return gettext("Every %(seconds)s seconds") % {"seconds": f"{seconds:g}"}
    count = int(seconds)
    if count % 86400 == 0:
        days = count // 86400
        if days == 1:
            return gettext("Every day")
        return ngettext("Every %(count)d day", "Every %(count)d days", days) % {"count": days}
    if count % 3600 == 0:
        hours = count // 3600
        if hours == 1:
            return gettext("Every hour")
        return ngettext("Every %(count)d hour", "Every %(count)d hours", hours) % {"count": hours}
    if count % 60 == 0:
        minutes = count // 60
        if minutes == 1:
            return gettext("Every minute")
        return ngettext("Every %(count)d minute", "Every %(count)d minutes", minutes) % {
            "count": minutes
        }
    if count == 1:
        return gettext("Every second")
    return ngettext("Every %(count)d second", "Every %(count)d seconds", count) % {"count": count}


def describe_cron(expression: str) -> str:
    """A cron expression in words, in the active language; the expression itself if
    cron-descriptor cannot read it."""
    return _describe_cron(expression, get_language() or "en")


@functools.lru_cache(maxsize=2048)
def _describe_cron(expression: str, language: str) -> str:
    # The cache is keyed by language: the names substituted below are translated.
    text = " ".join(expression.split())
    fields = CRON_ALIASES.get(text.lower(), text).split()
    if len(fields) == 6:
        # Ours are seconds-first; a seventh field (any year) keeps cron-descriptor from
        # reading the sixth as a year.
        fields.append("*")
    options = _options(cron_locale(language))
    try:
        described = ExpressionDescriptor(" ".join(fields), options)
        words = _with_cronsims_days(described, fields)
        if words is None:
            words = described.get_description()
    except Exception:  # an expression cronsim accepts but cron-descriptor cannot word
        return expression
    words = _translate_names(words)
    if language.startswith("zh"):
        # cron-descriptor joins clauses with ASCII commas; Chinese uses the full-width one.
        words = words.replace(", ", "\uff0c")
    return words


def _with_cronsims_days(described: ExpressionDescriptor, fields: list[str]) -> str | None:
    """The whole description with the days as cronsim fires them, where cron-descriptor's
    would mislead; None where its words are right."""
    seconds = len(fields) == 7  # (and a year, added above)
    month_days, weekdays = (fields[3], fields[5]) if seconds else (fields[2], fields[4])
    both = month_days != "*" and weekdays != "*"
    nth_in_list = "," in weekdays and ("L" in weekdays.upper() or "#" in weekdays)
    if not (both or nth_in_list or month_days.startswith("*/") or weekdays.startswith("*/")):
        return None
    cron = CronSim(" ".join(fields[:6] if seconds else fields), datetime(2000, 1, 1))
    days = _days(cron, month_days, described)
    parts = [DescriptionTypeEnum.TIMEOFDAY, DescriptionTypeEnum.MONTH, DescriptionTypeEnum.YEAR]
    time, month, year = (described.get_description(part) for part in parts)
    words = described.transform_verbosity(time + days + month + year, use_verbose_format=False)
    sentence: str = ExpressionDescriptor.transform_case(words, CasingTypeEnum.Sentence)
    return sentence


def _days(cron: CronSim, month_days: str, described: ExpressionDescriptor) -> str:
    """The days ``cron`` fires on, with the separator that leads each clause: ", on days
    1, 3, 5 … 31 of the month, if it is a Monday"."""
    weekdays = {day % 7 for day in cron.weekdays if isinstance(day, int)}
    every_day = (cron.days >= set(range(1, 32)), len(weekdays) == 7)
    if not cron.day_and and any(every_day):  # either field matches any day
        return ""
    in_month = "" if every_day[0] else _month_days(cron.days, month_days, described)
    if any(isinstance(day, tuple) for day in cron.weekdays):  # 5L, 5#2: cron-descriptor's
        if len(cron.weekdays) > 1:  # "1,5L" would read "the last Monday and Friday"
            raise ValueError("no words for a list with a last or nth weekday")
        nth = _clause(described.get_description(DescriptionTypeEnum.DAYOFWEEK))
        if not in_month:
            return f", {nth}"
        if cron.day_and:  # either field starts with "*": days that match both
            template = gettext(", %(days_of_month)s, if it is %(weekdays)s")
        else:
            template = gettext(", %(days_of_month)s, or %(weekdays)s")
        return template % {"days_of_month": in_month, "weekdays": nth}
    on = "" if every_day[1] else _weekdays(weekdays)
    if in_month and on:
        if cron.day_and:
            template = gettext(", %(days_of_month)s, if it is a %(weekdays)s")
        else:
            template = gettext(", %(days_of_month)s, or on a %(weekdays)s")
        return template % {"days_of_month": in_month, "weekdays": on}
    if on:
        return gettext(", only on %(weekdays)s") % {"weekdays": on}
    return f", {in_month}" if in_month else ""


def _clause(words: str) -> str:
    """One of cron-descriptor's clauses without the separator that leads it."""
    return re.sub(r"^[,，、\s]+", "", words).strip()


def _month_days(days: set[int], field: str, described: ExpressionDescriptor) -> str:
    """Some days of the month in words: cron-descriptor's, except for a field that starts
    with "*" ("*/2"), which cronsim counts from day 1 of each month."""
    if not field.startswith("*"):
        return _clause(described.get_description(DescriptionTypeEnum.DAYOFMONTH))
    numbers = sorted(days)
    steps = {later - earlier for earlier, later in itertools.pairwise(numbers)}
    if len(numbers) > 5 and len(steps) == 1:  # 1, 3, 5 … 31
        listed = f"{numbers[0]}, {numbers[1]}, {numbers[2]} … {numbers[-1]}"
    else:
        listed = get_text_list([str(number) for number in numbers], gettext("and"))
    return ngettext(
        "on day %(days)s of the month", "on days %(days)s of the month", len(numbers)
    ) % {"days": listed}


def _weekdays(days: set[int]) -> str:
    """Cron's weekdays (0 = Sunday) by name, Monday first."""
    names = [str(WEEKDAYS[(day - 1) % 7]) for day in sorted(days, key=lambda day: (day - 1) % 7)]
    return get_text_list(names)  # "Monday, Wednesday or Friday", in Django's words


def _options(locale_code: str) -> cron_descriptor.Options:
    """cron-descriptor's options for ``locale_code``, in 24-hour time. 2.x takes them as
    arguments (and warns when it must guess the locale); 1.x, which django-celery-beat
    pins, takes none: they are set on the object."""
    if _OPTIONS_TAKE_ARGUMENTS:
        return cron_descriptor.Options(locale_code=locale_code, use_24hour_time_format=True)
    options = cron_descriptor.Options()
    options.locale_code = locale_code
    options.use_24hour_time_format = True
    return options


def cron_locale(language: str) -> str:
    """cron-descriptor's locale for a Django language code: zh-hans → zh_CN, de → de_DE."""
    name = to_locale(language)
    name = _LOCALE_ALIASES.get(name, name)
    available = _cron_locales()
    return available.get(name) or available.get(name.split("_")[0].lower(), FALLBACK_LOCALE)


@functools.cache
def _cron_locales() -> dict[str, str]:
    """Every locale cron-descriptor ships, by full name and by language ("de" → "de_DE"),
    the first in name order standing for its language."""
    folder = Path(cron_descriptor.__file__).parent / "locale"
    names = sorted(path.stem for path in folder.glob("*.mo"))
    by_language: dict[str, str] = {}
    for name in names:
        by_language.setdefault(name.split("_")[0].lower(), name)
    by_language.setdefault("en", FALLBACK_LOCALE)
    return {**by_language, **{name: name for name in names}}


def _translate_names(words: str) -> str:
    """cron-descriptor takes day and month names from the C library's locale (English here);
    put Django's translations in their place."""
    names = {calendar.day_name[day]: str(WEEKDAYS[day]) for day in range(7)}
    for month in range(1, 13):
        names[date(2000, month, 1).strftime("%B")] = str(MONTHS[month])
    pattern = re.compile(r"\b(" + "|".join(sorted(names, key=len, reverse=True)) + r")\b")
    return pattern.sub(lambda match: names[match.group(1)], words)
