"""Chaos soak: real ``tablecron scheduler`` processes under faults; every due fire accounted for.

Three schedulers (``--schedulers``) and 300 every-second jobs (``--jobs``, the task
``tests.testapp.tablecron_jobs.record``, which appends a line per call to a file) for
``--seconds``, while at random moments one scheduler is killed with SIGKILL and started
again a moment later, or every connection to the database is killed
(``pg_terminate_backend``; on MariaDB ``KILL``), and once, half way, the database server
itself crashes (``pg_ctl stop -m immediate``) and comes back after ``--outage`` seconds.
The first scheduler is never killed: its memory (RSS) is followed throughout. The
last 10 s are quiet, so that every scheduler is up when the jobs are paused. With
``--executor celery`` or ``django_tasks`` the runs go through Celery (Redis) or
django-tasks-db to ``--workers`` worker processes, started again when they exit.

Afterwards, from the task's file and the ``JobRun`` table: every due fire of the window
ran exactly once or has a run saying why not (``lost``, ``missed``); duplicates, fires
silently absent and runs left active are counted, and the exit status is 1 if any.

    .venv/bin/python bench/chaos.py                  # own PostgreSQL cluster (run as root)
    .venv/bin/python bench/chaos.py --db mariadb     # 127.0.0.1:3306; no server restart

PostgreSQL: a cluster of its own (bench/cluster.py, initdb in a temporary directory, on
a free port), so that it may be crashed. MariaDB: a database of its own on the shared
server, which is never restarted. Bounded: about ``--seconds`` + 60 s in all.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from cluster import Cluster

QUIET = 10  # seconds at the end of the window without faults: all schedulers are up
EXECUTORS: dict[str, dict[str, str]] = {
    "thread": {},
    "django_tasks": {"EXECUTOR": "django_tasks", "TASKS_BACKEND": "database"},
    "celery": {"EXECUTOR": "celery"},
}
SETTINGS = {"HEARTBEAT_INTERVAL": 1, "LOST_AFTER": 5, "POLL_INTERVAL": 0.5}


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", choices=("postgres", "mariadb"), default="postgres")
    parser.add_argument("--seconds", type=int, default=150, help="the window of chaos")
    parser.add_argument("--jobs", type=int, default=300)
    parser.add_argument("--schedulers", type=int, default=3)
    parser.add_argument("--outage", type=float, default=3.0, help="seconds the database is down")
    parser.add_argument("--every", type=float, default=6.0, help="mean seconds between faults")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--calm", action="store_true", help="no faults: a baseline")
    parser.add_argument(
        "--executor", choices=tuple(EXECUTORS), default="thread",
        help="django_tasks: runs go through django-tasks-db to --workers db_worker "
        "processes; celery: through Redis (127.0.0.1:6379/15) to Celery workers",
    )  # fmt: skip
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--celery-runs-per-message", type=int, default=1,
        help="TABLECRON's CELERY_RUNS_PER_MESSAGE, with --executor celery",
    )  # fmt: skip
    parser.add_argument("--logs", type=Path, default=None)
    return parser.parse_args()


def main() -> int:
    opts = parse()
    seed = opts.seed if opts.seed is not None else random.randrange(1 << 30)
    rng = random.Random(seed)
    logs = opts.logs or Path(tempfile.mkdtemp(prefix="tablecron-chaos-"))
    logs.mkdir(parents=True, exist_ok=True)
    os.environ["TABLECRON_TEST_DB"] = opts.db
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"
    name = f"chaos_{os.getpid()}"
    os.environ["TABLECRON_DB_NAME"] = name
    cluster = None
    if opts.db == "postgres":
        cluster = Cluster()
        cluster.start()
        cluster.create_database(name)
        os.environ.update(cluster.env())
    else:
        import MySQLdb

        server = MySQLdb.connect(host="127.0.0.1", user="root")
        server.cursor().execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
        server.close()
    print(
        f"chaos on {opts.db}: {opts.schedulers} schedulers, {opts.jobs} every-second jobs, "
        f"{opts.seconds} s, seed {seed}; logs in {logs}",
        flush=True,
    )
    try:
        return Soak(opts, rng, logs, cluster, name).run()
    finally:
        if cluster is not None:
            cluster.remove()
        else:
            import MySQLdb

            server = MySQLdb.connect(host="127.0.0.1", user="root")
            server.cursor().execute(f"DROP DATABASE IF EXISTS `{name}`")
            server.close()


class Soak:
    def __init__(
        self,
        opts: argparse.Namespace,
        rng: random.Random,
        logs: Path,
        cluster: Cluster | None,
        name: str,
    ) -> None:
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        self.opts, self.rng, self.logs, self.cluster, self.name = opts, rng, logs, cluster, name
        self.procs: list[subprocess.Popen[bytes]] = []
        self.queue = f"tablecron-chaos-{os.getpid()}"  # Celery's, on the tests' Redis
        self.started = 0
        self.events: Counter[str] = Counter()
        self.stuck: dict[str, int] = {}  # runs still active long after the pause
        self.rss: list[tuple[float, float]] = []  # (seconds into the window, MB) of procs[0]

    # -- processes ---------------------------------------------------------------------

    def env(self) -> dict[str, str]:
        from tests.support.processes import child_env

        env = child_env(**SETTINGS, **EXECUTORS[self.opts.executor],
                        CELERY_RUNS_PER_MESSAGE=self.opts.celery_runs_per_message)  # fmt: skip
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), str(ROOT)])
        env["TABLECRON_TEST_CONN_MAX_AGE"] = "60"  # workers': else one per task
        if self.opts.executor == "celery":
            env["DJANGO_SETTINGS_MODULE"] = "tests.celery_project.settings"
            env["TABLECRON_TEST_QUEUE"] = self.queue
        return env

    def spawn(self) -> subprocess.Popen[bytes]:
        from tests.support.processes import start

        self.started += 1
        args = [sys.executable, "-m", "django", "tablecron", "scheduler"]
        return start(args, self.logs / f"scheduler-{self.started}.log", self.env())

    def spawn_worker(self) -> subprocess.Popen[bytes]:
        """A django-tasks-db ``db_worker`` or a Celery worker process (``--executor``)."""
        from tests.support.processes import start

        self.started += 1
        if self.opts.executor == "celery":
            args = [sys.executable, "-m", "celery", "-A", "tests.celery_project", "worker",
                    "-c", "4", "-n", f"w{self.started}-{os.getpid()}@%h", "-l", "INFO",
                    "--without-gossip", "--without-mingle", "--without-heartbeat"]  # fmt: skip
        else:
            args = [sys.executable, "-m", "django", "db_worker", "--backend", "database",
                    "--queue-name", "*", "--interval", "0.05", "--no-startup-delay"]  # fmt: skip
        return start(args, self.logs / f"worker-{self.started}.log", self.env())

    def supervise(self, workers: list[subprocess.Popen[bytes]]) -> None:
        """Start again the workers that exited, as systemd would: django-tasks-db's
        db_worker exits on the first database error (a killed connection, say)."""
        for n, worker in enumerate(workers):
            if worker.poll() is not None:
                workers[n] = self.spawn_worker()
                self.events["worker exited and was restarted"] += 1

    def kill_scheduler(self) -> None:
        """Half of the time while the runs of a second are in flight (they are claimed at
        its start and last milliseconds), else at any moment."""
        slot = self.rng.randrange(1, len(self.procs))  # the first one survives throughout
        if self.rng.random() < 0.5:
            now = time.time()
            time.sleep(math.ceil(now) - now + self.rng.uniform(0.0, 0.2))
            self.events["of those, while its runs were in flight"] += 1
        os.kill(self.procs[slot].pid, signal.SIGKILL)
        self.procs[slot].wait()
        time.sleep(self.rng.uniform(0.2, 3.0))
        self.procs[slot] = self.spawn()
        self.events["scheduler killed -9 and restarted"] += 1

    def kill_connections(self) -> None:
        if self.cluster is not None:
            killed = self.cluster.terminate_backends(self.name)
        else:
            import MySQLdb

            server = MySQLdb.connect(host="127.0.0.1", user="root")
            cursor = server.cursor()
            cursor.execute(
                "SELECT id FROM information_schema.processlist "
                "WHERE db = %s AND id <> CONNECTION_ID()",
                [self.name],
            )
            ids = [row[0] for row in cursor.fetchall()]
            for session in ids:
                cursor.execute(f"KILL {int(session)}")
            server.close()
            killed = len(ids)
        self.events["connection kills"] += 1
        self.events["connections killed"] += killed

    def restart_database(self) -> None:
        assert self.cluster is not None
        self.cluster.stop("immediate")
        time.sleep(self.opts.outage)
        self.cluster.start()
        self.events["database crashed and restarted"] += 1

    def sample_rss(self, since: float) -> None:
        try:
            with open(f"/proc/{self.procs[0].pid}/status") as status:
                for line in status:
                    if line.startswith("VmRSS:"):
                        mb = int(line.split()[1]) / 1024
                        self.rss.append((time.monotonic() - since, mb))
        except OSError:
            pass

    # -- the soak ----------------------------------------------------------------------

    def run(self) -> int:
        from tablecron.db import db_now
        from tablecron.models import Job, JobRun, SchedulerInstance
        from tests.support.processes import every_second_jobs, stop, wait_for

        opts, path = self.opts, self.logs / "calls.log"
        self.procs = [self.spawn() for _ in range(opts.schedulers)]
        queued = self.opts.executor != "thread"
        workers = [self.spawn_worker() for _ in range(self.opts.workers if queued else 0)]
        try:
            wait_for(lambda: SchedulerInstance.objects.count() >= opts.schedulers, 60, "schedulers")
            first = every_second_jobs(opts.jobs, path)
            began = time.monotonic()
            end = began + opts.seconds
            crash_at = began + opts.seconds / 2 if self.cluster and not opts.calm else None
            next_sample = began
            next_fault = began + self.rng.expovariate(1 / opts.every)
            while time.monotonic() < end:
                now = time.monotonic()
                self.supervise(workers)
                if now >= next_sample:
                    self.sample_rss(began)
                    next_sample = now + 2
                if crash_at is not None and now >= crash_at:
                    crash_at = None
                    self.restart_database()
                elif now >= next_fault and now < end - QUIET and not opts.calm:
                    fault = self.rng.choice([self.kill_scheduler, self.kill_connections])
                    fault()
                    next_fault = time.monotonic() + self.rng.expovariate(1 / opts.every)
                time.sleep(0.1)
            self.sample_rss(began)
            pids = [proc.pid for proc in self.procs]
            registered = SchedulerInstance.objects.filter(pid__in=pids)
            wait_for(lambda: retrying(registered.count) == len(pids), 60, "every scheduler")
            retrying(lambda: Job.objects.update(enabled=False))
            paused = retrying(db_now)
            settle, active = time.monotonic(), JobRun.objects.active()
            while active.exists() and time.monotonic() < settle + SETTINGS["LOST_AFTER"] + 60:
                self.supervise(workers)
                time.sleep(0.1)
            settled = time.monotonic() - settle
            self.stuck = dict(Counter(active.values_list("status", flat=True)))
            for row in active.values("pk", "status", "worker", "queued_at", "engine_id")[:5]:
                print(f"  still active: {row}")
        finally:
            stop(self.procs + workers)
            if self.opts.executor == "celery":
                import redis

                redis.Redis(host="127.0.0.1", db=15).delete(self.queue)
        codes = [proc.returncode for proc in self.procs]
        return self.account(path, first, paused, settled, codes)

    def account(
        self, path: Path, first: datetime, paused: datetime, settled: float, codes: list[int | None]
    ) -> int:
        from tablecron.models import JobRun
        from tests.support.processes import calls, expected_fires, percentile

        recorded = calls(path)
        fired = Counter((call.label, call.scheduled_for) for call in recorded)
        expected = expected_fires(self.opts.jobs, first, paused - timedelta(seconds=1))
        runs = {
            (name, at): (status, error)
            for name, at, status, error in JobRun.objects.filter(
                scheduled_for__gte=first
            ).values_list("job_name", "scheduled_for", "status", "error")
        }
        duplicates = sum(1 for n in fired.values() if n > 1)
        ran = expected & set(fired)
        absent = expected - ran
        said = Counter(runs[f][0] for f in absent if f in runs and runs[f][0] in ("lost", "missed"))
        silent = sorted(f for f in absent if runs.get(f, ("",))[0] not in ("lost", "missed"))
        ran_but = Counter(runs[f][0] for f in ran if f in runs and runs[f][0] != "succeeded")
        phantom = sum(
            1 for f, (status, _) in runs.items() if status == "succeeded" and f not in fired
        )
        statuses = Counter(status for status, _ in runs.values())
        lateness = [1000 * c.lateness for c in recorded]
        print(f"\nfaults: {dict(self.events)}")
        print(
            f"fires due in the window: {len(expected):,} ({self.opts.jobs} jobs x "
            f"{len(expected) // self.opts.jobs} s); ran exactly once: {len(ran):,}; "
            f"did not run, with a run saying why: {dict(said)}"
        )
        print(f"  ran, but their row says otherwise (the outcome was cut off): {dict(ran_but)}")
        print(f"  runs by status: {dict(statuses)}")
        reasons = Counter(
            f"{status}: {error.split(':')[0].split('(')[0][:60]}"
            for status, error in runs.values()
            if status in ("missed", "lost")
        )
        print(f"  why: {dict(reasons)}")
        print(
            f"  lateness of the calls: p50 {percentile(lateness, 0.5):,.0f} ms, "
            f"p99 {percentile(lateness, 0.99):,.0f} ms, max {max(lateness, default=0):,.0f} ms"
        )
        if self.stuck:
            print(f"  RUNS STILL ACTIVE {settled:.0f} s after the pause: {self.stuck}")
        else:
            print(f"  runs still active after the pause: ended {settled:.1f} s later")
        print(f"DUPLICATES: {duplicates}   SILENTLY ABSENT: {len(silent)}   "
              f"SUCCEEDED WITHOUT A CALL: {phantom}")  # fmt: skip
        if silent:
            print(f"  e.g. {[(f, runs.get(f)) for f in silent[:5]]}")
        if self.rss:
            marks, shown = [0, 20, *range(60, 100_000, 60)], []
            for at, mb in self.rss:
                if marks and at >= marks[0]:
                    shown.append(f"{at:.0f} s {mb:.1f}")
                    while marks and at >= marks[0]:
                        marks.pop(0)
            shown.append(f"end {self.rss[-1][1]:.1f}")
            print(f"survivor's RSS (MB): {', '.join(shown)}")
        print(f"schedulers' exit codes on SIGTERM: {codes}")
        ok = not (duplicates or silent or phantom or self.stuck) and all(c == 0 for c in codes)
        print("OK" if ok else "FAILED")
        return 0 if ok else 1


def retrying[T](action: Callable[[], T], attempts: int = 20) -> T:
    """``action``, retried through a killed connection or a restarting server."""
    from django.db import DatabaseError

    from tablecron.db import close_all_connections

    for attempt in range(attempts):
        try:
            return action()
        except DatabaseError:
            if attempt == attempts - 1:
                raise
            close_all_connections()
            time.sleep(0.5)
    raise AssertionError("unreachable")


ROOT = Path(__file__).resolve().parent.parent

if __name__ == "__main__":
    sys.exit(main())
