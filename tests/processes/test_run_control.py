"""A run's output and its cancellation across real processes: ``tablecron scheduler``
subprocesses (thread and process executors), Celery workers and django-tasks-db's
``db_worker``. Each cancel is timed from the request to the run's end; the figures are
printed (docs/operations.md has them)."""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import pytest

from tablecron.models import Job, JobRun
from tests.support.processes import (
    celery_env,
    celery_workers,
    child_env,
    schedulers,
    start,
    stop,
    wait_for,
)

pytestmark = pytest.mark.django_db(transaction=True)

TASKS = "tests.testapp.tablecron_jobs."


def lines_of(run: JobRun, what: str) -> int:
    return JobRun.objects.get(pk=run.pk).output.count(what)


def cancel_timed(run: JobRun, timeout: float = 20) -> tuple[JobRun, float]:
    """Cancel a running run; its end and the seconds from the request to its end."""
    wait_for(lambda: "stdout started" in JobRun.objects.get(pk=run.pk).output, 30, "its start")
    asked = time.monotonic()
    assert run.cancel(by="ops")
    wait_for(lambda: JobRun.objects.get(pk=run.pk).finished_at, timeout, "its end")
    took = time.monotonic() - asked
    run.refresh_from_db()
    return run, took


def test_two_runs_in_one_scheduler_keep_their_own_output(tmp_path: Path) -> None:
    runs = [
        Job.objects.create(name=label, task=TASKS + "chatty", args=[label, 30, 0.05]).run_now()
        for label in "ab"
    ]
    with schedulers(1, tmp_path):
        for run in runs:
            wait_for(lambda run=run: JobRun.objects.get(pk=run.pk).finished_at, 60, "the runs")
    for run, label, other in zip(runs, "ab", "ba", strict=True):
        output = JobRun.objects.get(pk=run.pk).output
        assert output.count(f"{label} out") == output.count(f"{label} log") == 30
        assert f"{other} " not in output


def test_a_scheduler_killed_mid_run_keeps_what_its_run_had_written(tmp_path: Path) -> None:
    printed = tmp_path / "printed"
    job = Job.objects.create(
        name="k", task=TASKS + "print_numbers", args=[str(printed), 6000, 0.01]
    )
    run = job.run_now()
    with schedulers(1, tmp_path) as (scheduler,):
        wait_for(lambda: lines_of(run, "stdout n ") >= 100, 60, "output written while it runs")
        os.killpg(scheduler.pid, signal.SIGKILL)
        scheduler.wait()
    kept = lines_of(run, "stdout n ")
    lost = len(printed.read_text().splitlines()) - kept
    print(f"\nkilled -9 while printing ~100 lines/s: {kept} lines kept, {lost} lost")
    # The watcher writes once a second: at most about the last second is lost.
    assert 0 <= lost <= 200
    assert JobRun.objects.get(pk=run.pk).status == "running"  # until reaped as lost


def test_cancel_stops_a_cooperative_task_on_the_thread_executor(tmp_path: Path) -> None:
    run = Job.objects.create(name="t", task=TASKS + "until_cancelled", args=[120]).run_now()
    with schedulers(1, tmp_path):
        run, took = cancel_timed(run)
    print(f"\nthread executor, sync task: cancelled in {took:.2f} s")
    assert (run.status, run.error, run.result) == ("cancelled", "Cancelled by ops.", "stopped")
    assert run.output.splitlines()[-1].endswith("stdout asked to stop")


def test_cancel_cancels_an_async_task_on_the_thread_executor(tmp_path: Path) -> None:
    run = Job.objects.create(name="a", task=TASKS + "async_until_cancelled", args=[120]).run_now()
    with schedulers(1, tmp_path):
        run, took = cancel_timed(run)
    print(f"\nthread executor, async task: cancelled in {took:.2f} s")
    assert (run.status, run.error) == ("cancelled", "Cancelled by ops.")


def test_cancel_terminates_the_process_executors_child(tmp_path: Path) -> None:
    # sleep() ignores cancel_requested(): only its process's SIGTERM stops it.
    job = Job.objects.create(name="p", task=TASKS + "print_then_sleep", args=[120])
    run = job.run_now()
    with schedulers(1, tmp_path, EXECUTOR="process"):
        run, took = cancel_timed(run)
        print(f"\nprocess executor: cancelled in {took:.2f} s")
        assert (run.status, run.error) == ("cancelled", "Cancelled by ops.")
        assert "stdout started" in run.output
        # The process goes on serving: the next run of the job runs.
        after = job.run_now()
        wait_for(lambda: JobRun.objects.get(pk=after.pk).status == "running", 30, "next run")
        after.cancel()
        wait_for(lambda: JobRun.objects.get(pk=after.pk).finished_at, 20, "its end")


def test_a_process_that_ignores_sigterm_is_killed_after_the_grace(tmp_path: Path) -> None:
    run = Job.objects.create(name="s", task=TASKS + "print_then_ignore", args=[120]).run_now()
    with schedulers(1, tmp_path, EXECUTOR="process", CANCEL_GRACE=1):
        run, took = cancel_timed(run)
    print(f"\nprocess executor, SIGTERM ignored: killed after {took:.2f} s")
    assert run.status == "cancelled"
    assert "did not stop within CANCEL_GRACE" in run.error
    assert took >= 1


def test_cancel_stops_a_celery_task_by_sigterm_to_its_thread(tmp_path: Path) -> None:
    pytest.importorskip("celery")  # the celery extra (not in the Django 5.2 suite's venv)
    env = celery_env(CANCEL_GRACE=5)
    run = Job.objects.create(name="c", task=TASKS + "print_then_sleep", args=[120]).run_now()
    with celery_workers(1, tmp_path, env, concurrency=1), schedulers(1, tmp_path, env):
        run, took = cancel_timed(run, timeout=30)
    print(f"\ncelery: cancelled in {took:.2f} s: {run.error}")
    # Stopped by SIGTERM to its pool process's main thread, not killed after CANCEL_GRACE
    # (as one run in five was while the SIGTERM came from a revoke: see _revoker).
    assert (run.status, run.error) == ("cancelled", "Cancelled by ops.")
    assert "stdout started" in run.output
    assert run.worker.startswith("celery@")


@contextmanager
def db_worker(logs: Path, env: dict[str, str]) -> Iterator[Any]:
    args = [sys.executable, "-m", "django", "db_worker", "--backend", "database",
            "--queue-name", "*", "--interval", "0.05", "--no-startup-delay"]  # fmt: skip
    proc = start(args, logs / "db-worker.log", {**env, "TABLECRON_TEST_CONN_MAX_AGE": "60"})
    try:
        yield proc
    finally:
        stop([proc])


def test_cancel_tells_a_task_on_django_tasks_db_worker(tmp_path: Path) -> None:
    pytest.importorskip("django_tasks_db")
    env = child_env(EXECUTOR="django_tasks", TASKS_BACKEND="database")
    run = Job.objects.create(name="d", task=TASKS + "until_cancelled", args=[120]).run_now()
    with ExitStack() as stack:
        stack.enter_context(db_worker(tmp_path, env))
        stack.enter_context(schedulers(1, tmp_path, env))
        run, took = cancel_timed(run, timeout=30)
    print(f"\ndjango_tasks (db_worker), cooperative: cancelled in {took:.2f} s")
    assert (run.status, run.error, run.result) == ("cancelled", "Cancelled by ops.", "stopped")
