"""``ThreadExecutor``: a sync task past its timeout frees its slot, and tasks that hang
hold a bounded number of threads."""

import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from pytest_django import DjangoAssertNumQueries

from tablecron.db import db_now
from tablecron.execution import Claim
from tablecron.executors.thread import ThreadExecutor
from tablecron.models import JobRun
from tablecron.presence import beaten, still_held
from tablecron.scheduler import Scheduler
from tests.support.factories import T
from tests.support.processes import calls, wait_for
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
    before = set(threading.enumerate())
    timeout = timedelta(milliseconds=100)
    jobs = [
        due(make_job(f"hang-{n}", task=T + "sleep", args=[3], timeout=timeout)) for n in range(8)
    ]
    timed_out = JobRun.objects.filter(status="timed_out")
    peak, deadline = 0, time.monotonic() + 10
    while timed_out.count() < len(jobs) and time.monotonic() < deadline:
        scheduler.run_once()
        # The executor's threads only: the run watcher's comes and goes with the runs.
        workers = [
            t for t in set(threading.enumerate()) - before if t.name.startswith("tablecron-worker")
        ]
        peak = max(peak, len(workers))
        time.sleep(0.02)
    assert timed_out.count() == len(jobs)  # the rest waited for threads to come back
    assert peak <= 4
    assert executor.shutdown(5) == []


def test_a_claim_ended_while_its_scheduler_was_cut_off_starts_nothing(
    tmp_path: Path, django_assert_num_queries: DjangoAssertNumQueries
) -> None:
    """A scheduler that could not beat (cut off from the database) reads whether each run
    is still its own before starting it; one that beats starts its runs without a read."""
    executor, cut_off, path = ThreadExecutor(max_workers=1), "cut-off:1:a", tmp_path / "calls"
    job = make_job(task=T + "record", kwargs={"path": str(path), "label": "j"})
    now = db_now()
    lost, held = (
        JobRun.objects.create(
            job=job, scheduled_for=now + timedelta(seconds=n), status="running",
            worker=cut_off, started_at=now,
        )
        for n in (0, 1)
    )  # fmt: skip
    JobRun.objects.filter(pk=lost.pk).update(status="lost")  # by another scheduler
    claims = [Claim.of(job, r.pk, r.scheduled_for, cut_off, running=True, not_before=now)
              for r in (lost, held)]  # fmt: skip
    for claim in claims:
        executor.submit(claim)
    # The slot of the one not started is free too.
    wait_for(lambda: not executor.running_ids(), 10, "both claims to end")
    assert [c.scheduled_for for c in calls(path)] == [held.scheduled_for]
    statuses = dict(JobRun.objects.values_list("pk", "status"))
    assert (statuses[lost.pk], statuses[held.pk]) == ("lost", "succeeded")
    beaten(cut_off, time.monotonic())
    with django_assert_num_queries(0):
        assert still_held(claims[0].run_id, claims[0].worker)
    assert executor.shutdown(5) == []
