"""Jobs for driving a ``Scheduler`` in-process: saved, made due at once, and their runs."""

from datetime import timedelta
from typing import Any

from django.db import models

from tablecron.db import db_now
from tablecron.models import Job, JobRun
from tests.support.factories import ADD


def make_job(name: str = "j", task: str = ADD, **fields: Any) -> Job:
    fields.setdefault("args", [1, 2] if task == ADD else [])
    fields.setdefault("interval", timedelta(hours=1))
    return Job.objects.create(name=name, task=task, **fields)


def due(job: Job, ago: timedelta = timedelta(seconds=1)) -> Job:
    """Make the job due as if its next fire time had come ``ago``."""
    models.QuerySet(Job).filter(pk=job.pk).update(next_run_at=db_now() - ago)
    job.refresh_from_db()
    return job


def runs(job: Job) -> list[JobRun]:
    return list(JobRun.objects.filter(job=job).order_by("scheduled_for", "attempt"))
