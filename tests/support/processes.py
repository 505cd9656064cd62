"""Starting real ``tablecron scheduler`` processes against the test database, and reading back
what the ``record`` task wrote."""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from django.db import connection, connections, router

from tablecron.models import Job
from tests.support import ROOT
from tests.support.factories import T

SOAK_SECONDS = float(os.environ.get("TABLECRON_SOAK_SECONDS", "30"))


def child_env(**tablecron: Any) -> dict[str, str]:
    """The environment of a process that works on this test run's database."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "TABLECRON_TEST_DB": os.environ.get("TABLECRON_TEST_DB", "sqlite"),
        "TABLECRON_DB_NAME": str(connections["default"].settings_dict["NAME"]),
        "TABLECRON_SETTINGS": json.dumps(tablecron),
        "PYTHONPATH": str(ROOT),
    }
    if "tablecron" in connections:  # the second database (TABLECRON_TEST_SECOND_DB)
        env["TABLECRON_DB2_NAME"] = str(connections["tablecron"].settings_dict["NAME"])
    return env


def start(args: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """A child process in its own process group (so that killing it kills its children
    too), writing to ``log``."""
    with open(log, "wb") as out:
        return subprocess.Popen(
            args, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


@contextmanager
def schedulers(
    count: int, logs: Path, env: dict[str, str] | None = None, **tablecron: Any
) -> Iterator[list[subprocess.Popen[bytes]]]:
    """``count`` ``tablecron scheduler`` processes; stopped with SIGTERM (then SIGKILL) on exit."""
    env = env or child_env(**tablecron)
    args = [sys.executable, "-m", "django", "tablecron", "scheduler"]
    procs = [start(args, logs / f"scheduler-{n}.log", env) for n in range(count)]
    try:
        yield procs
    finally:
        stop(procs)


def celery_env(**tablecron: Any) -> dict[str, str]:
    """A process of the Celery test project (tests/celery_project) on this test run's
    database, broker queue and TABLECRON settings (the celery executor's by default)."""
    return {
        **child_env(**{"EXECUTOR": "celery", **tablecron}),
        "DJANGO_SETTINGS_MODULE": "tests.celery_project.settings",
        "TABLECRON_TEST_QUEUE": f"tablecron-test-{os.getpid()}",
        "TABLECRON_TEST_CONN_MAX_AGE": "60",
    }


@contextmanager
def celery_workers(
    count: int, logs: Path, env: dict[str, str], concurrency: int = 2
) -> Iterator[list[subprocess.Popen[bytes]]]:
    """``count`` plain ``celery -A tests.celery_project worker`` processes (prefork)."""
    procs = [
        start(
            [sys.executable, "-m", "celery", "-A", "tests.celery_project", "worker",
             "-c", str(concurrency), "-n", f"w{n}-{os.getpid()}@%h", "-l", "INFO",
             "--without-gossip", "--without-mingle", "--without-heartbeat"],
            logs / f"worker-{n}.log",
            env,
        )
        for n in range(count)
    ]  # fmt: skip
    try:
        yield procs
    finally:
        stop(procs)


def stop(procs: list[subprocess.Popen[bytes]], timeout: float = 60) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for proc in procs:
        try:
            proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        with contextlib.suppress(ProcessLookupError):  # what it left behind (pool children)
            os.killpg(proc.pid, signal.SIGKILL)


def wait_for(condition: Callable[[], object], timeout: float, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.1)


@dataclass(frozen=True)
class Call:
    label: str
    scheduled_for: datetime
    called_at: float
    pid: int

    @property
    def lateness(self) -> float:
        return self.called_at - self.scheduled_for.timestamp()


def calls(path: Path) -> list[Call]:
    if not path.exists():
        return []
    text = path.read_text()
    result = []
    # Up to the last newline: read while tasks write, a line may be half there.
    for line in text[: text.rfind("\n") + 1].splitlines():
        label, scheduled_for, called_at, pid = line.split()
        result.append(
            Call(label, datetime.fromisoformat(scheduled_for), float(called_at), int(pid))
        )
    return result


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def every_second_jobs(
    count: int, path: Path, task: str = "record", max_instances: int = 5, **extra: object
) -> datetime:
    """Creates the jobs; returns their first fire time (the same for all: bulk_create reads
    the clock once), which is not always the second after the call began."""
    jobs = Job.objects.bulk_create(
        Job(
            name=f"every-second-{n}",
            task=T + task,
            cron="* * * * * *",
            coalesce=False,
            max_instances=max_instances,
            kwargs={"path": str(path), "label": f"every-second-{n}", **extra},
        )
        for n in range(count)
    )
    first = jobs[0].next_run_at
    assert first is not None
    return first


def expected_fires(count: int, first: datetime, until: datetime) -> set[tuple[str, datetime]]:
    """Every-second fire times from ``first`` to ``until``."""
    seconds = int((until - first).total_seconds()) + 1
    return {
        (f"every-second-{n}", first + timedelta(seconds=k))
        for n in range(count)
        for k in range(max(0, seconds))
    }


def fires(path: Path) -> set[tuple[str, datetime]]:
    """The (label, fire time) of each call recorded so far."""
    return {(call.label, call.scheduled_for) for call in calls(path)}


def next_fire(first: datetime, after: datetime) -> datetime:
    """The first fire of an every-second job firing at ``first`` that is not before ``after``."""
    return first + timedelta(seconds=math.ceil((after - first).total_seconds()))


def wait_for_fires(path: Path, wanted: set[tuple[str, datetime]], timeout: float) -> None:
    """Wait until each fire of ``wanted`` has been recorded by the task."""
    try:
        wait_for(lambda: wanted <= fires(path), timeout, f"{len(wanted)} fires to run")
    except AssertionError as timed_out:
        missing = sorted(wanted - fires(path))
        raise AssertionError(f"{timed_out}: {len(missing)} did not, {missing[:3]} …") from None


def check_exactly_once(recorded: list[Call], expected: set[tuple[str, datetime]]) -> None:
    fired = Counter((call.label, call.scheduled_for) for call in recorded)
    duplicates = {fire: n for fire, n in fired.items() if n > 1}
    missing = expected - set(fired)
    assert duplicates == {}, f"{len(duplicates)} fires ran more than once"
    if missing:
        from tablecron.models import JobRun

        first = sorted(missing)[:5]
        runs = [
            (run.job_name, run.scheduled_for, run.status, run.worker, run.error[:80])
            for label, when in first
            for run in JobRun.objects.filter(job_name=label, scheduled_for=when)
        ]
        raise AssertionError(
            f"{len(missing)} of {len(expected)} fires never ran: {first}; their runs: {runs}"
        )


def report(name: str, recorded: list[Call]) -> None:
    lateness = [call.lateness * 1000 for call in recorded]
    pids = Counter(call.pid for call in recorded)
    print(
        f"\n{name} on {connection.vendor}: {len(recorded)} calls by {len(pids)} processes "
        f"{sorted(pids.values())}, lateness p50 {percentile(lateness, 0.5):.0f} ms, "
        f"p99 {percentile(lateness, 0.99):.0f} ms"
    )


def soak(
    count: int, path: Path, seconds: float, max_instances: int = 5
) -> tuple[datetime, datetime]:
    """Create ``count`` every-second jobs, wait until each has run its first ``seconds``
    fires (however long a busy machine takes), pause them and wait for running work to
    end; returns their first fire time and the database's time of the pause."""
    from tablecron.db import db_now
    from tablecron.models import JobRun

    first = every_second_jobs(count, path, max_instances=max_instances)
    last = first + timedelta(seconds=seconds - 1)
    wait_for_fires(path, expected_fires(count, first, last), seconds + 60)
    Job.objects.update(enabled=False)
    paused = db_now()
    wait_for(lambda: not JobRun.objects.active().exists(), 30, "running work to end")
    return first, paused


@contextmanager
def gunicorn(
    workers: int, log: Path, *options: str, env: dict[str, str] | None = None, **tablecron: Any
) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """``gunicorn --workers N [options]`` serving the test project on 127.0.0.1, with
    ``tablecron`` settings (and ``env`` added to the environment); SIGTERM (then SIGKILL)
    on exit."""
    port = free_port()
    args = [sys.executable, "-m", "gunicorn", "--workers", str(workers),
            "--bind", f"127.0.0.1:{port}",
            "--no-control-socket",  # else every gunicorn shares ~/.gunicorn/gunicorn.ctl
            *options, "tests.wsgi:application"]  # fmt: skip
    proc = start(args, log, {**child_env(**tablecron), **(env or {})})
    try:
        yield proc, port
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def fetch(url: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    """GET ``url`` directly (no proxy from the environment): its status and body."""
    direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with direct.open(request, timeout=10) as response:
            return int(response.status), response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def status_of(url: str) -> int:
    return fetch(url)[0]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """A Redis of the test's own, on 127.0.0.1, that it may stop and start again: its
    append-only file keeps the queued messages across a restart, as a broker's should."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.directory = directory
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        args = ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--save", "",
                "--appendonly", "yes", "--appendfsync", "always",
                "--dir", str(self.directory)]  # fmt: skip
        self.proc = start(args, self.directory / "redis.log", dict(os.environ))
        wait_for(self._answers, 10, "redis-server to start")

    def stop(self) -> None:
        if self.proc is not None:
            stop([self.proc])
            self.proc = None

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False


@contextmanager
def redis_server(directory: Path) -> Iterator[RedisServer]:
    server = RedisServer(directory)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def parent_of(pid: int) -> int:
    """The parent process id of ``pid`` (from /proc)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[1])


def check_accounted_for(recorded: list[Call], expected: set[tuple[str, datetime]]) -> Counter[str]:
    """No fire ran twice, and each that never ran has a run saying why (missed or lost);
    returns how many ended each way."""
    from tablecron.models import JobRun

    fired = Counter((call.label, call.scheduled_for) for call in recorded)
    assert {fire: n for fire, n in fired.items() if n > 1} == {}, "fires ran more than once"
    why = {
        (name, at): (status, error)
        for name, at, status, error in JobRun.objects.filter(
            status__in=["missed", "lost"]
        ).values_list("job_name", "scheduled_for", "status", "error")
    }
    silent = sorted(fire for fire in expected - set(fired) if not why.get(fire, ("", ""))[1])
    assert silent == [], f"{len(silent)} fires neither ran nor say why: {silent[:5]}"
    return Counter("ran" if fire in fired else why[fire][0] for fire in expected)


def tablecrons_connection() -> Any:
    """This thread's connection to the database tablecron uses (its DATABASE setting)."""
    return connections[router.db_for_write(Job)]


def session_id() -> int:
    """This thread's session on tablecron's database (to kill it from another)."""
    db = tablecrons_connection()
    with db.cursor() as cursor:
        cursor.execute(
            "SELECT pg_backend_pid()" if db.vendor == "postgresql" else "SELECT CONNECTION_ID()"
        )
        return int(cursor.fetchone()[0])


def kill_session(session: int) -> None:
    """End the session ``session`` on tablecron's database from another connection, as a
    DBA or failover would."""

    def kill() -> None:
        db = tablecrons_connection()
        try:
            with db.cursor() as cursor:
                if db.vendor == "postgresql":
                    cursor.execute("SELECT pg_terminate_backend(%s)", [session])
                else:
                    cursor.execute(f"KILL {int(session)}")
        finally:
            db.close()

    thread = threading.Thread(target=kill)
    thread.start()
    thread.join()
