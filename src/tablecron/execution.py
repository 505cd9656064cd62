"""Executing one claimed run and writing its outcome back to its ``JobRun`` row.

Every transition is a conditional UPDATE, so a run that was meanwhile marked
``timed_out``, ``lost`` or ``cancelled`` by another party keeps that status. Outcomes
are written in batches, one transaction for all the runs that ended meanwhile.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import DatabaseError, OperationalError, transaction
from django.dispatch import Signal
from django.utils import timezone

from tablecron.conf import settings
from tablecron.db import (
    Finished,
    close_all_connections,
    close_old_connections,
    finish_runs,
    is_lock_timeout,
    run_sql,
    writable,
)
from tablecron.exceptions import UnknownTask
from tablecron.executors.base import Claim
from tablecron.models import JobRun, RunStatus, RunTrigger
from tablecron.registry import RegisteredTask, tasks
from tablecron.signals import run_finished, run_started

logger = logging.getLogger("tablecron")

_current: contextvars.ContextVar[Claim | None] = contextvars.ContextVar(
    "tablecron_run", default=None
)
ERROR_MAX_CHARS = 20_000
RETRYABLE = (RunStatus.FAILED, RunStatus.TIMED_OUT, RunStatus.LOST)
FINISH_ATTEMPTS = 6  # about 6 s of retries in all


def current_claim() -> Claim | None:
    """The claim being executed in this thread or task, for code called by a task."""
    return _current.get()


@dataclass(frozen=True)
class Outcome:
    """How a run ended, to be written to its row. ``result`` is JSON text (or None)."""

    claim: Claim
    status: str
    started_at: datetime | None
    finished_at: datetime
    result: str | None = None
    error: str = ""

    @property
    def retries(self) -> bool:
        claim = self.claim
        return (
            self.status in RETRYABLE
            and claim.job_id is not None
            and claim.attempt <= claim.max_retries
        )

    @property
    def row(self) -> Finished:
        error = self.error[-ERROR_MAX_CHARS:]
        return (
            self.claim.run_id,
            self.status,
            self.started_at,
            self.finished_at,
            self.result,
            error,
        )


def start(claim: Claim) -> datetime | None:
    """Mark a claimed run running; None when it is no longer this worker's to start."""
    now = timezone.now()
    started = run_sql(
        "UPDATE {run} SET status = %s, started_at = %s "
        "WHERE id = %s AND status = %s AND worker = %s",
        [RunStatus.RUNNING, now, claim.run_id, RunStatus.SCHEDULED, claim.worker],
    )
    return now if started else None


def finish(claim: Claim, status: str, *, error: str = "") -> bool:
    """End a running run now (a timeout, say); False if someone else ended it first."""
    return bool(record([Outcome(claim, status, None, timezone.now(), None, error)]))


def record(outcomes: Sequence[Outcome]) -> int:
    """Write ``outcomes``; returns how many ended runs that were still running.
    ``run_finished`` is sent for those after their commit.

    Most go in one batch, one transaction that never waits for a row while holding
    others (see ``db.writable()``). Outcomes whose rows are busy, a failure that may be
    retried (written with its retry), and every outcome while ``run_finished`` has
    listeners (so that it goes exactly for the runs ended here) are written one by one,
    each in a transaction that holds one run and one job.
    """
    one_by_one = bool(run_finished.receivers) and run_finished.has_listeners(JobRun)
    batch = [] if one_by_one else [o for o in outcomes if not o.retries]
    ready: list[Outcome] = []
    count = 0
    try:
        if batch:  # else no transaction at all: each goes alone below
            with transaction.atomic():
                free = writable([(o.claim.run_id, o.claim.job_id) for o in batch])
                ready = [o for o in batch if o.claim.run_id in free]
                count = finish_runs([o.row for o in ready])
    except OperationalError as exc:
        if not is_lock_timeout(exc):
            raise
        logger.debug("tablecron: %d outcomes met a busy row; writing them one by one", len(batch))
        ready, count = [], 0
    ready_ids = {id(o) for o in ready}
    ended = [o for o in outcomes if id(o) not in ready_ids and _record_one(o)]
    for outcome in ended:
        _send(run_finished, outcome.claim)
    return count + len(ended)


def _record_one(outcome: Outcome) -> bool:
    with transaction.atomic():
        if not finish_runs([outcome.row]):
            return False
        if outcome.retries:
            schedule_retry(outcome.claim, outcome.finished_at)
    return True


def schedule_retry(claim: Claim, now: datetime) -> JobRun | None:
    """A new attempt of a failed run, if the job allows one, waiting ``retry_delay``."""
    if claim.job_id is None or claim.attempt > claim.max_retries:
        return None
    return JobRun.objects.create(
        job_id=claim.job_id,
        job_name=claim.job_name,
        scheduled_for=claim.scheduled_for,
        attempt=claim.attempt + 1,
        trigger=RunTrigger.RETRY,
        status=RunStatus.SCHEDULED,
        not_before=now + claim.retry_delay,
    )


def call(task: RegisteredTask, claim: Claim) -> Any:
    """Run the task's function (or enqueue its Django Task) and return its result."""
    if task.is_django_task:
        enqueued = task.target.enqueue(*claim.args, **claim.kwargs)
        return {"enqueued": str(enqueued.id), "backend": enqueued.backend}
    if task.is_async:
        coroutine = task.func(*claim.args, **claim.kwargs)
        timeout = claim.timeout.total_seconds() if claim.timeout else None
        return asyncio.run(asyncio.wait_for(coroutine, timeout))
    return task.func(*claim.args, **claim.kwargs)


def encode_result(value: Any) -> tuple[str | None, str]:
    """The result as stored (JSON text, size-capped; None for None), and an error if it
    cannot be stored."""
    if value is None:  # what most tasks return
        return None, ""
    try:
        text = json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        return None, f"The task returned a value that is not JSON ({exc}): {value!r}"[:2000]
    size = len(text.encode())
    if size > settings.RESULT_MAX_BYTES:
        start = text[: settings.RESULT_MAX_BYTES // 2]
        return json.dumps({"truncated": True, "bytes": size, "start": start}), ""
    return text, ""


def execute(claim: Claim, write: Callable[[Outcome], None] | None = None) -> str | None:
    """Execute ``claim`` in this thread; returns the final status, None if not started.

    The outcome goes to ``write`` (a ``BatchWriter``'s, say), by default written at once.
    Connections are checked before each run (not after too: the next run's check, or
    the thread's end, deals with what this one left).
    """
    close_old_connections()
    token = _current.set(claim)
    try:
        if (early := claim.start_after - time.monotonic()) > 0:
            time.sleep(early)
        started_at = timezone.now()
        if not claim.running and start(claim) is None:
            return None
        _send(run_started, claim)
        status, result, error = _outcome(claim)
        outcome = Outcome(claim, status, started_at, timezone.now(), result, error)
        (write or write_now)(outcome)
        return status
    finally:
        _current.reset(token)


def write_now(outcome: Outcome) -> None:
    record_despite_outages([outcome])


def record_despite_outages(outcomes: Sequence[Outcome]) -> int:
    """The outcomes are known only here: keep trying to record them through a short
    outage. Runs whose outcome could not be written stay running until reaped as lost."""
    for attempt in range(FINISH_ATTEMPTS):
        try:
            return record(outcomes)
        except DatabaseError:
            if attempt == FINISH_ATTEMPTS - 1:
                raise
            logger.warning("tablecron: could not record %d runs; retrying", len(outcomes))
            close_all_connections()
            time.sleep(min(0.2 * 2**attempt, 5.0))
    return 0


class BatchWriter:
    """Writes outcomes from many threads in few transactions (group commit).

    A thread that finds no write in progress writes every outcome recorded so far, and
    goes on while more arrive; the others only add theirs and return. One commit then
    carries many runs: each commit costs the database a flush to disk. ``written`` is
    called with the run ids of each batch, written or, after an outage, given up.
    """

    def __init__(self, written: Callable[[list[int]], None]) -> None:
        self._written = written
        self._lock = threading.Lock()
        self._pending: list[Outcome] = []
        self._writing = False

    def write(self, outcome: Outcome) -> None:
        with self._lock:
            self._pending.append(outcome)
            if self._writing:
                return
            self._writing = True
        try:
            while batch := self._take():  # ends with _writing cleared, under the lock
                try:
                    record_despite_outages(batch)
                except DatabaseError:
                    logger.exception("tablecron: could not record %d runs", len(batch))
                finally:
                    self._written([o.claim.run_id for o in batch])
        except BaseException:
            with self._lock:
                self._writing = False
            raise

    def _take(self) -> list[Outcome]:
        with self._lock:
            batch, self._pending = self._pending, []
            if not batch:
                self._writing = False
            return batch


def _send(signal: Signal, claim: Claim) -> None:
    if signal.receivers and signal.has_listeners(JobRun):  # spare the query otherwise
        signal.send(JobRun, run=JobRun.objects.get(pk=claim.run_id))


def _outcome(claim: Claim) -> tuple[str, Any, str]:
    try:
        value = call(tasks.get(claim.task), claim)
    except UnknownTask:
        return RunStatus.FAILED, None, f"No task named {claim.task!r} is registered here."
    except TimeoutError:
        return RunStatus.TIMED_OUT, None, traceback.format_exc()
    except Exception:
        logger.exception("tablecron: job %r raised", claim.job_name)
        return RunStatus.FAILED, None, traceback.format_exc()
    result, error = encode_result(value)
    return (RunStatus.FAILED if error else RunStatus.SUCCEEDED), result, error
