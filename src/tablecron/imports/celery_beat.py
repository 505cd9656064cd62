"""Reading django-celery-beat's ``PeriodicTask`` rows (the app must be installed).

Each schedule is read with the classes beat itself uses: a crontab row's fields come
from celery's own parser, as the sets of minutes, hours and days beat fires on.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from django_celery_beat.models import CrontabSchedule, PeriodicTask

from tablecron.exceptions import NotImportable
from tablecron.imports import Candidate, Refused, cron_field, day_fields, json_value

# Beat adds this to every project (result expiry); tablecron prunes its runs itself.
BACKEND_CLEANUP = "celery.backend_cleanup"
# Options of a PeriodicTask that only shape the Celery message: noted when set.
MESSAGE_OPTIONS = ("exchange", "routing_key", "priority", "expire_seconds")


def read() -> Iterator[Candidate | Refused]:
    tasks = PeriodicTask.objects.select_related("crontab", "interval", "clocked", "solar")
    for task in tasks.order_by("name"):
        source = f"PeriodicTask {task.name!r}"
        try:
            yield Candidate(source, *_fields(task))
        except NotImportable as exc:
            yield Refused(source, task.name, str(exc))


def _fields(task: PeriodicTask) -> tuple[dict[str, Any], list[str]]:
    if task.task == BACKEND_CLEANUP:
        raise NotImportable("celery's own result cleanup; tablecron prunes its runs itself")
    fields: dict[str, Any] = {
        "name": task.name,
        "task": task.task,
        "args": json_value(task.args, [], "args"),
        "kwargs": json_value(task.kwargs, {}, "kwargs"),
        "enabled": task.enabled,
        "description": task.description or "",
        "queue": task.queue or "",
        "start_at": task.start_time,
        "end_at": task.expires,
        "last_run_at": task.last_run_at,
    }
    notes = [
        f"{option} ({getattr(task, option)}) is not carried over"
        for option in MESSAGE_OPTIONS
        if getattr(task, option) is not None
    ]
    if (task.headers or "{}").strip() != "{}":
        notes.append("headers are not carried over")
    if task.one_off and task.clocked is None:
        raise NotImportable("a one-off crontab or interval task; give it a single run time instead")
    if task.crontab is not None:
        fields["cron"], fields["timezone"] = _crontab(task.crontab)
    elif task.interval is not None:
        fields["interval"] = timedelta(**{task.interval.period: task.interval.every})
        # Beat counts an interval from the last run (else from the start): so does the job.
        fields["start_at"] = task.last_run_at or task.start_time
        if fields["start_at"] is None:
            notes.append("never ran: the first run is one interval after the import")
    elif task.clocked is not None:
        fields["run_at"] = task.clocked.clocked_time
        fields["enabled"] = task.enabled and task.last_run_at is None  # a one-off that ran
    elif task.solar is not None:
        where = f"{float(task.solar.latitude):g}, {float(task.solar.longitude):g}"
        raise NotImportable(
            f"a solar schedule ({task.solar.event} at {where}); "
            "tablecron has no sunrise or sunset schedules"
        )
    return fields, notes


def _crontab(crontab: CrontabSchedule) -> tuple[str, str]:
    try:
        parsed = crontab.schedule  # celery's parser: sets of the values it fires on
    except ValueError as exc:
        # Beat skips such rows without a word: they never ran there either.
        raise NotImportable(f"celery cannot read its crontab ({exc}); beat never runs it") from None
    day_of_month, day_of_week = day_fields(parsed.day_of_month, parsed.day_of_week)
    fields = (
        cron_field(parsed.minute, 0, 59),
        cron_field(parsed.hour, 0, 23),
        day_of_month,
        cron_field(parsed.month_of_year, 1, 12),
        day_of_week,  # celery numbers weekdays as cron does: 0 is Sunday
    )
    return " ".join(fields), str(crontab.timezone)
