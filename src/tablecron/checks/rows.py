"""System checks of the jobs' rows (Tags.database: run where databases are checked):
tasks this process does not know, calendars without the coming months' data."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

from django.apps import AppConfig
from django.core.checks import CheckMessage, Warning
from django.db import DatabaseError

from tablecron.conf import settings
from tablecron.exceptions import InvalidSchedule


def check_unknown_tasks(
    app_configs: Sequence[AppConfig] | None,
    databases: Sequence[str] | None = None,
    **kwargs: Any,
) -> list[CheckMessage]:
    """Rows whose task this process does not know (old deploy, removed code)."""
    from tablecron.models import Job
    from tablecron.registry import tasks

    messages: list[CheckMessage] = []
    for alias in set(databases or ()) & {settings.DATABASE}:
        try:
            names = set(Job.objects.using(alias).values_list("task", flat=True).distinct())
        except DatabaseError:  # not migrated yet
            continue
        unknown = sorted(name for name in names if name not in tasks)
        if unknown:
            messages.append(
                Warning(
                    f"Jobs in database {alias!r} name tasks this process does not know: "
                    f"{', '.join(unknown)}. They are not run.",
                    hint="Deploy the code that registers them, or edit or delete those jobs.",
                    id="tablecron.W002",
                )
            )
    return messages


# How far ahead a job's calendar must have python-holidays' data (W010).
CALENDAR_NOTICE = timedelta(days=92)


def check_calendar_data(
    app_configs: Sequence[AppConfig] | None,
    databases: Sequence[str] | None = None,
    **kwargs: Any,
) -> list[CheckMessage]:
    """Calendars of enabled jobs whose country python-holidays has no days for in the
    coming months: China and the other countries that announce make-up working days a
    year at a time get them with each release of python-holidays."""
    from tablecron.models import Calendar, Job
    from tablecron.workdays import data_until

    messages: list[CheckMessage] = []
    needed = (date.today() + CALENDAR_NOTICE).year
    for alias in set(databases or ()) & {settings.DATABASE}:
        try:
            names = set(
                Job.objects.using(alias).filter(enabled=True).exclude(calendar="")
                .values_list("calendar", flat=True).distinct()
            )  # fmt: skip
            custom = dict(
                Calendar.objects.using(alias).filter(name__in=names).values_list("name", "country")
            )
        except DatabaseError:  # not migrated yet
            continue
        for name in sorted(names):
            country = custom.get(name, name)
            try:
                last = data_until(country) if country else needed
            except InvalidSchedule:  # not a country: the job's own validation says so
                continue
            if last < needed:
                messages.append(
                    Warning(
                        f"The calendar {name!r} of jobs in database {alias!r} has no "
                        f"python-holidays data for {country} after {last}: their fires "
                        f"from {last + 1} on ignore its make-up working days and moved days off.",
                        hint="Upgrade python-holidays (pip install -U holidays) to a release "
                        "with the coming year's days, then restart the schedulers.",
                        id="tablecron.W010",
                    )
                )
    return messages
