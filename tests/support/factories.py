"""Rows and times for the tests: unsaved jobs with defaults, runs of each kind, fire times."""

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.contrib.auth.models import Permission, User
from django.test import Client
from django.utils import timezone

from tablecron import schedules
from tablecron.models import Job, JobRun, RunStatus

# The test tasks' module (tests/testapp/tablecron_jobs.py): T + "sleep" names its sleep().
T = "tests.testapp.tablecron_jobs."
ADD = "tests.testapp.tablecron_jobs.add"
# Fires once a year, so the expected next run barely depends on when the test runs.
YEARLY = "0 9 1 1 *"
NEW_YEAR = "0 0 1 1 *"


def job(**fields: Any) -> Job:
    """An unsaved job with sensible defaults."""
    values: dict[str, Any] = {"name": "job", "task": ADD, "args": [1], "cron": YEARLY}
    values.update(fields)
    return Job(**values)


def next_cron(
    expression: str, zone: str = "Europe/Berlin", after: datetime | None = None
) -> datetime:
    fire = schedules.CronSchedule(expression, ZoneInfo(zone)).next_after(after or timezone.now())
    assert fire is not None
    return fire


def in_future(**delta: float) -> datetime:
    return datetime.now(UTC) + timedelta(**delta)


# Who ran the runs of runs_of_each_kind(): a scheduler, a Celery worker, and its task id.
SCHEDULER = "sched-host:11:a1b2c3"
CELERY_WORKER = "celery@host1:123:abc"
TASK_ID = "9f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5f"


def runs_of_each_kind(now: datetime) -> dict[str, JobRun]:
    """One run per way of executing, as the scheduler and the workers record them."""
    report = job(name="report", queue="reports")
    report.save()
    minutes = now - timedelta(minutes=10)

    def run(name: str, minutes_ago: int, **fields: object) -> JobRun:
        at = now - timedelta(minutes=minutes_ago)
        return JobRun.objects.create(job=report, job_name=name, scheduled_for=at, **fields)

    return {
        "thread": run(
            "by-thread", 20, executor="thread", worker=SCHEDULER, status=RunStatus.SUCCEEDED,
            queued_at=minutes, started_at=minutes, finished_at=minutes + timedelta(seconds=2),
        ),
        "celery": run(
            "by-celery", 10, executor="celery", queue="reports", worker=CELERY_WORKER,
            engine_id=TASK_ID, status=RunStatus.SUCCEEDED, queued_at=minutes,
            started_at=minutes + timedelta(seconds=5), finished_at=minutes + timedelta(seconds=95),
        ),
        "running": run(
            "by-django-tasks", 2, executor="django_tasks", worker="django_tasks@host2:77:def",
            engine_id="42", status=RunStatus.RUNNING, queued_at=now - timedelta(seconds=70),
            started_at=now - timedelta(seconds=60),
        ),
        "queued": run(
            "in-a-queue", 3, executor="celery", queue="reports", worker=SCHEDULER,
            status=RunStatus.SCHEDULED, queued_at=now - timedelta(minutes=3),
        ),
        "pending": run("not-claimed", 1, status=RunStatus.SCHEDULED),
    }  # fmt: skip


def jobs_with_history(
    count: int, now: datetime, *, runs_per_job: int = 3, fail_every: int = 7, prefix: str = "job"
) -> list[Job]:
    """``count`` cron jobs on a few dozen shared schedules, with ``runs_per_job`` runs each
    in the last day: every ``fail_every``-th run failed, the others succeeded, each one
    started a little late and ran a few seconds. Through bulk_create, in batches."""
    jobs = Job.objects.bulk_create(
        (
            job(name=f"{prefix}-{n:05d}", cron=f"{n % 60} {n % 24} * * *", timezone="UTC")
            for n in range(count)
        ),
        batch_size=1000,
    )
    runs = []
    for n, saved in enumerate(jobs):
        for r in range(runs_per_job):
            at = now - timedelta(hours=(n + r * 7) % 23 + 0.5, minutes=r)
            failed = (n * runs_per_job + r) % fail_every == 0
            runs.append(
                JobRun(
                    job=saved,
                    job_name=saved.name,
                    scheduled_for=at,
                    started_at=at + timedelta(seconds=n % 5),
                    finished_at=at + timedelta(seconds=n % 5 + 1 + r),
                    status=RunStatus.FAILED if failed else RunStatus.SUCCEEDED,
                    error="Traceback (most recent call last):\nValueError: boom" if failed else "",
                )
            )
    JobRun.objects.bulk_create(runs, batch_size=1000)
    return jobs


def signed_in[C: Client](client: C, role: str, codenames: Sequence[str] | None) -> C:
    """``client`` (Django's or DRF's) for a role of a permission matrix: anonymous where
    ``codenames`` is None, a superuser for "superuser", else a staff user holding the
    tablecron permissions ``codenames`` (e.g. ``view_job``)."""
    if codenames is None:
        return client
    if role == "superuser":
        user = User.objects.create_superuser(role)
    else:
        user = User.objects.create_user(role, is_staff=True)
        user.user_permissions.set(
            Permission.objects.filter(content_type__app_label="tablecron", codename__in=codenames)
        )
    client.force_login(user)
    return client
