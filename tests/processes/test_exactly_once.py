"""Real ``tablecron scheduler`` processes on the real database: every due fire runs exactly once.

The tasks write each call to a file (with the fire time they were run for); the checks
compare that file with the fire times computed from the schedules, not with the JobRun
table alone.
"""

import os
import signal
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection

from tablecron.claiming import LOOKAHEAD
from tablecron.db import db_now
from tablecron.models import Job, JobRun, SchedulerInstance
from tablecron.models.run import ACTIVE
from tests.support.processes import (
    SOAK_SECONDS,
    calls,
    check_accounted_for,
    check_exactly_once,
    every_second_jobs,
    expected_fires,
    next_fire,
    report,
    schedulers,
    soak,
    wait_for,
    wait_for_fires,
)

pytestmark = pytest.mark.django_db(transaction=True)
COPIES = 2 if connection.vendor == "sqlite" else 3


def test_every_fire_runs_exactly_once_across_schedulers(tmp_path: Path) -> None:
    jobs, path = 100, tmp_path / "calls.log"
    with schedulers(COPIES, tmp_path) as procs:
        wait_for(lambda: SchedulerInstance.objects.count() == COPIES, 60, "schedulers")
        first, paused = soak(jobs, path, SOAK_SECONDS)
    assert [proc.returncode for proc in procs] == [0] * COPIES
    recorded = calls(path)
    report("exactly once", recorded)
    expected = expected_fires(jobs, first, paused - timedelta(seconds=1))
    assert len(expected) >= jobs * (SOAK_SECONDS - 3)
    check_exactly_once(recorded, expected)
    # A fire claimed ahead of time (LOOKAHEAD) just before the pause still runs.
    assert all(first <= call.scheduled_for <= paused + LOOKAHEAD for call in recorded)
    assert JobRun.objects.filter(status="succeeded").count() == len(recorded)
    if COPIES > 2:
        assert len({call.pid for call in recorded}) > 1, "one scheduler did all the work"


def test_a_killed_scheduler_loses_its_runs_and_the_others_keep_every_schedule(
    tmp_path: Path,
) -> None:
    jobs, path, lost_after = 10, tmp_path / "calls.log", 3.0
    settings = {"LOST_AFTER": lost_after, "HEARTBEAT_INTERVAL": 0.5, "MAX_WORKERS": 30}
    with schedulers(COPIES, tmp_path, **settings) as procs:
        wait_for(lambda: SchedulerInstance.objects.count() == COPIES, 60, "schedulers")
        # Runs last 3 s, and the victim's count as active until reaped: room for all of them.
        first = every_second_jobs(jobs, path, task="record_and_sleep", max_instances=20, seconds=3)
        victim = procs[0]
        victim_id = SchedulerInstance.objects.get(pid=victim.pid).pk
        in_flight = JobRun.objects.filter(worker=victim_id, status="running")
        wait_for(in_flight.exists, 30, "the victim to run something")
        doomed = set(in_flight.values_list("pk", flat=True))  # each has ~3 s left to run
        os.kill(victim.pid, signal.SIGKILL)
        killed = time.monotonic()
        leftovers = JobRun.objects.filter(worker=victim_id, status__in=ACTIVE)
        wait_for(lambda: not leftovers.exists(), lost_after + 15, "the victim's runs to end")
        ended_after = time.monotonic() - killed
        # The others keep every schedule: each job runs its next 5 fires, on them.
        since = next_fire(first, db_now() + timedelta(seconds=1))
        after = expected_fires(jobs, since, since + timedelta(seconds=4))
        wait_for_fires(path, after, 60)
        Job.objects.update(enabled=False)
        paused = db_now()
        wait_for(lambda: not JobRun.objects.active().exists(), 30, "running work to end")
    print(
        f"\nthe killed scheduler's runs ended {ended_after:.1f} s after the kill "
        f"(LOST_AFTER = {lost_after} s)"
    )
    assert ended_after <= lost_after + 3
    assert doomed
    lost = set(JobRun.objects.filter(status="lost").values_list("pk", flat=True))
    assert doomed <= lost
    assert [proc.returncode for proc in procs[1:]] == [0] * (COPIES - 1)
    recorded = calls(path)
    report("kill -9", recorded)
    # The killed scheduler's runs may have died before their task wrote its line: those
    # are the lost ones, which are not retried (max_retries = 0). Every other fire ran.
    lost = set(JobRun.objects.filter(status="lost").values_list("job_name", "scheduled_for"))
    expected = expected_fires(jobs, first, paused - timedelta(seconds=2)) - lost
    check_exactly_once(recorded, expected)


def test_bulk_updates_of_jobs_meet_no_deadlock_with_busy_schedulers(tmp_path: Path) -> None:
    """A person pausing or editing many jobs at once while schedulers claim and finish
    their runs: no deadlock on either side, and every fire runs once or says why not.
    Outcomes are written in batches, which lock their rows without waiting; a bulk UPDATE
    locks rows in its own order. How many runs a second get through is for the benches."""
    jobs, path = 300, tmp_path / "calls.log"
    with schedulers(2, tmp_path) as procs:
        wait_for(lambda: SchedulerInstance.objects.count() == 2, 60, "schedulers")
        first = every_second_jobs(jobs, path)
        last = first + timedelta(seconds=7)
        behind = Job.objects.filter(next_run_at__lte=last)
        # Edits go on until the schedulers have claimed each job's first 8 fires: a
        # deadlock stops them, and the deadline fails the test.
        updates, deadline = 0, time.monotonic() + 120
        while behind.exists():  # a DatabaseError here fails the test
            assert time.monotonic() < deadline, "the schedulers stopped claiming"
            Job.objects.update(description=f"edit {updates}")
            updates += 1
            # Many edits a second, not back to back: each is audited (a log entry a job),
            # and on SQLite one that never paused would hold the only write lock throughout.
            time.sleep(0.02)
        Job.objects.update(enabled=False)
        wait_for(lambda: not JobRun.objects.active().exists(), 30, "running work to end")
    assert [proc.returncode for proc in procs] == [0, 0]
    logs = "".join(log.read_text() for log in tmp_path.glob("scheduler-*.log"))
    assert "deadlock" not in logs.lower()
    assert "Traceback" not in logs
    recorded = calls(path)
    outcomes = check_accounted_for(recorded, expected_fires(jobs, first, last))
    print(f"\n{updates} bulk updates of {jobs} jobs beside {len(recorded)} runs: {dict(outcomes)}")
    assert updates > 0
