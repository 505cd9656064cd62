"""``EXECUTOR: "django_tasks"`` on django-tasks-rq's backend, with real RQ workers
(``python -m django rqworker``, django-rq's command) on a Redis server of the test's own."""

import json
import os
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from subprocess import Popen

import pytest
from django.db import connection
from django.utils import timezone

from tablecron.models import Job, SchedulerInstance
from tests.support.processes import (
    T,
    calls,
    child_env,
    parent_of,
    redis_server,
    schedulers,
    soak,
    start,
    stop,
    wait_for,
)

pytest.importorskip("django_tasks_rq")
from tests.executors.test_django_tasks import check_ran_once_on_workers

pytestmark = [
    pytest.mark.django_db(transaction=True),
    # RQ keeps its queue in Redis; what tablecron does in the database on this path is
    # the django_tasks executor's, tried on every database with db_worker. Once, then, on
    # the suite with time to spare (the PostgreSQL suite is CI's longest).
    pytest.mark.skipif(connection.vendor != "mysql", reason="RQ: once, on MariaDB"),
]
SETTINGS = {"EXECUTOR": "django_tasks", "TASKS_BACKEND": "rq"}


@pytest.fixture
def rq_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    """The environment of schedulers and workers on a Redis of this test's own."""
    (tmp_path / "redis").mkdir()
    with redis_server(tmp_path / "redis") as server:
        yield {**child_env(**SETTINGS), "TABLECRON_TEST_RQ_URL": server.url}


@contextmanager
def rq_workers(count: int, logs: Path, env: dict[str, str]) -> Iterator[list[Popen[bytes]]]:
    """``count`` RQ workers, as django-tasks-rq's README starts them: each forks a work
    horse per task."""
    args = [sys.executable, "-m", "django", "rqworker", "--job-class", "django_tasks_rq.Job",
            "default"]  # fmt: skip
    procs = [start(args, logs / f"rq-worker-{n}.log", env) for n in range(count)]
    try:
        yield procs
    finally:
        stop(procs)


def test_every_fire_runs_exactly_once_on_rq_workers(tmp_path: Path, rq_env: dict[str, str]) -> None:
    jobs, seconds, path = 10, 8, tmp_path / "calls.log"
    with rq_workers(2, tmp_path, rq_env), schedulers(2, tmp_path, rq_env):
        wait_for(lambda: SchedulerInstance.objects.count() >= 2, 60, "schedulers")
        # A work horse per task: workers on a busy machine fall behind, and fires wait
        # their turn (max_instances 30) instead of being recorded missed.
        first, paused = soak(jobs, path, seconds, max_instances=30)
    check_ran_once_on_workers("django_tasks on RQ, exactly once", path, jobs, first, paused)


def test_a_worker_killed_mid_run_loses_it_and_the_retry_runs(
    tmp_path: Path, rq_env: dict[str, str]
) -> None:
    """kill -9 of an RQ worker that runs a job: its work horse, in a session of its own,
    runs on and keeps the run; kill -9 of the horse too, and a scheduler on this host sees
    its pid gone and ends the run lost at once; the retry runs on the other worker."""
    path = tmp_path / "calls.log"
    env = {**rq_env, "TABLECRON_SETTINGS": json.dumps({**SETTINGS, "HEARTBEAT_INTERVAL": 0.5})}
    with rq_workers(2, tmp_path, env) as workers, schedulers(1, tmp_path, env):
        wait_for(SchedulerInstance.objects.filter(role="scheduler").exists, 60, "the scheduler")
        job = Job.objects.create(
            name="slow",
            task=T + "record_and_sleep_once",
            kwargs={"path": str(path), "label": "slow", "seconds": 60},
            run_at=timezone.now(),
            max_retries=1,
            retry_delay=timedelta(0),
        )
        wait_for(lambda: calls(path), 30, "the run to start")
        horse = calls(path)[0].pid
        (worker,) = [proc for proc in workers if proc.pid == parent_of(horse)]
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait()
        # The horse (os.setsid()) outlives its worker and holds its run: not lost.
        held = SchedulerInstance.objects.get(pid=horse, role="worker")
        beat = held.heartbeat_at
        wait_for(lambda: SchedulerInstance.objects.get(pk=held.pk).heartbeat_at > beat, 10, "beat")
        assert job.runs.get().status == "running"
        os.kill(horse, signal.SIGKILL)
        killed_at = time.monotonic()
        wait_for(lambda: job.runs.filter(attempt=1, status="lost").exists(), 30, "lost")
        lost_in = time.monotonic() - killed_at
        wait_for(lambda: job.runs.filter(attempt=2, status="succeeded").exists(), 30, "retry")
    first, retry = job.runs.order_by("attempt")
    assert (first.status, retry.status, retry.trigger) == ("lost", "succeeded", "retry")
    assert first.error == f"Its worker {held.pk} stopped beating, or its process ended."
    assert lost_in < 10, f"lost after {lost_in:.1f} s"  # LOST_AFTER is 60 s
    assert [call.label for call in calls(path)] == ["slow", "slow"]  # the attempt, the retry
    assert calls(path)[1].pid != horse
