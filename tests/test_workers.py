"""A live worker ends as lost the runs whose outcome it could not write (no one else
reaps the runs of a worker that beats), and only those."""

from datetime import timedelta

import pytest

from tablecron.db import db_now
from tablecron.models import Job, JobRun
from tablecron.workers import reap_unrecorded
from tests.support.factories import ADD

pytestmark = pytest.mark.django_db(transaction=True)
WORKER = "celery@host1:123:abc"


def test_a_run_left_running_by_its_live_worker_is_lost_and_retried() -> None:
    job = Job.objects.create(
        name="j", task=ADD, args=[1], interval=timedelta(hours=1), max_retries=1
    )
    now = db_now()

    def run(seconds: int, worker: str = WORKER, status: str = "running") -> JobRun:
        at = now - timedelta(seconds=seconds)
        return JobRun.objects.create(
            job=job, scheduled_for=at, status=status, worker=worker, started_at=at
        )

    # The outcome write of the first failed for good; the second is still executing.
    unrecorded, executing = run(3), run(2)
    elsewhere, ended = run(1, worker="celery@host2:9:def"), run(4, status="succeeded")
    assert reap_unrecorded(WORKER, lambda: {executing.pk}, now) == 1
    statuses = {r.pk: r.status for r in JobRun.objects.all()}
    assert statuses[unrecorded.pk] == "lost"
    assert [statuses[r.pk] for r in (executing, elsewhere, ended)] == [
        "running", "running", "succeeded"
    ]  # fmt: skip
    assert "could not record" in JobRun.objects.get(pk=unrecorded.pk).error
    retry = JobRun.objects.get(attempt=2)
    assert (retry.scheduled_for, retry.status) == (unrecorded.scheduled_for, "scheduled")
    assert reap_unrecorded(WORKER, set, now) == 1  # the other, once it too is over
