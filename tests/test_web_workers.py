"""The scheduler in web workers, under a real gunicorn with 4 workers: every due fire runs
exactly once.

Each worker process starts its own scheduler thread when it loads the app (no request
needed); the database, not the number of schedulers, keeps each fire to one call.
"""

import re
import signal
import subprocess
import time
from datetime import timedelta
from pathlib import Path

import pytest

from tablecron.claiming import LOOKAHEAD
from tablecron.models import JobRun, SchedulerInstance
from tests.support.processes import (
    SOAK_SECONDS,
    calls,
    check_exactly_once,
    expected_fires,
    gunicorn,
    report,
    soak,
    status_of,
    wait_for,
)

pytestmark = pytest.mark.django_db(transaction=True)
WORKERS = 4
SOAK = max(10.0, SOAK_SECONDS / 2)  # half the exactly-once soak (tests/processes), for suite time
ERROR_LINE = re.compile(r"^[\w.]+(?:Error|Exception): .*$", re.MULTILINE)


def retried_loops(output: str) -> None:
    """Print the scheduler loops that failed (and were retried, as designed)."""
    failed = output.count("tablecron: loop failed")
    if failed:
        errors = sorted(set(ERROR_LINE.findall(output)))
        print(f"{failed} scheduler loops failed and were retried: {errors}")


def test_schedulers_in_gunicorn_workers_fire_each_job_exactly_once(tmp_path: Path) -> None:
    jobs, path, log = 50, tmp_path / "calls.log", tmp_path / "gunicorn.log"
    with gunicorn(WORKERS, log, SCHEDULER_IN_WEB_WORKERS=True) as (server, port):

        def started() -> bool:
            if server.poll() is not None:
                raise AssertionError(f"gunicorn exited ({server.returncode}):\n{log.read_text()}")
            return SchedulerInstance.objects.count() >= WORKERS

        # Before any request: the workers start their schedulers when they load the app.
        wait_for(started, 60, f"{WORKERS} schedulers in web workers")
        time.sleep(1)  # a fifth one (from the master, say) would show up by now
        pids = set(SchedulerInstance.objects.values_list("pid", flat=True))
        assert len(pids) == SchedulerInstance.objects.count() == WORKERS
        assert server.pid not in pids, "the gunicorn master runs a scheduler"
        assert status_of(f"http://127.0.0.1:{port}/admin/login/") == 200
        first, paused = soak(jobs, path, SOAK)
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(60)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"gunicorn did not stop:\n{log.read_text()}") from None
    assert server.returncode == 0, log.read_text()
    assert not SchedulerInstance.objects.exists(), "workers did not deregister on exit"
    recorded = calls(path)
    report(f"scheduler in web workers, gunicorn --workers {WORKERS}", recorded)
    retried_loops(log.read_text())
    expected = expected_fires(jobs, first, paused - timedelta(seconds=1))
    assert len(expected) >= jobs * (SOAK - 3)
    check_exactly_once(recorded, expected)
    # A fire claimed ahead of time (LOOKAHEAD) just before the pause still runs.
    assert all(first <= call.scheduled_for <= paused + LOOKAHEAD for call in recorded)
    assert JobRun.objects.filter(status="succeeded").count() == len(recorded)
    workers = {call.pid for call in recorded}
    assert workers <= pids, "something other than the gunicorn workers ran jobs"
    assert len(workers) > 1, "one worker did all the work"
