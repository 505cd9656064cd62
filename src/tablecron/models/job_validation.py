"""What ``Job.full_clean()`` checks beyond each field's validators: values Django's own
cleaning cannot take, and the rules between fields (as ``ValidationError``s on the guilty
field, worded for the person who typed them)."""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.db import models
from django.utils.dateparse import parse_duration
from django.utils.translation import gettext

from tablecron import schedules
from tablecron.conf import settings as tablecron_settings
from tablecron.exceptions import RefusedTask, TooManyRuns, UnknownTask
from tablecron.models import chain, job_rules
from tablecron.models.calendar import CALENDAR_FIELDS
from tablecron.models.run import JobRun
from tablecron.registry import RegisteredTask, tasks
from tablecron.validators import (
    check_queue_accepted,
    validate_args,
    validate_json_depth,
    validate_kwargs,
    validate_webhook_address,
)

if TYPE_CHECKING:
    from tablecron.models.job import Job

Errors = dict[str, list[str]]


def unreadable(job: Job, exclude: Collection[str] | None) -> Errors:
    """Values that break Django's own cleaning of their field, refused before it: arguments
    nested so deep that JSONField.validate() exhausts the stack serialising them, and
    durations as text beyond Python's (DurationField.to_python() overflows)."""
    errors: Errors = {}
    for field in job._meta.concrete_fields:
        value = getattr(job, field.attname)
        if field.name in (exclude or ()):
            continue
        try:
            if isinstance(field, models.JSONField):
                validate_json_depth(value)
            elif isinstance(field, models.DurationField) and isinstance(value, str):
                parse_duration(value)
        except ValidationError as exc:
            errors[field.name] = exc.messages
        except OverflowError:
            errors[field.name] = [
                gettext("Enter a duration of at most %(days)d days.")
                % {"days": schedules.MAX_DURATION.days}
            ]
    return errors


def clean(job: Job) -> None:
    """The rules between fields, for fields that are valid alone: a value refused already
    is not checked again, nor quoted back in another message."""
    errors = _nulls(job)
    if valid_alone(job, *schedules.FIELDS, *CALENDAR_FIELDS):
        try:
            job.get_schedule()
        except ValidationError as exc:
            errors.update(exc.message_dict)
    if "after" not in errors and valid_alone(job, "after"):
        errors.update(chain.after_errors(job))
    for name, messages in job_rules.bounds_broken(job).items():
        errors.setdefault(name, []).extend(messages)
    if job.notify_webhook and valid_alone(job, "notify_webhook"):
        _collect(errors, "notify_webhook", validate_webhook_address, job.notify_webhook)
    if job._renamed_in_code():
        errors["name"] = [
            gettext(
                "This job is declared in code, under this name: rename it there. "
                "(“manage.py tablecron sync” would make a new job of the old name.)"
            )
        ]
    if job.queue and valid_alone(job, "queue"):
        _collect(errors, "queue", check_queue_accepted, job.queue)
    task = _task(job, errors) if valid_alone(job, "task") else None
    if task and validate_args.is_valid(job.args) and validate_kwargs.is_valid(job.kwargs):
        try:
            task.check_arguments(job.args, job.kwargs)
        except ValidationError as exc:
            errors.update(exc.message_dict)
    if errors:
        raise ValidationError(errors)


def _collect(errors: Errors, name: str, check: Callable[[str], object], value: str) -> None:
    try:
        check(value)
    except ValidationError as exc:
        errors[name] = exc.messages


def _task(job: Job, errors: Errors) -> RegisteredTask | None:
    """The registered task the job names; else None and the reason in ``errors``."""
    try:
        return tasks.get(job.task)
    except RefusedTask as exc:
        errors["task"] = [
            gettext(
                "“%(name)s” runs whatever code or command its arguments name (it is "
                "%(gateway)s), so it is never scheduled. Choose a registered task."
            )
            % {"name": job.task, "gateway": exc.gateway}
        ]
    except UnknownTask:
        errors["task"] = [
            gettext("“%(name)s” is not a registered task. Choose one of: %(known)s.")
            % {"name": job.task, "known": ", ".join(t.name for t in tasks) or "-"}
        ]
    return None


def _nulls(job: Job) -> Errors:
    """None where the column refuses it but blank lets clean_fields() pass it."""
    return {
        field.name: [str(field.error_messages["null"])]
        for field in job._meta.concrete_fields
        if field.editable and field.blank and not field.null and not field.primary_key
        if getattr(job, field.attname) is None
    }


def valid_alone(job: Job, *names: str) -> bool:
    """True if each field ``names`` holds a value its own validation accepts."""
    for field in job._meta.concrete_fields:
        if field.name not in names:
            continue
        try:
            field.clean(getattr(job, field.attname), job)
        except (ValidationError, OverflowError):  # see unreadable()
            return False
    return True


def check_room_for_manual_run(job: Job, using: str) -> None:
    """``TooManyRuns`` if this job has ``MANUAL_RUNS_PER_JOB`` manual runs not ended."""
    limit = tablecron_settings.MANUAL_RUNS_PER_JOB
    waiting = JobRun.objects.using(using).filter(job=job).manual_waiting_or_running()
    if waiting.count() >= limit:
        raise TooManyRuns(
            gettext(
                "“%(name)s” was not run: it has %(count)d manual runs waiting or running "
                "already, the most allowed (MANUAL_RUNS_PER_JOB). Run it again when one "
                "has ended."
            )
            % {"name": job.name, "count": limit},
            job.name,
            limit,
        )


def check_run_arguments(job: Job, args: list[Any] | None, kwargs: dict[str, Any] | None) -> None:
    """Arguments for one run, validated as the job's own fields would be."""
    trial = type(job)(**{f.attname: getattr(job, f.attname) for f in job._meta.concrete_fields})
    trial.args = job.args if args is None else args
    trial.kwargs = job.kwargs if kwargs is None else kwargs
    trial.full_clean(
        exclude={f.name for f in job._meta.fields} - {"task", "args", "kwargs"},
        validate_unique=False,
        validate_constraints=False,
    )
