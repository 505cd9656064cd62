"""``ThreadExecutor``: a sync task past its timeout frees its slot, and tasks that hang
hold a bounded number of threads."""

import threading
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from tablecron.executors.thread import ThreadExecutor
from tablecron.models import JobRun
from tablecron.scheduler import Scheduler
from tests.support.factories import T
from tests.support.scheduling import due, make_job, runs

pytestmark = pytest.mark.django_db(transaction=True)


def test_sync_task_timeout_frees_its_slot() -> None:
    executor = ThreadExecutor(max_workers=1)
    scheduler = Scheduler(executor)
    scheduler.start()
    free = executor.free_slots()
    job = due(make_job(task=T + "sleep", args=[1.5], timeout=timedelta(milliseconds=200)))
    scheduler.run_once()
    assert executor.free_slots() == free - 1
    deadline = timezone.now() + timedelta(seconds=5)
    while executor.free_slots() < free and timezone.now() < deadline:
        scheduler.run_once()
    assert executor.free_slots() == free
    (run,) = runs(job)
    assert run.status == "timed_out"
    assert "timeout" in run.error
    abandoned = [t for t in threading.enumerate() if t.name == f"tablecron-run-{run.pk}"]
    for thread in abandoned:
        thread.join(5)  # its late result must not overwrite the status
    run.refresh_from_db()
    assert (run.status, run.result) == ("timed_out", None)
    assert executor.shutdown(5) == []


def test_hanging_sync_tasks_hold_at_most_twice_max_workers_threads() -> None:
    executor = ThreadExecutor(max_workers=2)
    scheduler = Scheduler(executor)
    scheduler.start()
    before = threading.active_count()
    timeout = timedelta(milliseconds=100)
    jobs = [
        due(make_job(f"hang-{n}", task=T + "sleep", args=[3], timeout=timeout)) for n in range(8)
    ]
    timed_out = JobRun.objects.filter(status="timed_out")
    peak, deadline = 0, time.monotonic() + 10
    while timed_out.count() < len(jobs) and time.monotonic() < deadline:
        scheduler.run_once()
        peak = max(peak, threading.active_count() - before)
        time.sleep(0.02)
    assert timed_out.count() == len(jobs)  # the rest waited for threads to come back
    assert peak <= 4
    assert executor.shutdown(5) == []
