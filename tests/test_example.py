"""The example project: its sample jobs on every database, and the README's first command."""

import base64
import json
import os
import signal
import sqlite3
import subprocess
import time
import urllib.request
from contextlib import closing
from datetime import timedelta
from io import StringIO
from pathlib import Path
from urllib.parse import urlsplit

import django
import pytest
from django.core.management import call_command
from django.db import connection

from tablecron.models import Job
from tests.support import ROOT
from tests.support.factories import next_cron
from tests.support.processes import free_port


@pytest.mark.django_db
def test_seed_demo_creates_valid_jobs_with_right_next_runs() -> None:
    first, second = StringIO(), StringIO()
    call_command("seed_demo", stdout=first)
    call_command("seed_demo", stdout=second)  # idempotent
    assert first.getvalue().count("created ") == 6
    assert second.getvalue().count("updated ") == 6
    jobs = {job.name: job for job in Job.objects.all()}
    assert len(jobs) == 6
    for job in jobs.values():
        job.full_clean()
    assert jobs["weekly-cleanup"].next_run_at == next_cron("0 3 * * 1", zone="Asia/Shanghai")
    assert jobs["hourly-report"].next_run_at == next_cron("0 * * * *")
    assert jobs["manual-cleanup"].next_run_at is None
    heartbeat = jobs["heartbeat-ping"]
    assert heartbeat.next_run_at is not None
    assert heartbeat.next_run_at - heartbeat.updated_at < timedelta(seconds=31)


@pytest.mark.skipif(
    connection.vendor != "sqlite" or django.VERSION < (6,),
    reason="the example runs on SQLite with the default install; run once, in that suite",
)
def test_readme_example_command_serves_the_admin_with_scheduled_jobs(tmp_path: Path) -> None:
    port = free_port()
    database = tmp_path / "example.sqlite3"
    env = {**os.environ, "PORT": str(port), "EXAMPLE_DATABASE": str(database)}
    env.pop("DJANGO_SETTINGS_MODULE")  # the example's manage.py picks its own
    server = subprocess.Popen(
        ["bash", "scripts/example"],
        cwd=ROOT,
        env=env,
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        health = wait_for(f"http://127.0.0.1:{port}/health/", server)
        assert json.loads(health) == {"ok": True}
        login = wait_for(f"http://127.0.0.1:{port}/admin/login/", server)
        assert "Django administration" in login or "Log in" in login
        fired = wait_for_run(database, "every-10-seconds-report", server)
        api_jobs = check_api(f"http://127.0.0.1:{port}/api/")
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
        output = server.communicate(timeout=20)[0]
    assert f"Admin: http://127.0.0.1:{port}/admin/  login: admin / admin" in output
    with closing(sqlite3.connect(database)) as db:
        rows = dict(db.execute("SELECT name, next_run_at FROM tablecron_job").fetchall())
        admins = db.execute("SELECT COUNT(*) FROM auth_user WHERE is_superuser").fetchone()[0]
    assert admins == 1
    assert fired == "succeeded"  # the scheduler in the web worker fires the sample jobs
    assert len(rows) == 7  # the 6 seeded, and 1 declared in code
    assert rows["nightly-cleanup"] is not None
    assert api_jobs == set(rows)
    assert rows["manual-cleanup"] is None
    assert all(value for name, value in rows.items() if name != "manual-cleanup")


def check_api(root: str) -> set[str]:
    """The REST API answers the example's admin (HTTP Basic): the job names it lists."""
    token = base64.b64encode(b"admin:admin").decode()

    def get(url: str, accept: str = "application/json") -> str:
        headers = {"Authorization": f"Basic {token}", "Accept": accept}
        with urllib.request.urlopen(
            urllib.request.Request(url, headers=headers), timeout=10
        ) as answer:
            return str(answer.read().decode())

    assert "Django REST framework" in get(f"{root}jobs/", accept="text/html")  # browsable
    schema = json.loads(get(f"{root}schema/?format=json"))
    assert f"{urlsplit(root).path}jobs/{{id}}/run/" in schema["paths"]
    jobs = json.loads(get(f"{root}jobs/?page_size=100"))["results"]
    return {job["name"] for job in jobs}


def wait_for_run(database: Path, job: str, server: "subprocess.Popen[str]") -> str:
    """The status of the job's first finished run, waiting up to 30 s."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and server.poll() is None:
        with closing(sqlite3.connect(database)) as db:
            row = db.execute(
                "SELECT status FROM tablecron_jobrun WHERE job_name = ? AND finished_at "
                "IS NOT NULL ORDER BY id LIMIT 1",
                [job],
            ).fetchone()
        if row:
            return str(row[0])
        time.sleep(0.5)
    raise AssertionError(f"{job} did not run within 30 s")


def wait_for(url: str, server: "subprocess.Popen[str]", timeout: float = 120) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"scripts/example exited:\n{server.communicate()[0]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return str(response.read().decode())
        except OSError:
            time.sleep(0.3)
    raise AssertionError(f"{url} did not answer within {timeout} s")
