"""A concurrency group's limit holds across real processes (issue 18, part 3): two
schedulers with the thread executor, and two Celery workers, each with every-second jobs
of one group of limit 1 that overlap (each run takes longer than a second's share).

Checked from the start and end of every run: no two runs of the group overlap; every
fire ran at most once (the task's own record); fires that could not get the slot in
time waited, visibly, and ended missed, saying why.
"""

import itertools
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest

from tablecron.models import ConcurrencyGroup, Job, JobRun, SchedulerInstance
from tests.support.processes import (
    T,
    calls,
    celery_env,
    celery_workers,
    child_env,
    parent_of,
    report,
    schedulers,
    wait_for,
)

pytestmark = pytest.mark.django_db(transaction=True)

JOBS = 3
RUN_SECONDS = 0.4  # three jobs a second, 0.4 s each: more than one slot can serve
RUNS = 8  # successes to wait for
GRACE = timedelta(seconds=3)


def grouped_jobs(path: Path) -> None:
    """Every-second jobs of the group "warehouse", which has no row yet (bulk_create
    saves none): the first claim makes it, of limit 1."""
    Job.objects.bulk_create(
        Job(
            name=f"grouped-{n}",
            task=T + "record_and_sleep",
            cron="* * * * * *",
            concurrency_group="warehouse",
            misfire_grace=GRACE,
            kwargs={"path": str(path), "label": f"grouped-{n}", "seconds": RUN_SECONDS},
        )
        for n in range(JOBS)
    )


def run_and_stop(path: Path) -> None:
    grouped_jobs(path)
    done = JobRun.objects.filter(status="succeeded")
    wait_for(lambda: done.count() >= RUNS, 120, f"{RUNS} runs of the group to succeed")
    Job.objects.update(enabled=False)
    wait_for(lambda: not JobRun.objects.active().exists(), 60, "the group's runs to end")


def check_one_at_a_time(path: Path) -> list[JobRun]:
    """No two runs overlap, by their start and end; each fire ran at most once."""
    assert ConcurrencyGroup.objects.get(name="warehouse").limit == 1
    ran = list(JobRun.objects.filter(started_at__isnull=False).order_by("started_at"))
    assert len(ran) >= RUNS
    for before, after in itertools.pairwise(ran):
        assert before.finished_at is not None
        assert after.started_at is not None
        assert before.finished_at <= after.started_at, (
            f"{before.job_name} ran {before.started_at} to {before.finished_at}, "
            f"{after.job_name} started {after.started_at}"
        )
    assert {run.concurrency_group for run in ran} == {"warehouse"}
    recorded = calls(path)
    report("a group of one", recorded)
    fired = Counter((call.label, call.scheduled_for) for call in recorded)
    assert max(fired.values()) == 1
    assert len(recorded) == len(ran)
    # The group was full at times: fires waited (and some, past their grace, were missed).
    assert JobRun.objects.filter(waiting_since__isnull=False).exists()
    for run in JobRun.objects.filter(status="missed", waiting_since__isnull=False):
        assert run.error.startswith("It waited for group warehouse longer than")
    return ran


def test_a_group_of_one_holds_across_two_schedulers(tmp_path: Path) -> None:
    path = tmp_path / "calls.log"
    env = child_env(POLL_INTERVAL=0.1)
    with schedulers(2, tmp_path, env):
        wait_for(lambda: SchedulerInstance.objects.count() >= 2, 60, "schedulers")
        run_and_stop(path)
    ran = check_one_at_a_time(path)
    assert len({run.worker for run in ran}) == 2, "one scheduler took every run"


def test_a_group_of_one_holds_across_two_celery_workers(tmp_path: Path) -> None:
    pytest.importorskip("celery")
    path = tmp_path / "calls.log"
    env = celery_env(POLL_INTERVAL=0.1)
    with celery_workers(2, tmp_path, env) as workers, schedulers(2, tmp_path, env):
        wait_for(lambda: SchedulerInstance.objects.count() >= 2, 60, "schedulers")
        run_and_stop(path)
        # Read while they run: each call's process is a child of one of the two workers.
        by_worker = Counter(parent_of(call.pid) for call in calls(path))
    ran = check_one_at_a_time(path)
    assert {run.executor for run in ran} == {"celery"}
    assert set(by_worker) == {worker.pid for worker in workers}, f"by worker: {by_worker}"
