"""Runs handed to an executor's queue: not handed back when their scheduler dies, and
missed when no worker starts them within QUEUED_LIMIT."""

import subprocess
import sys
from datetime import timedelta

import pytest
from django.test import override_settings

from tablecron.db import db_now
from tablecron.executors.immediate import ImmediateExecutor
from tablecron.models import Job, JobRun, SchedulerInstance
from tablecron.models.scheduler import Role
from tablecron.scheduler import Scheduler
from tests.support.factories import ADD

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def job() -> Job:
    return Job.objects.create(name="j", task=ADD, args=[1, 2], interval=timedelta(hours=1))


def test_a_run_no_worker_starts_is_missed_after_the_queued_limit(job: Job) -> None:
    scheduler = Scheduler(ImmediateExecutor())
    now = db_now()
    fresh, stale = (
        JobRun.objects.create(
            job=job, scheduled_for=now - age, status="scheduled", worker="gone:1:a",
            executor="celery", queue="nobody", queued_at=now - age,
        )
        for age in (timedelta(seconds=10), timedelta(minutes=2))
    )  # fmt: skip
    with override_settings(TABLECRON={"QUEUED_LIMIT": 60}):
        assert scheduler.housekeeping.miss_unstarted(now) == 1
    fresh.refresh_from_db()
    stale.refresh_from_db()
    assert fresh.status == "scheduled"
    assert stale.status == "missed"
    assert "QUEUED_LIMIT" in stale.error


def test_a_dead_schedulers_sent_runs_stay_queued_and_its_unsent_ones_go_back(job: Job) -> None:
    scheduler = Scheduler(ImmediateExecutor())
    now = db_now()
    old = now - timedelta(minutes=10)
    SchedulerInstance.objects.create(
        pk="dead:1:a", host="elsewhere", pid=1, started_at=old, heartbeat_at=old
    )
    sent, unsent = (
        JobRun.objects.create(
            job=job, scheduled_for=old + timedelta(seconds=n), status="scheduled",
            worker="dead:1:a", executor="celery", queued_at=queued_at,
        )
        for n, queued_at in ((1, old), (2, None))
    )  # fmt: skip
    scheduler.housekeeping.reap_lost(now)
    sent.refresh_from_db()
    unsent.refresh_from_db()
    assert (sent.status, sent.worker) == ("scheduled", "dead:1:a")  # its message may run
    assert (unsent.status, unsent.worker) == ("scheduled", "")  # any scheduler takes it


def test_a_lost_run_names_what_held_it_a_worker_or_a_scheduler(job: Job) -> None:
    """A worker whose process is gone on this host is reaped at once (its pid checked),
    a scheduler elsewhere after LOST_AFTER; the run's error says which it was."""
    scheduler = Scheduler(ImmediateExecutor())
    now = db_now()
    old = now - timedelta(minutes=10)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    SchedulerInstance.objects.create(
        pk="celery@here", role=Role.WORKER, host=scheduler.host, pid=gone.pid,
        started_at=now, heartbeat_at=now,  # beat just now: only its pid tells
    )  # fmt: skip
    SchedulerInstance.objects.create(
        pk="there:1:a", host="elsewhere", pid=1, started_at=old, heartbeat_at=old
    )
    held = {
        worker: JobRun.objects.create(
            job=job, scheduled_for=old - timedelta(seconds=n), status="running",
            worker=worker, executor="celery", started_at=old,
        )
        for n, worker in enumerate(["celery@here", "there:1:a", "gone:1:a"])
    }  # fmt: skip
    assert scheduler.housekeeping.reap_lost(now) == 3
    errors = {worker: JobRun.objects.get(pk=run.pk).error for worker, run in held.items()}
    assert errors == {
        "celery@here": "Its worker celery@here stopped beating, or its process ended.",
        "there:1:a": "Its scheduler there:1:a stopped beating, or lost track of it.",
        "gone:1:a": "Its scheduler or worker gone:1:a stopped beating.",  # its row reaped
    }
