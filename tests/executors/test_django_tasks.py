"""``EXECUTOR: "django_tasks"`` on django-tasks-db's backend, with real ``db_worker``s."""

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from subprocess import Popen
from typing import Any

import pytest
from django.conf import settings
from django.db import transaction
from django.test import override_settings

from tablecron.claiming import Claimer
from tablecron.models import Job, JobRun, SchedulerInstance
from tests.support.factories import ADD
from tests.support.processes import (
    calls,
    check_exactly_once,
    child_env,
    expected_fires,
    report,
    schedulers,
    soak,
    start,
    stop,
    wait_for,
)

pytest.importorskip("django_tasks_db")
from django_tasks_db.models import DBTaskResult

from tablecron.executors.django_tasks import DjangoTasksExecutor

pytestmark = pytest.mark.django_db(transaction=True)
SETTINGS = {"EXECUTOR": "django_tasks", "TASKS_BACKEND": "database"}


@contextmanager
def db_workers(count: int, logs: Path, env: dict[str, str]) -> Iterator[list[Popen[bytes]]]:
    """``count`` django-tasks-db ``db_worker`` processes."""
    args = [sys.executable, "-m", "django", "db_worker", "--backend", "database",
            "--queue-name", "*", "--interval", "0.05", "--no-startup-delay"]  # fmt: skip
    env = {**env, "TABLECRON_TEST_CONN_MAX_AGE": "60"}  # else a new connection each task
    procs = [start(args, logs / f"db-worker-{n}.log", env) for n in range(count)]
    try:
        yield procs
    finally:
        stop(procs)


def due_jobs(count: int) -> None:
    for n in range(count):
        job = Job.objects.create(name=f"j{n}", task=ADD, args=[1, 2], interval=timedelta(hours=1))
        Job.objects.filter(pk=job.pk).update(next_run_at=job.next_run_at - timedelta(hours=2))


@pytest.mark.skipif(
    "tablecron" in settings.DATABASES, reason="the queue is on another database than tablecron"
)
@override_settings(TABLECRON=SETTINGS)
def test_the_queue_in_the_same_database_is_written_in_the_claims_transaction() -> None:
    executor = DjangoTasksExecutor()
    assert executor.submits_in_claim
    due_jobs(3)

    def claim_then_roll_back() -> None:
        with transaction.atomic():
            assert len(Claimer("s1", executor).claim(10)) == 3
            assert DBTaskResult.objects.count() == 3
            raise RuntimeError

    with pytest.raises(RuntimeError):
        claim_then_roll_back()
    assert (DBTaskResult.objects.count(), JobRun.objects.count()) == (0, 0)
    claims = Claimer("s1", executor).claim(10)  # one that commits
    assert len(claims) == DBTaskResult.objects.count() == 3
    queued = JobRun.objects.filter(status="scheduled", queued_at__isnull=False)
    assert queued.count() == 3


def test_every_fire_runs_exactly_once_on_db_workers(tmp_path: Path) -> None:
    jobs, seconds, path = 20, 10, tmp_path / "calls.log"
    env = child_env(**SETTINGS)
    with db_workers(2, tmp_path, env), schedulers(2, tmp_path, env):
        wait_for(lambda: SchedulerInstance.objects.count() >= 2, 60, "schedulers")
        # Workers on a busy machine may fall seconds behind: fires then wait their turn
        # (max_instances 30) instead of being recorded missed; this is about exactly once.
        first, paused = soak(jobs, path, seconds, max_instances=30)
    recorded = check_ran_once_on_workers("django_tasks, exactly once", path, jobs, first, paused)
    assert len({call.pid for call in recorded}) == 2, "both workers ran jobs"


def check_ran_once_on_workers(
    label: str, path: Path, jobs: int, first: datetime, paused: datetime
) -> list[Any]:
    """Each fire of the soak's window ran once, each run on a django_tasks worker;
    returns the calls recorded."""
    recorded = calls(path)
    report(label, recorded)
    check_exactly_once(recorded, expected_fires(jobs, first, paused - timedelta(seconds=1)))
    ran = JobRun.objects.filter(status="succeeded")
    assert ran.count() == len(recorded)
    assert set(ran.values_list("executor", flat=True)) == {"django_tasks"}
    assert all(run.worker.startswith("django_tasks@") and run.engine_id for run in ran)
    return recorded


ONE_QUEUE = {
    **settings.TASKS,
    "database": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default", "reports"]},
}


@pytest.mark.skipif(
    "tablecron" in settings.DATABASES, reason="the queue is on another database than tablecron"
)
@override_settings(TABLECRON=SETTINGS, TASKS=ONE_QUEUE)
def test_a_job_whose_queue_the_backend_refuses_fails_alone_and_the_loop_goes_on() -> None:
    from tablecron.scheduler import Scheduler

    due_jobs(2)
    Job.objects.filter(name="j0").update(queue="nowhere")  # update() skips validation
    Scheduler(DjangoTasksExecutor()).run_once()
    refused = JobRun.objects.get(job__name="j0", status="failed")
    assert "could not be sent to django_tasks" in refused.error
    assert "nowhere" in refused.error
    assert Job.objects.get(name="j0").last_status == "failed"
    sent = JobRun.objects.filter(job__name="j1", status="scheduled", queued_at__isnull=False)
    assert sent.count() == DBTaskResult.objects.count() == 1


@pytest.mark.skipif(
    "tablecron" in settings.DATABASES, reason="TABLECRON is replaced whole: no DATABASE key"
)
@override_settings(TABLECRON=SETTINGS, TASKS=ONE_QUEUE)
def test_a_queue_the_backend_does_not_accept_is_a_field_error() -> None:
    from django.core.exceptions import ValidationError

    job = Job(name="q", task=ADD, args=[1], queue="nowhere", interval=timedelta(hours=1))
    with pytest.raises(ValidationError) as refused:
        job.full_clean()
    assert refused.value.message_dict == {
        "queue": [
            "“nowhere” is not a queue of the executor's backend. Choose one of: default, reports."
        ]
    }
    job.queue = "reports"
    job.full_clean()
    with override_settings(TABLECRON={"EXECUTOR": "thread"}):  # no list of queues: any
        Job(name="q2", task=ADD, args=[1], queue="nowhere").full_clean()
