"""The loop: claim due rows, hand them to an executor, advance the schedule.

A claim is one short transaction: lock the due rows (``SELECT … FOR UPDATE SKIP LOCKED``
where the database has it; SQLite serialises writers itself, best with
``transaction_mode = "IMMEDIATE"``, see check tablecron.W003), insert
their ``JobRun`` rows, advance ``next_run_at``, commit; execution starts after the
commit. The ``JobRun`` unique key (job, scheduled_for, attempt) is the last line of
defence: however the code above misbehaves, a due time cannot be recorded twice.
"""

from __future__ import annotations

import logging
import os
import random
import secrets
import socket
import threading
import time
from datetime import datetime, timedelta

from django.db import DatabaseError, connections, transaction
from django.db.models import Count, Q
from django.db.models.functions import Now

from tablecron import execution
from tablecron.conf import settings
from tablecron.db import (
    NewRun,
    advance_jobs,
    aware,
    close_all_connections,
    close_old_connections,
    db_now,
    execute_sql,
    insert_runs,
    lock_rows,
    now_sql,
    run_sql,
)
from tablecron.executors import Claim, Executor, get_executor
from tablecron.models import Job, JobRun, RunStatus, RunTrigger, SchedulerInstance
from tablecron.models.run import ACTIVE
from tablecron.planning import DueJob, Plan, plan
from tablecron.registry import tasks
from tablecron.wakeup import waiter_for

logger = logging.getLogger("tablecron")

BATCH_SIZE = 500
LOOKAHEAD = timedelta(seconds=0.1)  # claim this early, so that runs start on time
BUSY_DELAY = 0.02  # seconds: due rows are locked by another scheduler's claim
LISTENING_POLL = 10.0  # seconds between polls where notifications announce every change
PRUNE_EVERY = 60.0  # seconds
MAX_BACKOFF = 30.0  # seconds between attempts while the database is away


class Scheduler:
    """One scheduler: ``run()`` loops until ``stop()``; ``run_once()`` is a single loop."""

    def __init__(self, executor: Executor | None = None, *, batch_size: int = BATCH_SIZE) -> None:
        self.executor = executor or get_executor()
        self.batch_size = batch_size
        self.host = socket.gethostname()
        self.id = f"{self.host}:{os.getpid()}:{secrets.token_hex(3)}"
        self._stop = threading.Event()
        self._rng = random.Random()
        self._next_heartbeat = 0.0
        self._next_prune = 0.0
        self._reported: set[str] = set()
        self._claimed_at = 0.0
        self._waiter = waiter_for(self._stop)

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        """Register this scheduler and reap what dead schedulers on this host left."""
        now = db_now()
        SchedulerInstance.objects.update_or_create(
            pk=self.id,
            defaults={
                "host": self.host,
                "pid": os.getpid(),
                "started_at": now,
                "heartbeat_at": now,
            },
        )
        self.reap_lost(now)
        logger.info("tablecron: scheduler %s started", self.id)

    def stop(self) -> None:
        """Stop claiming; ``run()`` finishes its loop, waits for running work and returns."""
        self._stop.set()

    def run(self, max_loops: int | None = None) -> None:
        """Loop until ``stop()``; database errors are logged and retried with backoff."""
        loops, backoff, started = 0, 0.0, False
        try:
            while not self._stop.is_set() and (max_loops is None or loops < max_loops):
                try:
                    if not started:
                        self.start()
                        started = True
                    delay = self.run_once()
                    backoff = 0.0
                except Exception:
                    backoff = min(MAX_BACKOFF, max(settings.POLL_INTERVAL, backoff * 2))
                    logger.exception("tablecron: loop failed; retrying in %.1f s", backoff)
                    close_all_connections()
                    delay = backoff
                loops += 1
                self._waiter.wait(delay)
        finally:
            self._waiter.close()
            self.shutdown()

    def shutdown(self) -> None:
        """Release claimed runs not yet started, wait for the rest, deregister."""
        try:
            JobRun.objects.filter(worker=self.id, status=RunStatus.SCHEDULED).update(worker="")
            unfinished = self.executor.shutdown(settings.SHUTDOWN_GRACE)
            if unfinished:
                JobRun.objects.filter(pk__in=unfinished, status__in=ACTIVE).update(
                    status=RunStatus.CANCELLED,
                    finished_at=Now(),
                    error="The scheduler stopped before the run finished.",
                )
            SchedulerInstance.objects.filter(pk=self.id).delete()
        except DatabaseError:
            logger.exception("tablecron: could not deregister %s; it will be reaped", self.id)
        finally:
            close_all_connections()
        logger.info("tablecron: scheduler %s stopped", self.id)

    def execute_now(self, job: Job) -> JobRun:
        """Run ``job`` once in this thread, as a manual run owned by this scheduler.

        Registered and beating while it runs, so no other scheduler takes the run for lost.
        """
        self.start()
        now = db_now()
        run = JobRun.objects.create(
            job=job,
            job_name=job.name,
            scheduled_for=now,
            not_before=now,
            worker=self.id,
            trigger=RunTrigger.MANUAL,
            status=RunStatus.SCHEDULED,
        )
        done = threading.Event()

        def beat() -> None:
            while not done.wait(settings.HEARTBEAT_INTERVAL):
                self.heartbeat(db_now())
            close_old_connections()

        beating = threading.Thread(target=beat, name="tablecron-heartbeat", daemon=True)
        beating.start()
        try:
            execution.execute(self._claim_of(job, run.pk, run.scheduled_for))
        finally:
            done.set()
            beating.join()
            SchedulerInstance.objects.filter(pk=self.id).delete()
        run.refresh_from_db()
        return run

    # -- one loop ------------------------------------------------------------------------

    def run_once(self) -> float:
        """Claim and submit what is due; returns the seconds to wait before the next loop."""
        close_old_connections()
        try:
            self._housekeeping()
            capacity = min(self.batch_size, self.executor.free_slots())
            if capacity <= 0:
                self.executor.expire()
                self.executor.wait_for_slot(settings.POLL_INTERVAL)
                return 0.0
            asked = time.monotonic()
            now, soonest = self._soonest()
            if soonest is None or soonest > now + LOOKAHEAD:  # the common idle case
                self.executor.expire()
                return self._delay(now, soonest, asked)
            claims = self.claim(capacity)[0]
            for claim in claims:
                self.executor.submit(claim)
            self.executor.expire()
            # Nothing claimed: another scheduler holds the due rows for a moment.
            return 0.0 if claims else min(settings.POLL_INTERVAL, BUSY_DELAY)
        finally:
            close_old_connections()

    def claim(self, limit: int) -> tuple[list[Claim], datetime]:
        """Claim up to ``limit`` runs due by ``LOOKAHEAD`` from now, in one transaction;
        returns them and the database's now."""
        with transaction.atomic():
            now = self._begin_claim()
            self._claimed_at = time.monotonic()  # after: a run never starts early
            if limit <= 0:
                return [], now
            claims = self._claim_due_jobs(now, limit)
            claims += self._claim_pending_runs(now, limit - len(claims))
        return claims, now

    def _begin_claim(self) -> datetime:
        """The database's now; on PostgreSQL, also mutes the NOTIFY trigger for our writes
        (other schedulers need no wake-up for work that is already claimed)."""
        connection = connections["default"]
        if connection.vendor != "postgresql":
            return db_now()
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config('tablecron.claiming', 'on', true), now()")
            return aware(cursor.fetchone()[1])

    @property
    def _locking(self) -> bool:
        return bool(connections["default"].features.has_select_for_update_skip_locked)

    def _claim_due_jobs(self, now: datetime, limit: int) -> list[Claim]:
        due = Job.objects.due(now + LOOKAHEAD).filter(task__in=self._task_names())
        if self._locking:
            due = due.select_for_update(skip_locked=True)
        jobs = [DueJob(*row) for row in due.values_list(*DueJob._fields)[:limit]]
        if not jobs:
            return []
        active = dict(
            JobRun.objects.active()
            .filter(job_id__in=[job.id for job in jobs])
            .values("job")
            .annotate(n=Count("pk"))
            .values_list("job", "n")
        )
        until = now + LOOKAHEAD
        plans = {job.id: plan(job, now, active.get(job.id, 0), self._rng, until) for job in jobs}
        self._advance(jobs, plans)
        return self._insert_runs(jobs, plans, now)

    def _insert_runs(
        self, jobs: list[DueJob], plans: dict[int, Plan], now: datetime
    ) -> list[Claim]:
        """Record the planned runs; those to execute are this scheduler's claims, marked
        running at once when the executor starts them at once."""
        running = self.executor.in_process
        rows: list[NewRun] = []
        for job in jobs:
            for run in plans[job.id].runs:
                if run.status != RunStatus.SCHEDULED:  # missed, or failed: ended now
                    status, started, finished, worker = run.status, None, now, self.id
                elif run.waits:
                    status, started, finished, worker = RunStatus.SCHEDULED, None, None, ""
                elif running:
                    started = max(now, run.scheduled_for)  # the task's own start when it ends
                    status, finished, worker = RunStatus.RUNNING, None, self.id
                else:
                    status, started, finished, worker = RunStatus.SCHEDULED, None, None, self.id
                rows.append(
                    (job.id, job.name, run.scheduled_for, started, finished, status,
                     RunTrigger.SCHEDULE, run.error, worker, run.not_before)
                )  # fmt: skip
        claimed = {
            (row[0], row[2]): row
            for row in rows
            if row[8] == self.id and row[5] in (RunStatus.RUNNING, RunStatus.SCHEDULED)
        }
        by_id = {job.id: job for job in jobs}
        return [
            self._claim_of(
                by_id[job_id], pk, scheduled_for, running=running, start=scheduled_for - now
            )
            for pk, job_id, scheduled_for in insert_runs(rows)
            if (job_id, scheduled_for) in claimed
        ]

    def _advance(self, jobs: list[DueJob], plans: dict[int, Plan]) -> None:
        """Write each job's next fire time in one statement, guarded by its version.

        The rows are locked (FOR UPDATE, or SQLite's single writer), so the guard holds; it
        is there so that a stale read can never move a schedule back. The newest run
        speaks for its job in list views (last_run_at, last_status).
        """
        running = RunStatus.RUNNING if self.executor.in_process else RunStatus.SCHEDULED
        rows = []
        for job in jobs:
            runs, next_run_at = plans[job.id].runs, plans[job.id].next_run_at
            newest = max(runs, key=lambda run: run.scheduled_for, default=None)
            status = newest and (
                running
                if newest.status == RunStatus.SCHEDULED and not newest.waits
                else newest.status
            )
            last_run_at = newest.scheduled_for if newest else None
            rows.append((job.id, job.version, next_run_at, last_run_at, status))
        advanced = advance_jobs(rows)
        if advanced != len(jobs):
            raise DatabaseError(f"{len(jobs) - advanced} claimed jobs changed under their lock")

    def _claim_pending_runs(self, now: datetime, limit: int) -> list[Claim]:
        """Manual runs, retries and jittered fires waiting for any scheduler."""
        if limit <= 0:
            return []
        pending = JobRun.objects.pending(now + LOOKAHEAD).order_by("not_before")
        if self._locking:
            pending = pending.select_for_update(skip_locked=True)
        found = list(pending.values_list("pk", "job_id")[:limit])
        # Their jobs' last_run_at is written below: lock those rows now, without waiting,
        # and leave the runs of busy jobs for a later loop. Waiting while holding the
        # claimed rows could deadlock with someone's bulk update of jobs.
        jobs = lock_rows("{job}", [job_id for _, job_id in found])
        ids = [pk for pk, job_id in found if job_id in jobs]
        if not ids:
            return []
        running = self.executor.in_process
        taken = JobRun.objects.filter(pk__in=ids, worker="", status=RunStatus.SCHEDULED)
        taken.update(
            worker=self.id,
            status=RunStatus.RUNNING if running else RunStatus.SCHEDULED,
            started_at=now if running else None,  # the task's own start when it ends
        )
        claims = []
        for run in JobRun.objects.filter(pk__in=ids, worker=self.id).select_related("job"):
            if run.job is None:
                JobRun.objects.filter(pk=run.pk).update(
                    status=RunStatus.CANCELLED, finished_at=now, error="The job was deleted."
                )
                continue
            start = (run.not_before or now) - now
            claims.append(
                self._claim_of(
                    run.job, run.pk, run.scheduled_for, run.attempt, running=running, start=start
                )
            )
            run_sql(  # the newest run speaks for its job in list views
                "UPDATE {job} SET last_run_at = %s, last_status = %s "
                "WHERE id = %s AND (last_run_at IS NULL OR last_run_at <= %s)",
                [run.scheduled_for, run.status, run.job_id, run.scheduled_for],
            )
        return claims

    def _claim_of(
        self,
        job: Job | DueJob,
        run_id: int,
        scheduled_for: datetime,
        attempt: int = 1,
        *,
        running: bool = False,
        start: timedelta = timedelta(0),
    ) -> Claim:
        """The claim of run ``run_id`` of ``job``, to start ``start`` after this claim
        began (the database's clock told how far its time is)."""
        return Claim(
            run_id=run_id,
            scheduled_for=scheduled_for,
            job_id=job.id,
            job_name=job.name,
            task=job.task,
            worker=self.id,
            args=job.args,
            kwargs=job.kwargs,
            timeout=job.timeout,
            attempt=attempt,
            max_retries=job.max_retries,
            retry_delay=job.retry_delay,
            running=running,
            start_after=self._claimed_at + max(0.0, start.total_seconds()),
        )

    def _task_names(self) -> list[str]:
        return [task.name for task in tasks]

    def _soonest(self) -> tuple[datetime, datetime | None]:
        """The database's now, and the soonest time a job or a waiting run falls due."""
        names = self._task_names()
        if not names:
            return db_now(), None
        now, next_job, next_run = execute_sql(
            f"SELECT {now_sql(connections['default']).replace('%', '%%')}, "  # has params
            "(SELECT MIN(next_run_at) FROM {job} "
            f"WHERE enabled AND task IN ({', '.join(['%s'] * len(names))})), "
            "(SELECT MIN(not_before) FROM {run} WHERE status = %s AND worker = '')",
            [*names, RunStatus.SCHEDULED],
        )[1][0]
        times = [aware(t) for t in (next_job, next_run) if t is not None]
        return aware(now), min(times, default=None)

    def _delay(self, now: datetime, soonest: datetime | None, asked: float) -> float:
        """Until ``LOOKAHEAD`` before ``soonest``, at most the poll interval (longer where
        notifications wake the scheduler on every change), and never past the next
        heartbeat: a scheduler that sleeps through it is taken for dead."""
        poll = LISTENING_POLL if self._waiter.listening else settings.POLL_INTERVAL
        poll = min(poll, self._next_heartbeat - time.monotonic())
        if soonest is not None:
            poll = min(
                poll, (soonest - LOOKAHEAD - now).total_seconds() - (time.monotonic() - asked)
            )
        return max(0.0, poll)

    # -- housekeeping --------------------------------------------------------------------

    def _housekeeping(self) -> None:
        clock = time.monotonic()
        if clock >= self._next_heartbeat:
            self._next_heartbeat = clock + settings.HEARTBEAT_INTERVAL
            now = db_now()
            self.heartbeat(now)
            self.reap_lost(now)
            self._report_unknown_tasks(now)
        if clock >= self._next_prune:
            self._next_prune = clock + PRUNE_EVERY
            self.prune(db_now())

    def heartbeat(self, now: datetime) -> None:
        if not SchedulerInstance.objects.filter(pk=self.id).update(heartbeat_at=now):
            # Someone took us for dead (a long pause): our runs were reaped; come back.
            SchedulerInstance.objects.create(
                pk=self.id, host=self.host, pid=os.getpid(), started_at=now, heartbeat_at=now
            )

    def reap_lost(self, now: datetime) -> int:
        """End the runs of schedulers that stopped beating; returns how many."""
        lost_after = timedelta(seconds=settings.LOST_AFTER)
        dead = set(SchedulerInstance.objects.dead(now, lost_after).values_list("pk", flat=True))
        dead |= self._dead_on_this_host()
        alive = SchedulerInstance.objects.alive(now, lost_after).exclude(pk__in=dead)
        orphaned = (
            JobRun.objects.active()
            .exclude(worker="")
            .exclude(worker__in=alive.values("pk"))
            .filter(Q(worker__in=dead) | Q(scheduled_for__lt=now - lost_after))
        )
        if self.executor.in_process:  # ours, but no worker holds them: a database error
            mine = JobRun.objects.active().filter(worker=self.id)  # cut a start or finish
            orphaned |= mine.exclude(pk__in=self.executor.running_ids())
        # Read first, then write each by primary key, re-checking its state: one UPDATE
        # over the orphan query locked rows in index order and deadlocked with workers.
        count = 0
        for run in orphaned.select_related("job").order_by("pk")[:BATCH_SIZE]:
            same = JobRun.objects.filter(pk=run.pk, status=run.status, worker=run.worker)
            if run.status == RunStatus.SCHEDULED:  # never started: any scheduler may take it
                same.update(worker="")
            elif same.update(
                status=RunStatus.LOST,
                finished_at=now,
                error=f"Its scheduler {run.worker} stopped beating, or lost track of it.",
            ):
                count += 1
                if run.job is not None:
                    claim = self._claim_of(run.job, run.pk, run.scheduled_for, run.attempt)
                    execution.schedule_retry(claim, now)
        SchedulerInstance.objects.filter(pk__in=dead).exclude(pk=self.id).delete()
        if count:
            logger.warning("tablecron: marked %d runs of stopped schedulers as lost", count)
        return count

    def _dead_on_this_host(self) -> set[str]:
        dead = set()
        for pk, pid in (
            SchedulerInstance.objects.filter(host=self.host)
            .exclude(pk=self.id)
            .values_list("pk", "pid")
        ):
            if not _process_exists(pid):
                dead.add(pk)
        return dead

    def prune(self, now: datetime) -> int:
        """Delete one batch of runs older than ``RUN_RETENTION``."""
        old = JobRun.objects.finished_before(now - settings.RUN_RETENTION)
        ids = list(old.values_list("pk", flat=True)[:1000])
        return JobRun.objects.filter(pk__in=ids).delete()[0] if ids else 0

    def _report_unknown_tasks(self, now: datetime) -> None:
        names = set(
            Job.objects.due(now)
            .exclude(task__in=[t.name for t in tasks])
            .values_list("task", flat=True)
            .distinct()[:50]
        )
        for name in names - self._reported:
            logger.warning(
                "tablecron: due jobs name the task %r, which is not registered in "
                "this process; they are left untouched",
                name,
            )
        self._reported |= names


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
