"""Executing one claimed run and writing its outcome back to its ``JobRun`` row.

Every transition is a single conditional UPDATE, so a run that was meanwhile marked
``timed_out``, ``lost`` or ``cancelled`` by another party keeps that status.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import logging
import time
import traceback
from datetime import datetime
from typing import Any

from django.db import DatabaseError, connections, transaction
from django.dispatch import Signal
from django.utils import timezone

from tablecron.conf import settings
from tablecron.db import close_all_connections, close_old_connections, run_sql
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
_RESULT = JobRun._meta.get_field("result")
RETRYABLE = (RunStatus.FAILED, RunStatus.TIMED_OUT, RunStatus.LOST)
FINISH_ATTEMPTS = 6  # about 6 s of retries in all


def current_claim() -> Claim | None:
    """The claim being executed in this thread or task, for code called by a task."""
    return _current.get()


def start(claim: Claim) -> datetime | None:
    """Mark the run running; None when it is no longer this worker's to start."""
    now = timezone.now()
    started = run_sql(
        "UPDATE {run} SET status = %s, started_at = %s "
        "WHERE id = %s AND status = %s AND worker = %s",
        [RunStatus.RUNNING, now, claim.run_id, RunStatus.SCHEDULED, claim.worker],
    )
    return now if started else None


def finish(claim: Claim, status: str, *, result: Any = None, error: str = "") -> bool:
    """Record the outcome of a running run; False if it was already ended by someone else.

    The job's ``last_status`` follows only its newest run (the claim set ``last_run_at``
    to that run's scheduled time). A failure that may be retried is recorded together
    with its retry, in one transaction.
    """
    now = timezone.now()
    stored_result = _RESULT.get_db_prep_save(result, connections["default"])
    retry = status in RETRYABLE and claim.job_id is not None and claim.attempt <= claim.max_retries
    with transaction.atomic() if retry else contextlib.nullcontext():
        ended = run_sql(
            "UPDATE {run} SET status = %s, finished_at = %s, result = %s, error = %s "
            "WHERE id = %s AND status = %s",
            [status, now, stored_result, error[-ERROR_MAX_CHARS:], claim.run_id, RunStatus.RUNNING],
        )
        if ended and claim.job_id is not None:
            run_sql(
                "UPDATE {job} SET last_status = %s WHERE id = %s AND last_run_at = %s",
                [status, claim.job_id, claim.scheduled_for],
            )
        if ended and retry:
            schedule_retry(claim, now)
    return bool(ended)


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


def encode_result(value: Any) -> tuple[Any, str]:
    """The result as stored (JSON, size-capped), and an error if it cannot be stored."""
    try:
        text = json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        return None, f"The task returned a value that is not JSON ({exc}): {value!r}"[:2000]
    limit = settings.RESULT_MAX_BYTES
    if len(text.encode()) > limit:
        return {"truncated": True, "bytes": len(text.encode()), "start": text[: limit // 2]}, ""
    return value, ""


def execute(claim: Claim) -> str | None:
    """Execute ``claim`` in this thread; returns the final status, None if not started."""
    close_old_connections()
    token = _current.set(claim)
    try:
        if start(claim) is None:
            return None
        _send(run_started, claim)
        status, result, error = _outcome(claim)
        if _finish_despite_outages(claim, status, result, error):
            _send(run_finished, claim)
        return status
    finally:
        _current.reset(token)
        close_old_connections()


def _finish_despite_outages(claim: Claim, status: str, result: Any, error: str) -> bool:
    """The outcome is known only here: keep trying to record it through a short outage."""
    for attempt in range(FINISH_ATTEMPTS):
        try:
            return finish(claim, status, result=result, error=error)
        except DatabaseError:
            if attempt == FINISH_ATTEMPTS - 1:
                raise
            logger.warning("tablecron: could not record run %d; retrying", claim.run_id)
            close_all_connections()
            time.sleep(min(0.2 * 2**attempt, 5.0))
    return False


def _send(signal: Signal, claim: Claim) -> None:
    if signal.has_listeners(JobRun):  # spare the query when nobody listens
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
