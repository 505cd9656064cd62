"""The scheduler in web workers, under a real gunicorn with 4 workers: every due fire runs
exactly once.

Each worker process starts its own scheduler thread when it loads the app (no request
needed), or right after its fork under ``--preload``, where the master loads the app and
runs no scheduler; the database, not the number of schedulers, keeps each fire to one call.
"""

import base64
import importlib.util
import json
import re
import signal
import subprocess
import time
import urllib.error
import urllib.request
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User

from tablecron.claiming import LOOKAHEAD
from tablecron.db import db_now
from tablecron.models import Job, JobRun, SchedulerInstance
from tests.support.factories import T
from tests.support.processes import (
    SOAK_SECONDS,
    calls,
    check_exactly_once,
    expected_fires,
    fires,
    gunicorn,
    report,
    soak,
    status_of,
    wait_for,
)

pytestmark = pytest.mark.django_db(transaction=True)
WORKERS = 4
SOAK = max(10.0, SOAK_SECONDS / 2)  # half the exactly-once soak (tests/processes), for suite time
RECYCLING = 7  # fires of each job at least while --preload workers are recycled
ERROR_LINE = re.compile(r"^[\w.]+(?:Error|Exception): .*$", re.MULTILINE)


def answer(url: str, body: Any = None, auth: str = "") -> tuple[int, Any]:
    """(status, decoded JSON or None) of a GET, or of a POST of ``body`` as JSON; a
    request left unanswered for 30 s fails the test (a loaded CI machine, all web
    workers being recycled at once, has taken over 10 s)."""
    direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # no *_proxy env
    headers = {"Accept": "application/json"}
    if auth:
        headers["Authorization"] = "Basic " + base64.b64encode(auth.encode()).decode()
    data = None
    if body is not None:
        data, headers["Content-Type"] = json.dumps(body).encode(), "application/json"
    sent = urllib.request.Request(url, data=data, headers=headers)
    try:
        with direct.open(sent, timeout=30) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, raw = error.code, error.read()
    is_json = raw.startswith((b"{", b"["))
    return status, json.loads(raw) if is_json else None


def stop_gracefully(server: subprocess.Popen[bytes], log: Path) -> None:
    """SIGTERM: gunicorn and its workers stop, and the workers' schedulers deregister."""
    server.send_signal(signal.SIGTERM)
    try:
        server.wait(60)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"gunicorn did not stop:\n{log.read_text()}") from None
    assert server.returncode == 0, log.read_text()
    left = list(SchedulerInstance.objects.values_list("pid", flat=True))
    assert left == [], f"workers {left} did not deregister on exit:\n{log.read_text()}"


def registered() -> set[int]:
    """The process ids of the schedulers registered now."""
    return set(SchedulerInstance.objects.values_list("pid", flat=True))


def booted(pid: int) -> bool:
    """Whether gunicorn worker ``pid`` has set its own signal handlers: it catches SIGHUP
    as long as it has the master's, and leaves it to the default once it has its own."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False  # gone: not booted
    caught = re.search(r"^SigCgt:\s*([0-9a-f]+)$", status, re.MULTILINE)
    assert caught is not None, status
    return not int(caught[1], 16) & (1 << (signal.SIGHUP - 1))


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
        pids = registered()
        assert status_of(f"http://127.0.0.1:{port}/admin/login/") == 200
        first, paused = soak(jobs, path, SOAK)
        # A fifth scheduler (in the master, say) would have shown up during the soak.
        assert registered() == pids
        assert len(pids) == WORKERS
        assert server.pid not in pids, "the gunicorn master runs a scheduler"
        stop_gracefully(server, log)
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


@pytest.mark.skipif(not importlib.util.find_spec("rest_framework"), reason="needs the api extra")
def test_preload_master_runs_no_scheduler_and_recycled_workers_fire_exactly_once(
    tmp_path: Path,
) -> None:
    """``gunicorn --preload``: the master loads the app and forks the workers, re-forking
    one every few requests (``--max-requests``); jobs created over HTTP meanwhile fire
    exactly once, none in the master, and every request is answered."""
    jobs, path, log = 20, tmp_path / "calls.log", tmp_path / "gunicorn.log"
    User.objects.create_superuser("admin", password="secret")
    # The jitter, as gunicorn advises: workers recycled at different times, not all at once.
    options = ["--preload", "--max-requests", "8", "--max-requests-jitter", "4",
               "--graceful-timeout", "10"]  # fmt: skip
    with gunicorn(WORKERS, log, *options, SCHEDULER_IN_WEB_WORKERS=True) as (server, port):
        api = f"http://127.0.0.1:{port}/api/jobs/"
        wait_for(lambda: SchedulerInstance.objects.count() >= WORKERS, 60, "worker schedulers")
        firsts = {}
        for n in range(jobs):
            label = f"every-second-{n}"
            job = {"name": label, "task": T + "record", "cron": "* * * * * *",
                   "coalesce": False, "max_instances": 5,
                   "kwargs": {"path": str(path), "label": label}}  # fmt: skip
            status, created = answer(api, job, auth="admin:secret")
            assert status == 201, created
            firsts[label] = datetime.fromisoformat(created["next_run_at"])
        # Requests recycle workers while the jobs fire, until two were recycled and every
        # job ran its first RECYCLING fires.
        wanted = {(label, first + timedelta(seconds=k))
                  for label, first in firsts.items() for k in range(RECYCLING)}  # fmt: skip
        scheduler_pids: set[int] = set()
        deadline = time.monotonic() + 120
        while len(scheduler_pids) < WORKERS + 2 or not wanted <= fires(path):
            assert time.monotonic() < deadline, f"not done in 120 s: {len(scheduler_pids)} pids"
            assert answer(api, auth="admin:secret")[0] == 200
            scheduler_pids |= registered()
            time.sleep(0.2)
        Job.objects.update(enabled=False)
        paused = db_now()
        wait_for(lambda: not JobRun.objects.active().exists(), 30, "running work to end")

        # gunicorn drops a SIGTERM that reaches a worker still booting (it is handled by
        # the master's handlers, inherited), and kills that worker later: let the last
        # recycled worker boot before stopping.
        def settled() -> bool:
            pids = registered()
            return len(pids) == WORKERS and all(map(booted, pids))

        wait_for(settled, 30, "a last recycled worker to boot")
        stop_gracefully(server, log)
    recorded = calls(path)
    report(f"gunicorn --preload --workers {WORKERS} --max-requests 8 (+0-4)", recorded)
    retried_loops(log.read_text())
    assert server.pid not in scheduler_pids, "the gunicorn master runs a scheduler"
    workers = {call.pid for call in recorded}
    assert server.pid not in workers, "the gunicorn master ran jobs"
    expected = wanted | {
        (label, first + timedelta(seconds=k))
        for label, first in firsts.items()
        for k in range(int((paused - timedelta(seconds=1) - first).total_seconds()) + 1)
    }
    check_exactly_once(recorded, expected)
