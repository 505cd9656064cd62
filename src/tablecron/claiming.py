"""Claiming: in one short transaction, take what is due, record its runs, advance the
jobs, commit; the runs execute after the commit.

What is due: enabled jobs whose ``next_run_at`` has come (locked with ``SELECT … FOR
UPDATE SKIP LOCKED`` where the database has it; SQLite serialises writers itself, best
with ``transaction_mode = "IMMEDIATE"``, see check tablecron.W003), and runs waiting for
any scheduler (manual runs, retries, jittered fires). The ``JobRun`` unique key (job,
scheduled_for, attempt) is the last line of defence: however the code above misbehaves,
a due time cannot be recorded twice.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import NamedTuple

from django.db import DatabaseError, transaction
from django.db.models import Count, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce

from tablecron import chains, groups, metrics
from tablecron.conf import settings
from tablecron.execution import Claim
from tablecron.executors import Executor
from tablecron.models import Job, JobRun, RunStatus, RunTrigger
from tablecron.models.run import ACTIVE
from tablecron.outcomes import end
from tablecron.planning import DueJob, Plan, Planned, plan
from tablecron.registry import tasks
from tablecron.sql import statements
from tablecron.sql.rows import Advance, Holder, Inserted, NewRun

# Claim this early, so that runs start on time: a run's thread or process waits for its
# not_before. Each executor says how early (``claims_ahead``): Celery's further ahead,
# other queues when due (a worker that waited would hold a slot of its pool).
LOOKAHEAD = Executor.claims_ahead
# Waiting runs that wait for a slot of their job's max_instances (see _held_back()).
WAIT_FOR_SLOT = (RunTrigger.MANUAL, RunTrigger.AFTER)


class RunState(NamedTuple):
    status: str
    started_at: datetime | None
    finished_at: datetime | None
    worker: str


def initial_state(run: Planned, now: datetime, worker: str, *, starts_at_claim: bool) -> RunState:
    """How a planned run is recorded by the claim of scheduler ``worker`` at ``now``:

    ==============================  ==========================================
    planned                         recorded
    ==============================  ==========================================
    missed, or failed               ended now, by this scheduler
    waits for its jittered start    scheduled, for any scheduler to take
    due; the executor starts it     running, since its time (or now if later)
    due; the executor starts later  scheduled, held by this scheduler
    ==============================  ==========================================
    """
    if run.status != RunStatus.SCHEDULED:
        return RunState(run.status, None, now, worker)
    if run.waits:
        return RunState(RunStatus.SCHEDULED, None, None, "")
    if starts_at_claim:  # the task's own start time replaces it when the run ends
        return RunState(RunStatus.RUNNING, max(now, run.scheduled_for), None, worker)
    return RunState(RunStatus.SCHEDULED, None, None, worker)


class Claimer:
    """Claims for scheduler ``worker`` and its ``executor``."""

    def __init__(self, worker: str, executor: Executor) -> None:
        self.worker = worker
        self.executor = executor
        self.starts_at_claim = executor.starts_at_claim
        self.lookahead = executor.claims_ahead
        # When runs are in the executor's hands at the commit; any other executor
        # records it itself once it has sent them.
        self.queued_at_claim = executor.starts_at_claim or executor.submits_in_claim
        self._rng = random.Random()

    def soonest(self) -> tuple[datetime, datetime | None]:
        """The database's now, and the soonest time something falls due for us."""
        names = task_names()
        if not names:
            return statements().now(), None
        return statements().soonest(names)

    def claim(self, limit: int) -> list[Claim]:
        """Claim up to ``limit`` runs due by ``lookahead`` from now, in one transaction.

        An executor that ``submits_in_claim`` gets them before the commit; the caller
        submits them to any other after it.
        """
        with transaction.atomic(using=statements().alias):
            now = statements().begin_claim()
            if limit <= 0:
                return []
            claims = self._claim_due_jobs(now, limit)
            claims += self._claim_pending_runs(now, limit - len(claims))
            if self.executor.submits_in_claim:
                self.executor.submit_many(claims)
            return claims

    def _claim_due_jobs(self, now: datetime, limit: int) -> list[Claim]:
        due = Job.objects.due(now + self.lookahead).filter(task__in=task_names())
        if statements().skip_locked:
            due = due.select_for_update(skip_locked=True)
        jobs = [DueJob(*row) for row in due.values_list(*DueJob._fields)[:limit]]
        if not jobs:
            return []
        active, followed = statements().active_and_followed([job.id for job in jobs])
        until = now + self.lookahead
        plans = {
            job.id: groups.through_waiting(
                job, plan(job, now, active.get(job.id, 0), self._rng, until)
            )
            for job in jobs
        }
        holder = Holder(
            trigger=RunTrigger.SCHEDULE,
            claimed_by=self.worker,
            executor=self.executor.name,
            queued_at=now if self.queued_at_claim else None,
        )
        rows = self._new_runs(jobs, plans, now)
        advanced, inserted = statements().write_claim(
            self._advances(jobs, plans, now), rows, holder
        )
        if advanced != len(jobs):
            raise DatabaseError(f"{len(jobs) - advanced} claimed jobs changed under their lock")
        return self._claims(jobs, rows, inserted, followed)

    def _state(self, run: Planned, now: datetime) -> RunState:
        return initial_state(run, now, self.worker, starts_at_claim=self.starts_at_claim)

    def _new_runs(self, jobs: list[DueJob], plans: dict[int, Plan], now: datetime) -> list[NewRun]:
        """The planned runs, as recorded: those this scheduler holds to execute are
        ``held``."""
        rows: list[NewRun] = []
        for job in jobs:
            for run in plans[job.id].runs:
                state = self._state(run, now)
                rows.append(
                    NewRun(
                        job_id=job.id,
                        scheduled_for=run.scheduled_for,
                        started_at=state.started_at,
                        finished_at=state.finished_at,
                        status=state.status,
                        error=run.error,
                        worker=state.worker,
                        not_before=run.not_before,
                        held=state.worker == self.worker and state.status in ACTIVE,
                    )
                )
        return rows

    def _claims(
        self, jobs: list[DueJob], rows: list[NewRun], inserted: list[Inserted], followed: set[int]
    ) -> list[Claim]:
        """The claims of the runs ``inserted`` (not recorded before) that this scheduler
        holds (knowing which of the ``followed`` jobs others run after)."""
        by_key = {(row.job_id, row.scheduled_for): row for row in rows}
        by_id = {job.id: job for job in jobs}
        claims = []
        for new in inserted:
            row = by_key[new.job_id, new.scheduled_for]
            if row.held:
                job = by_id[new.job_id]
                claim = Claim.of(job, new.id, new.scheduled_for, self.worker,
                                 running=self.starts_at_claim,
                                 followed=job.id in followed)  # fmt: skip
                claims.append(claim)
            elif row.status not in ACTIVE:  # missed, or failed to plan: ended at its claim
                metrics.recorder.run_ended(by_id[new.job_id].name, row.status)
        return claims

    def _advances(self, jobs: list[DueJob], plans: dict[int, Plan], now: datetime) -> list[Advance]:
        """Each job's next fire time, written guarded by its version.

        The rows are locked (FOR UPDATE, or SQLite's single writer), so the guard holds; it
        is there so that a stale read can never move a schedule back. The newest run
        speaks for its job in list views (last_run_at, last_status).
        """
        rows = []
        for job in jobs:
            newest = max(plans[job.id].runs, key=lambda run: run.scheduled_for, default=None)
            rows.append(
                Advance(
                    id=job.id,
                    version=job.version,
                    next_run_at=plans[job.id].next_run_at,
                    last_run_at=newest.scheduled_for if newest else None,
                    last_status=self._state(newest, now).status if newest else None,
                )
            )
        return rows

    def _claim_pending_runs(self, now: datetime, limit: int) -> list[Claim]:
        """Manual runs, runs after another job, retries and jittered fires waiting for
        any scheduler."""
        if limit <= 0:
            return []
        sql = statements()
        pending = (
            JobRun.objects.pending(now + self.lookahead)
            .order_by("not_before")
            .annotate(group=Coalesce(_of_job("concurrency_group"), Value("")))
        )
        if sql.skip_locked:
            pending = pending.select_for_update(skip_locked=True)
        found = [Pending(*row) for row in pending.values_list(*Pending._fields)[:limit]]
        # Their jobs' last_run_at is written below: lock those rows now, without waiting,
        # and leave the runs of busy jobs for a later loop. Waiting while holding the
        # claimed rows could deadlock with someone's bulk update of jobs.
        jobs = sql.lock_free(sql.job, [run.job_id for run in found])
        found = [run for run in found if run.job_id in jobs]
        held = _held_back(found)
        later = now + timedelta(seconds=settings.POLL_INTERVAL)
        if held:  # looked at again after a poll interval, not in every loop until then
            JobRun.objects.filter(pk__in=held).update(not_before=later)
        # Runs of grouped jobs start only where their group has a free slot.
        held |= groups.not_admitted(
            [run.pk for run in found if run.group and run.pk not in held], now, later, sql.alias
        )
        ids = [run.pk for run in found if run.pk not in held]
        if not ids:
            return []
        running = self.starts_at_claim
        JobRun.objects.filter(
            pk__in=ids, worker="", status=RunStatus.SCHEDULED, cancel_requested_at=None
        ).update(
            worker=self.worker,
            claimed_by=self.worker,
            status=RunStatus.RUNNING if running else RunStatus.SCHEDULED,
            started_at=now if running else None,  # the task's own start when it ends
            executor=self.executor.name,
            queue=Coalesce(_of_job("queue"), Value("")),
            concurrency_group=Coalesce(_of_job("concurrency_group"), Value("")),
            queued_at=now if self.queued_at_claim else None,
            args=Coalesce("args", _of_job("args")),
            kwargs=Coalesce("kwargs", _of_job("kwargs")),
        )
        claims = []
        runs = list(JobRun.objects.filter(pk__in=ids, worker=self.worker).select_related("job"))
        followed = chains.followed(run.job_id for run in runs)
        end(
            [run for run in runs if run.job is None],
            RunStatus.CANCELLED,
            "The job was deleted.",
            now,
        )
        for run in runs:
            if run.job is None:
                continue
            claims.append(
                Claim.of(run.job, run.pk, run.scheduled_for, self.worker, attempt=run.attempt,
                         running=running, not_before=run.not_before or now, args=run.args,
                         kwargs=run.kwargs, followed=run.job_id in followed)
            )  # fmt: skip
            sql.touch_last_run(run.job.pk, run.scheduled_for, run.status)
        return claims


class Pending(NamedTuple):
    """A run waiting for any scheduler, as the claim reads it."""

    pk: int
    job_id: int | None
    trigger: str
    ignore_max_instances: bool
    group: str  # its job's concurrency group


def _held_back(found: list[Pending]) -> set[int]:
    """The manual runs and runs after another job among ``found`` (oldest first) that wait
    for a slot: their job has ``max_instances`` runs claimed or running, counting those
    let go before them. A run asked for with ``ignore_max_instances`` is not held, nor
    are retries and jittered fires (their fire was planned against ``max_instances``
    already).

    Two queries, only when such runs are found: claiming scheduled fires is unchanged.
    """
    bounded = [
        run
        for run in found
        if run.trigger in WAIT_FOR_SLOT and not run.ignore_max_instances and run.job_id
    ]
    if not bounded:
        return set()
    job_ids = {run.job_id for run in bounded if run.job_id is not None}
    limits: dict[int | None, int] = dict(
        Job.objects.filter(pk__in=job_ids).values_list("pk", "max_instances")
    )
    active: dict[int | None, int] = dict(
        JobRun.objects.active()
        .filter(job_id__in=job_ids)
        .exclude(worker="")
        .values("job")
        .annotate(n=Count("pk"))
        .values_list("job", "n")
    )
    held = set()
    for run in bounded:
        if active.get(run.job_id, 0) < limits.get(run.job_id, 1):
            active[run.job_id] = active.get(run.job_id, 0) + 1
        else:
            held.add(run.pk)
    return held


def _of_job(column: str) -> Subquery:
    """A run's job's ``column``, in an UPDATE of runs."""
    return Subquery(Job.objects.filter(pk=OuterRef("job_id")).values(column))


def task_names() -> list[str]:
    """The tasks this process knows: it claims only their jobs."""
    return [task.name for task in tasks]
