"""The counts of the process that executes, read from its registry: each run is counted
once, by how it ended."""

import threading
from datetime import timedelta

import pytest
from django.utils import timezone

from tablecron.executors.thread import ThreadExecutor
from tablecron.scheduler import Scheduler
from tests.support.factories import T
from tests.support.scheduling import due, make_job, runs

pytest.importorskip("prometheus_client")
from prometheus_client import REGISTRY

pytestmark = pytest.mark.django_db(transaction=True)


def fires(job_name: str, outcome: str) -> float:
    labels = {"job_name": job_name, "outcome": outcome}
    return REGISTRY.get_sample_value("tablecron_fires_total", labels) or 0.0


def test_a_run_abandoned_at_its_timeout_is_counted_once_as_timed_out() -> None:
    name = f"hang-{timezone.now().timestamp()}"  # counters live as long as the process
    executor = ThreadExecutor(max_workers=1)
    scheduler = Scheduler(executor)
    scheduler.start()
    free = executor.free_slots()
    job = due(make_job(name, task=T + "sleep", args=[0.6], timeout=timedelta(milliseconds=100)))
    scheduler.run_once()
    deadline = timezone.now() + timedelta(seconds=5)
    while executor.free_slots() < free and timezone.now() < deadline:
        scheduler.run_once()
    (run,) = runs(job)
    for thread in threading.enumerate():
        if thread.name == f"tablecron-run-{run.pk}":
            thread.join(5)  # the task returned, late: its end is not counted again
    run.refresh_from_db()
    assert run.status == "timed_out"
    assert fires(name, "timed_out") == 1
    assert fires(name, "succeeded") == 0
    assert executor.shutdown(5) == []
