"""What a scheduler does besides claiming: it beats (its ``SchedulerInstance`` row),
ends the runs of schedulers that stopped beating (``lost``, retried where the job says
so), reports jobs whose task this process does not know, and tells people of jobs that
started failing, went silent or recovered (``notifications``). Old runs are pruned from
a thread of their own (``tablecron.retention``)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from django.db.models import Q

from tablecron import notifications
from tablecron.conf import settings
from tablecron.db import db_now
from tablecron.executors import Executor
from tablecron.models import Job, JobRun, RunStatus, SchedulerInstance
from tablecron.models.scheduler import Role
from tablecron.outcomes import end
from tablecron.presence import REAP_BATCH, Presence, process_exists
from tablecron.registry import tasks

logger = logging.getLogger("tablecron")


# Why a run was ended as lost, by the role of the instance that held it: a queue
# executor's worker runs it, a scheduler runs it itself; "" when that instance's row is
# gone already (another scheduler reaped it first).
LOST_BECAUSE = {
    Role.SCHEDULER: "Its scheduler {worker} stopped beating, or lost track of it.",
    Role.WORKER: "Its worker {worker} stopped beating, or its process ended.",
    "": "Its scheduler or worker {worker} stopped beating.",
}


def _by_role(runs: list[JobRun], roles: dict[str, str]) -> dict[str, list[JobRun]]:
    groups: dict[str, list[JobRun]] = {}
    for run in runs:
        groups.setdefault(roles.get(run.worker, ""), []).append(run)
    return groups


class Housekeeping:
    """The housekeeping of scheduler ``instance`` on ``host``, each chore on its period."""

    def __init__(self, instance: str, host: str, executor: Executor) -> None:
        self.instance = instance
        self.host = host
        self.executor = executor
        self.presence = Presence(instance, host)
        self.next_heartbeat = 0.0  # time.monotonic()
        self._reported: set[str] = set()
        self.notices_looked_at: datetime | None = None  # the database's clock

    def run_due(self) -> None:
        """Whatever chores are due: called at the top of every loop."""
        clock = time.monotonic()
        if clock >= self.next_heartbeat:
            self.next_heartbeat = clock + settings.HEARTBEAT_INTERVAL
            now = self.presence.heartbeat()
            self.reap_lost(now)
            self.miss_unstarted(now)
            self._report_unknown_tasks(now)
            since, self.notices_looked_at = self.notices_looked_at, now
            notifications.send(notifications.claim_notices(now, since))

    def register(self) -> None:
        """Register the scheduler and reap what dead schedulers on this host left."""
        now = db_now()
        self.presence.register(now)
        self.reap_lost(now)

    def deregister(self) -> None:
        self.presence.deregister()

    @contextmanager
    def beating(self) -> Iterator[None]:
        """Registered, and beating from a thread of its own, while the block runs (a
        manual run in the foreground): no other scheduler takes its runs for lost."""
        self.register()
        done = threading.Event()
        beating = self.presence.beat_in_background(done)
        try:
            yield
        finally:
            done.set()
            beating.join()
            self.deregister()

    def reap_lost(self, now: datetime) -> int:
        """End the runs of schedulers and workers that stopped beating, or whose process on
        this host is gone; returns how many."""
        lost_after = timedelta(seconds=settings.LOST_AFTER)
        dead = set(SchedulerInstance.objects.dead(now, lost_after).values_list("pk", flat=True))
        dead |= self._dead_on_this_host()
        alive = SchedulerInstance.objects.alive(now, lost_after).exclude(pk__in=dead)
        orphaned = (
            JobRun.objects.active()
            .exclude(worker="")
            .exclude(status=RunStatus.SCHEDULED, queued_at__isnull=False)  # in a queue
            .exclude(worker__in=alive.values("pk"))
            .filter(Q(worker__in=dead) | Q(scheduled_for__lt=now - lost_after))
        )
        if self.executor.owns_runs:  # ours, but no worker holds them: a database error
            mine = JobRun.objects.active().filter(worker=self.instance)  # cut a start or end
            orphaned |= mine.exclude(pk__in=self.executor.running_ids())
        # Read first, then write each by primary key, re-checking its state: one UPDATE
        # over the orphan query locked rows in index order and deadlocked with workers.
        running = []
        for run in orphaned.select_related("job").order_by("pk")[:REAP_BATCH]:
            if run.status == RunStatus.SCHEDULED:  # never sent: any scheduler may take it
                JobRun.objects.filter(pk=run.pk, status=run.status, worker=run.worker).update(
                    worker=""
                )
            else:
                running.append(run)
        roles = dict(
            SchedulerInstance.objects.filter(pk__in={run.worker for run in running}).values_list(
                "pk", "role"
            )
        )
        count = sum(
            end(group, RunStatus.LOST, LOST_BECAUSE[role], now)
            for role, group in _by_role(running, roles).items()
        )
        SchedulerInstance.objects.filter(pk__in=dead).exclude(pk=self.instance).delete()
        if count:
            logger.warning(
                "tablecron: marked %d runs of stopped schedulers and workers as lost", count
            )
        return count

    def _dead_on_this_host(self) -> set[str]:
        return {
            pk
            for pk, pid in SchedulerInstance.objects.filter(host=self.host)
            .exclude(pk=self.instance)
            .values_list("pk", "pid")
            if not process_exists(pid)
        }

    def miss_unstarted(self, now: datetime) -> int:
        """End as ``missed`` the runs that waited in an executor's queue longer than
        ``QUEUED_LIMIT`` (no worker listens on it, say); returns how many."""
        limit = now - timedelta(seconds=settings.QUEUED_LIMIT)
        stale = (
            JobRun.objects.filter(status=RunStatus.SCHEDULED, queued_at__lt=limit)
            .exclude(worker="")
            .select_related("job")[:REAP_BATCH]
        )
        error = (
            f"No worker started it within {timedelta(seconds=settings.QUEUED_LIMIT)} of its "
            "being queued (QUEUED_LIMIT)."
        )
        count = end(stale, RunStatus.MISSED, error, now)
        if count:
            logger.warning("tablecron: %d queued runs were never started; marked missed", count)
        return count

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
