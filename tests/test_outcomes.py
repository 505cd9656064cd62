"""One way a run ends: whoever ends it (its task, a timeout, the reaper of lost runs,
housekeeping, a queue's worker, a queue that refuses it, a scheduler that stops), the
run's status, its job's last status, the metrics and ``run_finished`` all follow, once."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.test import override_settings

from tablecron import metrics
from tablecron.db import db_now
from tablecron.execution import Claim
from tablecron.executors.queues import QueueExecutor
from tablecron.executors.thread import ThreadExecutor
from tablecron.models import Job, JobRun, SchedulerInstance
from tablecron.running import watcher
from tablecron.scheduler import Scheduler
from tablecron.signals import run_finished
from tablecron.workers import _miss
from tests.support.processes import wait_for
from tests.support.scheduling import due

pytestmark = pytest.mark.django_db(transaction=True)

SLEEP = "tests.testapp.tablecron_jobs.sleep"
UNTIL_CANCELLED = "tests.testapp.tablecron_jobs.until_cancelled"


@pytest.fixture
def tally() -> Iterator[metrics.Tally]:
    counted, before = metrics.Tally(), metrics.recorder
    metrics.install(counted)
    yield counted
    metrics.install(before)


@pytest.fixture
def finished() -> Iterator[list[int]]:
    ids: list[int] = []

    def receive(sender: Any, run: JobRun, **kwargs: Any) -> None:
        ids.append(run.pk)

    run_finished.connect(receive)
    yield ids
    run_finished.disconnect(receive)


def held_run(job: Job, status: str, worker: str, **fields: Any) -> JobRun:
    """A run of ``job`` claimed by ``worker``, which the job's list view shows."""
    now = db_now()
    run = JobRun.objects.create(
        job=job, job_name=job.name, scheduled_for=now - timedelta(minutes=5), status=status,
        worker=worker, not_before=now - timedelta(minutes=5), **fields,
    )  # fmt: skip
    Job.objects.filter(pk=job.pk).update(last_run_at=run.scheduled_for, last_status=status)
    return run


def lost(job: Job) -> JobRun:
    old = db_now() - timedelta(minutes=10)
    SchedulerInstance.objects.create(
        pk="dead:1:a", host="elsewhere", pid=1, started_at=old, heartbeat_at=old
    )
    run = held_run(job, "running", "dead:1:a", started_at=old)
    Scheduler(ThreadExecutor()).housekeeping.reap_lost(db_now())
    return run


def missed_in_the_queue(job: Job) -> JobRun:
    run = held_run(job, "scheduled", "gone:1:a", queued_at=db_now() - timedelta(minutes=2))
    with override_settings(TABLECRON={"QUEUED_LIMIT": 60}):
        Scheduler(ThreadExecutor()).housekeeping.miss_unstarted(db_now())
    return run


def missed_by_a_worker(job: Job) -> JobRun:
    run = held_run(job, "scheduled", "sched:1:a", queued_at=db_now())
    Job.objects.filter(pk=job.pk).update(misfire_grace=timedelta(seconds=1))
    claim = Claim.of(Job.objects.get(pk=job.pk), run.pk, run.scheduled_for, "sched:1:a")
    # What run_message() does with a message past its misfire grace (run_message itself
    # would register this test process as a worker, beating from then on).
    assert _miss(claim, db_now())
    return run


def not_sent(job: Job) -> JobRun:
    class Refusing(QueueExecutor):
        name = "refusing"

        def publish(self, claim: Claim) -> None:
            raise TypeError("not serializable")

    due(job)
    Scheduler(Refusing()).run_once()
    return JobRun.objects.get(job=job)


def cancelled_at_shutdown(job: Job) -> JobRun:
    Job.objects.filter(pk=job.pk).update(task=UNTIL_CANCELLED, args=[30])
    due(job)
    scheduler = Scheduler(ThreadExecutor())
    scheduler.run_once()
    run = JobRun.objects.get(job=job)
    with override_settings(TABLECRON={"SHUTDOWN_GRACE": 0.05}):
        scheduler.shutdown()
    # The task was told too (execution.cancel_requested()), and returned.
    wait_for(lambda: not watcher.running_ids(), 5, "the task to return")
    return run


def timed_out(job: Job) -> JobRun:
    Job.objects.filter(pk=job.pk).update(task=SLEEP, args=[1.5], timeout=timedelta(seconds=0.2))
    due(job)
    executor = ThreadExecutor()
    Scheduler(executor).run_once()
    wait_for(lambda: executor.expire(), 10, "the run's timeout")
    executor.shutdown(0)
    return JobRun.objects.get(job=job)


ENDS: dict[str, tuple[Callable[[Job], JobRun], str]] = {
    "lost": (lost, "lost"),
    "missed in the queue": (missed_in_the_queue, "missed"),
    "missed by a worker": (missed_by_a_worker, "missed"),
    "not sent": (not_sent, "failed"),
    "cancelled at shutdown": (cancelled_at_shutdown, "cancelled"),
    "timed out": (timed_out, "timed_out"),
}


@pytest.mark.parametrize("way", ENDS)
def test_every_way_a_run_ends_does_its_bookkeeping_once(
    way: str, tally: metrics.Tally, finished: list[int]
) -> None:
    end, status = ENDS[way]
    job = Job.objects.create(
        name="j", task="tests.testapp.tablecron_jobs.noop", interval=timedelta(hours=1)
    )
    run = end(job)
    run.refresh_from_db()
    job.refresh_from_db()
    assert (run.status, job.last_status) == (status, status)
    assert run.finished_at is not None
    assert finished == [run.pk]
    ended = [event for event in tally.take() if event[0] == "ended"]
    assert [(name, outcome) for _, name, outcome, _ in ended] == [("j", status)]


def test_a_waiting_run_of_a_deleted_job_is_cancelled_with_its_bookkeeping(
    tally: metrics.Tally, finished: list[int]
) -> None:
    job = Job.objects.create(name="j", task="tests.testapp.tablecron_jobs.noop")
    run = job.run_now()
    job.delete()
    Scheduler(ThreadExecutor()).run_once()
    run.refresh_from_db()
    assert (run.status, run.error) == ("cancelled", "The job was deleted.")
    assert finished == [run.pk]
    assert [event[:3] for event in tally.take()] == [["ended", "j", "cancelled"]]
