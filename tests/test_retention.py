"""Retention: runs go by age (failures kept longer) and by count per job, in batches, from
a scheduler's own thread and from ``manage.py tablecron prune``."""

import threading
from datetime import datetime, timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import override_settings

from tablecron.db import db_now
from tablecron.executors.immediate import ImmediateExecutor
from tablecron.models import Job, JobRun, RunOutput
from tablecron.retention import Pruner
from tablecron.scheduler import Scheduler
from tablecron.sql import statements
from tests.support.factories import job
from tests.support.processes import wait_for

pytestmark = pytest.mark.django_db(transaction=True)
DAY = timedelta(days=1)


def add_runs(owner: Job | None, statuses: list[str], newest: datetime, **fields: object) -> None:
    """One run per status, a second apart, the last at ``newest``."""
    start = newest - timedelta(seconds=len(statuses) - 1)
    JobRun.objects.bulk_create(
        JobRun(job=owner, job_name="j", scheduled_for=start + timedelta(seconds=n), status=status,
               **fields)
        for n, status in enumerate(statuses)
    )  # fmt: skip


def left() -> list[tuple[str, int]]:
    return sorted(JobRun.objects.values_list("status", "attempt"))


@override_settings(TABLECRON={"RUN_RETENTION": 10 * DAY, "FAILED_RUN_RETENTION": 40 * DAY})
def test_age_keeps_failures_longer_and_never_touches_active_runs() -> None:
    owner = job()
    owner.save()
    now = db_now()
    every = ["succeeded", "cancelled", "failed", "timed_out", "lost", "missed"]
    add_runs(owner, [*every, "running", "scheduled"], now - 50 * DAY)  # past both limits
    add_runs(owner, every, now - 20 * DAY)  # past RUN_RETENTION only
    add_runs(None, every, now - 5 * DAY)  # within both (of a deleted job)
    pruned = Pruner().prune(db_now())
    assert pruned.total == 6 + 2
    assert pruned.by_age == {status: 2 if status in every[:2] else 1 for status in every}
    assert JobRun.objects.filter(scheduled_for__lt=now - 45 * DAY).count() == 2  # active
    assert sorted(
        JobRun.objects.filter(scheduled_for__range=(now - 21 * DAY, now - 19 * DAY)).values_list(
            "status", flat=True
        )
    ) == sorted(every[2:])


@override_settings(TABLECRON={"RUNS_PER_JOB": 3})
def test_count_keeps_the_last_runs_of_each_job() -> None:
    first, second = job(name="first"), job(name="second")
    first.save(), second.save()
    now = db_now()
    add_runs(first, ["failed", "succeeded", "succeeded", "running", "succeeded"], now)
    # A fire and its retry share scheduled_for: the retry (attempt 2) is the newer.
    JobRun.objects.create(job=first, job_name="j", scheduled_for=now - timedelta(seconds=4),
                          status="succeeded", attempt=2)  # fmt: skip
    add_runs(second, ["succeeded"] * 2, now)  # under the limit
    add_runs(None, ["succeeded"] * 5, now)  # no job: only age prunes them
    pruned = Pruner().prune(db_now())
    assert (pruned.by_count, pruned.jobs_over_count) == (3, 1)
    kept = JobRun.objects.filter(job=first).order_by("scheduled_for", "attempt")
    assert [(r.status, r.attempt) for r in kept] == [
        ("succeeded", 1),
        ("running", 1),
        ("succeeded", 1),
    ]
    assert JobRun.objects.filter(job=second).count() == 2
    assert JobRun.objects.filter(job=None).count() == 5


@override_settings(TABLECRON={"RUN_RETENTION": DAY, "RUNS_PER_JOB": 2})
def test_a_pass_deletes_batch_after_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(statements(), "prune_batch", 4)
    owner = job()
    owner.save()
    now = db_now()
    add_runs(owner, ["succeeded"] * 11, now - 2 * DAY)
    add_runs(owner, ["failed"] * 9, now)
    pruned = Pruner().prune(db_now())
    assert (pruned.by_age["succeeded"], pruned.by_count) == (11, 7)
    assert left() == [("failed", 1)] * 2


@override_settings(TABLECRON={"RUN_RETENTION": DAY, "RUNS_PER_JOB": 2})
def test_prune_command_dry_run_counts_then_prunes() -> None:
    owner = job()
    owner.save()
    add_runs(owner, ["succeeded", "failed", "succeeded"], db_now() - 2 * DAY)
    add_runs(owner, ["succeeded"] * 4, db_now())

    out = StringIO()
    call_command("tablecron", "prune", "--dry-run", stdout=out)
    assert out.getvalue().splitlines() == [
        "By age (kept 1 day, 0:00:00, failed 1 day, 0:00:00): would delete 3 runs "
        "(2 succeeded, 1 failed).",
        "By count: would delete 5 runs beyond the last 2 of 1 jobs.",
        "Dry run: nothing was deleted.",
    ]
    assert JobRun.objects.count() == 7

    out = StringIO()
    call_command("tablecron", "prune", stdout=out)
    assert "5 runs deleted." in out.getvalue()  # 3 by age, then 2 more by count
    assert JobRun.objects.count() == 2


@override_settings(TABLECRON={"RUN_RETENTION": DAY})
def test_a_running_scheduler_prunes_from_its_own_thread() -> None:
    owner = job()
    owner.save()
    add_runs(owner, ["succeeded"] * 3, db_now() - 2 * DAY)
    scheduler = Scheduler(ImmediateExecutor())
    loop = threading.Thread(target=scheduler.run)
    loop.start()
    try:
        wait_for(lambda: not JobRun.objects.exists(), 10, "the old runs to be pruned")
    finally:
        scheduler.stop()
        loop.join(30)
    assert not loop.is_alive()
    assert scheduler._pruning is not None
    assert not scheduler._pruning.is_alive()


@override_settings(TABLECRON={"RUN_RETENTION": 10 * DAY})
def test_a_pruned_run_takes_its_output_with_it() -> None:
    owner = job()
    owner.save()
    now = db_now()
    add_runs(owner, ["succeeded", "failed"], now - 20 * DAY)
    add_runs(owner, ["succeeded"], now - DAY)
    for run in JobRun.objects.all():
        RunOutput.objects.bulk_create(
            RunOutput(run=run, offset=offset, text="x" * 10) for offset in (0, 10, 50)
        )
    assert Pruner().prune(db_now()).total == 2
    (kept,) = JobRun.objects.all()
    assert list(RunOutput.objects.values_list("run", flat=True).distinct()) == [kept.pk]


@override_settings(TABLECRON={"RUN_RETENTION": 10 * DAY})
def test_pruning_a_run_that_was_run_again_keeps_the_rerun() -> None:
    owner = job()
    owner.save()
    now = db_now()
    old = JobRun.objects.create(job=owner, scheduled_for=now - 20 * DAY, status="failed")
    older_rerun = JobRun.objects.create(
        job=owner, scheduled_for=now - 19 * DAY, status="failed", rerun_of=old
    )
    again = JobRun.objects.create(
        job=owner, scheduled_for=now, status="succeeded", rerun_of=older_rerun
    )
    assert Pruner().prune(db_now()).total == 2
    again.refresh_from_db()
    assert again.rerun_of_id is None
