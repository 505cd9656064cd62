"""The four sides, each through its own public API: how it schedules the bench's jobs, how
its scheduler starts, and where it records a fire it did not run.

Job names are the bench's: ``<phase tag><number>``; every task records that name.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import math
import subprocess
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar

import redis
from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.background import BackgroundScheduler
from django.conf import settings
from django.db import connection
from django.db.models import Max, Model
from django_apscheduler.jobstores import DjangoJobStore
from django_apscheduler.models import DjangoJob, DjangoJobExecution
from django_celery_beat.models import (
    ClockedSchedule,
    CrontabSchedule,
    IntervalSchedule,
    PeriodicTask,
    PeriodicTasks,
)
from procs import Proc, celery_argv, child_env, django_argv, wait_for

from tablecron.models import Job, JobRun, SchedulerInstance

# Runs that a tablecron scheduler recorded as not done: a missing fire with one of these
# was reported, not dropped silently.
NOT_DONE = ("missed", "lost", "failed", "timed_out", "cancelled")
BULK = 2000


def _truncate(*models: type[Model]) -> None:
    """Empty the tables at once: the peers' deletes send a signal (and django-celery-beat a
    write) per row, minutes for a backlog. Clean-up between measures, never measured."""
    tables = ", ".join(connection.ops.quote_name(m._meta.db_table) for m in models)
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {tables} CASCADE")


def _now() -> datetime:
    return datetime.now(UTC)


def _idle_hour() -> int:
    """An hour of the day twelve hours away: daily jobs at it are none due during the bench."""
    return (_now().hour + 12) % 24


class Side:
    key: ClassVar[str]
    label: ClassVar[str]
    anchored: ClassVar[bool] = False  # no phase of its own: see calls.tally()
    via_celery: ClassVar[bool] = False
    own_workers: ClassVar[bool] = False  # db_worker processes: see db_workers()
    registers: ClassVar[bool] = False  # has a "scheduler is up" row of its own

    def __init__(self, logs: Path) -> None:
        self.logs = logs

    def unavailable(self) -> str | None:
        """Why this side cannot run here, or None."""
        return None

    def every_second(self, names: list[str]) -> None: ...
    def due_now(self, names: list[str], when: datetime) -> None: ...
    def idle(self, names: list[str]) -> None: ...
    def one_off_now(self, name: str) -> None: ...
    def remove(self, name: str) -> None: ...
    def clear(self) -> None: ...
    def start(self, tag: str) -> Proc: ...

    def registered(self, proc: Proc) -> bool:
        return False

    def reported(self, prefix: str, start: float, end: float) -> dict[str, int]:
        """Fires in [start, end) that the scheduler recorded as not run, by job."""
        return {}

    def detail(self, prefix: str, since: float) -> str:
        """What the side's own records say about the runs of ``prefix`` jobs, if anything."""
        return ""


class Beat(Side):
    key, label, anchored, via_celery = "beat", "django-celery-beat", True, True
    TASK = "benchapp.record"

    def _add(self, names: list[str], **schedule: object) -> None:
        PeriodicTask.objects.bulk_create(
            [PeriodicTask(name=n, task=self.TASK, args=json.dumps([n]), **schedule) for n in names],
            batch_size=BULK,
        )
        PeriodicTasks.update_changed()  # as its docs say to after a bulk change

    def every_second(self, names: list[str]) -> None:
        every, _ = IntervalSchedule.objects.get_or_create(every=1, period=IntervalSchedule.SECONDS)
        self._add(names, interval=every)

    def due_now(self, names: list[str], when: datetime) -> None:
        self._add(names, clocked=ClockedSchedule.objects.create(clocked_time=when), one_off=True)

    def idle(self, names: list[str]) -> None:
        daily = CrontabSchedule.objects.create(minute="0", hour=str(_idle_hour()), timezone="UTC")
        self._add(names, crontab=daily)

    def one_off_now(self, name: str) -> None:
        clocked = ClockedSchedule.objects.create(clocked_time=_now())
        PeriodicTask.objects.create(
            name=name, task=self.TASK, args=json.dumps([name]), clocked=clocked, one_off=True
        )

    def remove(self, name: str) -> None:
        PeriodicTask.objects.filter(name=name).delete()

    def clear(self) -> None:
        _truncate(PeriodicTask, IntervalSchedule, CrontabSchedule, ClockedSchedule)
        PeriodicTasks.update_changed()

    def start(self, tag: str) -> Proc:
        argv = celery_argv("beat", "-S", "django", "--loglevel=WARNING")
        return Proc(f"celery beat ({tag})", argv, self.logs / f"beat-{tag}.log", child_env())


class APScheduler(Side):
    key, label = "apscheduler", "django-apscheduler"
    FUNC = "benchapp.aps_jobs:record"

    @contextmanager
    def _store(self) -> Iterator[BackgroundScheduler]:
        """A scheduler of this process that only writes jobs to the DjangoJobStore (paused:
        it runs none); the bench_apscheduler command's scheduler runs them."""
        scheduler = BackgroundScheduler(timezone="UTC")
        scheduler.add_jobstore(DjangoJobStore(), "default")
        scheduler.start(paused=True)
        try:
            yield scheduler
        finally:
            # Its loop wakes up once more at shutdown, no longer paused: with no job store
            # left it cannot run (and delete) the jobs it just wrote.
            scheduler.remove_jobstore("default", shutdown=False)
            scheduler.shutdown(wait=False)

    def _add(self, names: list[str], trigger: str, **options: object) -> None:
        with self._store() as scheduler:
            for name in names:
                scheduler.add_job(
                    self.FUNC, trigger, args=[name], id=name, replace_existing=True, **options
                )

    def every_second(self, names: list[str]) -> None:
        self._add(names, "cron", second="*")

    def due_now(self, names: list[str], when: datetime) -> None:
        self._add(names, "date", run_date=when, misfire_grace_time=None)

    def idle(self, names: list[str]) -> None:
        self._add(names, "cron", hour=_idle_hour(), minute=0)

    def one_off_now(self, name: str) -> None:
        self._add([name], "date", run_date=_now(), misfire_grace_time=None)

    def remove(self, name: str) -> None:
        with self._store() as scheduler, contextlib.suppress(JobLookupError):
            scheduler.remove_job(name)  # a date job that ran is gone already

    def clear(self) -> None:
        _truncate(DjangoJob, DjangoJobExecution)

    def start(self, tag: str) -> Proc:
        argv = django_argv("bench_apscheduler")
        return Proc(f"django-apscheduler ({tag})", argv, self.logs / f"aps-{tag}.log", child_env())

    def reported(self, prefix: str, start: float, end: float) -> dict[str, int]:
        rows = DjangoJobExecution.objects.filter(
            job__id__startswith=prefix,
            status__in=[DjangoJobExecution.MISSED, DjangoJobExecution.MAX_INSTANCES],
            run_time__gte=datetime.fromtimestamp(start, UTC),
            run_time__lt=datetime.fromtimestamp(end, UTC),
        )
        return Counter(rows.values_list("job_id", flat=True))


class Tablecron(Side):
    key, label, registers = "tablecron-thread", "tablecron (thread executor)", True
    TASK = "bench.record"
    executor = "thread"
    command: ClassVar[list[str]] = []  # set once by the bench: see procs.scheduler_command()

    def _add(self, names: list[str], **schedule: object) -> None:
        jobs = [Job(name=n, task=self.TASK, args=[n], **schedule) for n in names]
        Job.objects.bulk_create(jobs, batch_size=BULK)

    def every_second(self, names: list[str]) -> None:
        self._add(names, cron="* * * * * *")

    def due_now(self, names: list[str], when: datetime) -> None:
        self._add(names, run_at=when)

    def idle(self, names: list[str]) -> None:
        self._add(names, cron=f"0 {_idle_hour()} * * *")

    def one_off_now(self, name: str) -> None:
        Job.objects.create(name=name, task=self.TASK, args=[name], run_at=_now())

    def remove(self, name: str) -> None:
        Job.objects.filter(name=name).delete()

    def clear(self) -> None:
        _truncate(JobRun, Job, SchedulerInstance)

    def start(self, tag: str) -> Proc:
        argv = django_argv(*self.command)
        env = child_env(BENCH_EXECUTOR=self.executor)
        return Proc(
            f"tablecron {self.executor} ({tag})", argv, self.logs / f"{self.key}-{tag}.log", env
        )

    def registered(self, proc: Proc) -> bool:
        return SchedulerInstance.objects.filter(pid=proc.pid).exists()

    def reported(self, prefix: str, start: float, end: float) -> dict[str, int]:
        """Runs that say they did not run, and fires still due in the table: a job whose
        ``next_run_at`` had not moved past them when its scheduler stopped owes them, and
        the next scheduler to start records them (as ``missed`` when it coalesces)."""
        since, until = datetime.fromtimestamp(start, UTC), datetime.fromtimestamp(end, UTC)
        rows = JobRun.objects.filter(
            job_name__startswith=prefix,
            status__in=NOT_DONE,
            scheduled_for__gte=since,
            scheduled_for__lt=until,
        )
        reported = Counter(rows.values_list("job_name", flat=True))
        # Every-second jobs: one fire owed for each second from next_run_at to the end.
        owing = Job.objects.filter(name__startswith=prefix, next_run_at__lt=until)
        for name, next_run_at in owing.values_list("name", "next_run_at"):
            reported[name] += math.ceil(end) - math.ceil(max(next_run_at.timestamp(), start))
        return reported

    def detail(self, prefix: str, since: float) -> str:
        """Run statuses, and when the last run was queued (Celery), started and finished,
        in seconds since ``since``: which side of the queue was the slower one."""
        runs = JobRun.objects.filter(job_name__startswith=prefix)
        statuses = dict(Counter(runs.values_list("status", flat=True)))
        last = runs.aggregate(*(Max(f) for f in ("queued_at", "started_at", "finished_at")))
        times = ", ".join(
            f"{name.split('__')[0]} {value.timestamp() - since:.1f} s"
            for name, value in last.items()
            if value is not None
        )
        if not statuses:
            return ""
        return f"runs {statuses}; the last {times}\n{' ' * 10}{self._stages(prefix, since)}"

    def _stages(self, prefix: str, since: float) -> str:
        """Where a run's lateness goes, p50 / p99 in ms over the runs due from ``since``:
        due -> queued (claimed and sent: Celery), queued -> started (the broker and the
        worker's queue), started -> finished (the worker's task)."""
        stages = {
            "due->queued": "queued_at - scheduled_for",
            "queued->started": "started_at - queued_at",
            "started->finished": "finished_at - started_at",
        }
        parts = ", ".join(
            f"percentile_cont(%s) WITHIN GROUP (ORDER BY EXTRACT(EPOCH FROM {expr}) * 1000)"
            for expr in stages.values()
            for _ in (0, 1)
        )
        sql = (
            f"SELECT {parts} FROM {JobRun._meta.db_table} "
            "WHERE job_name LIKE %s AND scheduled_for >= %s AND started_at IS NOT NULL"
        )
        params = [0.5, 0.99] * len(stages) + [f"{prefix}%", datetime.fromtimestamp(since, UTC)]
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            row = cursor.fetchone()
        if row is None or row[0] is None:
            return ""
        return "ms p50/p99: " + ", ".join(
            f"{name} {row[2 * i] or 0:,.0f}/{row[2 * i + 1] or 0:,.0f}"
            for i, name in enumerate(stages)
        )


class TablecronCelery(Tablecron):
    key, label, via_celery = "tablecron-celery", "tablecron (Celery executor)", True
    executor = "celery"

    def unavailable(self) -> str | None:
        """Not until ``EXECUTOR: "celery"`` passes tablecron's own system checks."""
        check = subprocess.run(
            django_argv("check"),
            env=child_env(BENCH_EXECUTOR="celery"),
            capture_output=True,
            text=True,
        )
        if check.returncode == 0:
            return None
        errors = [line.strip() for line in check.stderr.splitlines() if "tablecron.E" in line]
        return "; ".join(errors) or check.stderr.strip().splitlines()[-1]


class TablecronDbWorker(Tablecron):
    """Django Tasks on django-tasks-db: the scheduler enqueues each run in the bench's
    database (in its claim's transaction), two ``db_worker`` processes run them."""

    key, label = "tablecron-db-worker", "tablecron (Django Tasks, db_worker)"
    executor = "django_tasks"
    own_workers = True

    def unavailable(self) -> str | None:
        if importlib.util.find_spec("django_tasks_db") is None:
            return "django-tasks-db is not installed (bench/compare/setup.sh installs it)"
        return None


class Broker:
    """The Celery broker's Redis database, the bench's own: flushed at start."""

    QUEUE = "celery"

    def __init__(self) -> None:
        self.client = redis.Redis(host="127.0.0.1", port=6379, db=settings.BENCH_REDIS_DB)

    def flush(self) -> None:
        self.client.flushdb()

    def queued(self) -> int:
        return int(self.client.llen(self.QUEUE))

    def wait_empty(self, timeout: float) -> bool:
        return wait_for(lambda: self.queued() == 0, timeout, every=0.1)


SIDES: dict[str, type[Side]] = {
    side.key: side for side in (Beat, TablecronCelery, APScheduler, Tablecron, TablecronDbWorker)
}
# Each peer and the tablecron side it is compared with; the last, the queue that Django
# Tasks keeps in the database beside Celery's.
PAIRS = (
    ("beat", "tablecron-celery"),
    ("apscheduler", "tablecron-thread"),
    ("tablecron-celery", "tablecron-db-worker"),
)
