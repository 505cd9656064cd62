"""The loop: housekeeping, claim what is due, hand it to the executor, sleep.

Claiming (``tablecron.claiming``) and housekeeping (``tablecron.housekeeping``) do the
work; this module decides when.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import time
from datetime import datetime

from django.db import DatabaseError

from tablecron import notifications
from tablecron.claiming import Claimer
from tablecron.conf import settings
from tablecron.db import close_all_connections, close_old_connections, db_now
from tablecron.execution import Claim, execute
from tablecron.executors import Executor, get_executor
from tablecron.housekeeping import Housekeeping
from tablecron.models import Job, JobRun, RunStatus, RunTrigger
from tablecron.models.run import ACTIVE
from tablecron.outcomes import end, write_now
from tablecron.retention import Pruner
from tablecron.running import watcher
from tablecron.wakeup import waiter_for

logger = logging.getLogger("tablecron")

BATCH_SIZE = 500
BUSY_DELAY = 0.02  # seconds: due rows are locked by another scheduler's claim
LISTENING_POLL = 10.0  # seconds between polls where notifications announce every change
MAX_BACKOFF = 30.0  # seconds between attempts while the database is away


class Scheduler:
    """One scheduler: ``run()`` loops until ``stop()``; ``run_once()`` is a single loop."""

    def __init__(self, executor: Executor | None = None, *, batch_size: int = BATCH_SIZE) -> None:
        self.executor = executor or get_executor()
        self.batch_size = batch_size
        self.host = socket.gethostname()
        self.id = f"{self.host}:{os.getpid()}:{secrets.token_hex(3)}"
        self.claimer = Claimer(self.id, self.executor)
        self.housekeeping = Housekeeping(self.id, self.host, self.executor)
        self._stop = threading.Event()
        self._waiter = waiter_for(self._stop)
        self._pruning: threading.Thread | None = None
        self._pruning_done = threading.Event()
        self._full = False  # the last claim took as many runs as it asked for

    def start(self) -> None:
        """Register this scheduler (and reap what dead ones on this host left)."""
        self.housekeeping.register()
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
                        self._pruning = Pruner().prune_in_background(self._pruning_done)
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

    def run_once(self) -> float:
        """Claim and submit what is due; returns the seconds to wait before the next loop."""
        close_old_connections()
        try:
            self.housekeeping.run_due()
            capacity = min(self.batch_size, self.executor.free_slots())
            if capacity <= 0:
                self.executor.expire()
                self.executor.wait_for_slot(settings.POLL_INTERVAL)
                return 0.0
            # After a claim that took all it asked for, more is most likely due: claim
            # again without asking first (a backlog's drain saves a query a batch).
            if not self._full:
                asked = time.monotonic()
                now, soonest = self.claimer.soonest()
                if soonest is None or soonest > now + self.claimer.lookahead:  # the idle case
                    self.executor.expire()
                    return self._delay(now, soonest, asked)
            claims = self.claimer.claim(capacity)
            self._full = len(claims) >= capacity
            if not self.executor.submits_in_claim:
                self.executor.submit_many(claims)
            self.executor.expire()
            # Nothing claimed: another scheduler holds the due rows for a moment.
            return 0.0 if claims else min(settings.POLL_INTERVAL, BUSY_DELAY)
        finally:
            close_old_connections()

    def _delay(self, now: datetime, soonest: datetime | None, asked: float) -> float:
        """Until the claimer's look-ahead before ``soonest``, at most the poll interval
        (longer where notifications wake the scheduler on every change), and never past
        the next heartbeat: a scheduler that sleeps through it is taken for dead."""
        poll = LISTENING_POLL if self._waiter.listening else settings.POLL_INTERVAL
        poll = min(poll, self.housekeeping.next_heartbeat - time.monotonic())
        if soonest is not None:
            poll = min(
                poll,
                (soonest - self.claimer.lookahead - now).total_seconds()
                - (time.monotonic() - asked),
            )
        return max(0.0, poll)

    def shutdown(self) -> None:
        """Stop pruning, hand back claimed runs not yet sent, wait for running work,
        deregister."""
        self._pruning_done.set()
        if self._pruning is not None:
            self._pruning.join()
        try:
            self._hand_back_unsent()
            unfinished = self.executor.shutdown(settings.SHUTDOWN_GRACE)
            if unfinished:
                error = "The scheduler stopped before the run finished."
                watcher.cancel_here(unfinished, "the scheduler, stopping")  # tasks that listen
                runs = JobRun.objects.filter(pk__in=unfinished, status__in=ACTIVE, worker=self.id)
                end(runs.select_related("job"), RunStatus.CANCELLED, error, db_now())
            self.housekeeping.deregister()
            notifications.courier.flush(settings.SHUTDOWN_GRACE)
        except DatabaseError:
            logger.exception("tablecron: could not deregister %s; it will be reaped", self.id)
        finally:
            close_all_connections()
        logger.info("tablecron: scheduler %s stopped", self.id)

    def _hand_back_unsent(self) -> None:
        """Claimed runs not yet in an executor's hands: any scheduler may take them."""
        JobRun.objects.filter(
            worker=self.id, status=RunStatus.SCHEDULED, queued_at__isnull=True
        ).update(worker="")

    def execute_now(self, job: Job) -> JobRun:
        """Run ``job`` once in this thread, as a manual run held by this scheduler."""
        with self.housekeeping.beating():
            now = db_now()
            run = JobRun.objects.create(
                job=job,
                job_name=job.name,
                scheduled_for=now,
                not_before=now,
                worker=self.id,
                claimed_by=self.id,
                trigger=RunTrigger.MANUAL,
                status=RunStatus.SCHEDULED,
            )
            followed = job.followers.exists()  # its success runs them
            execute(Claim.of(job, run.pk, run.scheduled_for, self.id, followed=followed), write_now)
        run.refresh_from_db()
        return run
