"""Executing one claimed run and writing its outcome back to its ``JobRun`` row.

Every transition is a single conditional UPDATE, so a run that was meanwhile marked
``timed_out``, ``lost`` or ``cancelled`` by another party keeps that status.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import traceback
from datetime import datetime
from typing import Any

from django.db import models, transaction
from django.dispatch import Signal
from django.utils import timezone

from tablecron.conf import settings
from tablecron.db import close_old_connections
from tablecron.exceptions import UnknownTask
from tablecron.executors.base import Claim
from tablecron.models import Job, JobRun, RunStatus, RunTrigger
from tablecron.registry import RegisteredTask, tasks
from tablecron.signals import run_finished, run_started

logger = logging.getLogger("tablecron")

_current: contextvars.ContextVar[Claim | None] = contextvars.ContextVar(
    "tablecron_run", default=None
)
ERROR_MAX_CHARS = 20_000


def current_claim() -> Claim | None:
    """The claim being executed in this thread or task, for code called by a task."""
    return _current.get()


def _jobs() -> models.QuerySet[Job]:
    # Plain queryset: these writes touch only the package's own columns.
    return models.QuerySet(Job)


def start(claim: Claim) -> datetime | None:
    """Mark the run running; None when it is no longer ``scheduled`` (cancelled, taken)."""
    now = timezone.now()
    claimed = JobRun.objects.filter(
        pk=claim.run_id, status=RunStatus.SCHEDULED, worker=claim.worker
    )
    if not claimed.update(status=RunStatus.RUNNING, started_at=now):
        return None
    if claim.job_id is not None:
        _jobs().filter(pk=claim.job_id).update(last_run_at=now, last_status=RunStatus.RUNNING)
    return now


def finish(claim: Claim, status: str, *, result: Any = None, error: str = "") -> bool:
    """Record the outcome of a running run; False if it was already ended by someone else."""
    now = timezone.now()
    with transaction.atomic():
        ended = JobRun.objects.filter(pk=claim.run_id, status=RunStatus.RUNNING).update(
            status=status, finished_at=now, result=result, error=error[-ERROR_MAX_CHARS:]
        )
        if ended:
            _record_on_job(claim, status)
            if status in (RunStatus.FAILED, RunStatus.TIMED_OUT, RunStatus.LOST):
                schedule_retry(claim, now)
    return bool(ended)


def _record_on_job(claim: Claim, status: str) -> None:
    if claim.job_id is None:
        return
    started = JobRun.objects.filter(pk=claim.run_id).values_list("started_at", flat=True)
    # Only the newest run speaks for the job in list views.
    _jobs().filter(pk=claim.job_id, last_run_at=models.Subquery(started[:1])).update(
        last_status=status
    )


def schedule_retry(claim: Claim, now: datetime) -> JobRun | None:
    """A new attempt of a failed run, if the job allows one, waiting ``retry_delay``."""
    if claim.job_id is None or claim.attempt > claim.max_retries:
        return None
    original = JobRun.objects.only("scheduled_for").get(pk=claim.run_id)
    return JobRun.objects.create(
        job_id=claim.job_id,
        job_name=claim.job_name,
        scheduled_for=original.scheduled_for,
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
        if finish(claim, status, result=result, error=error):
            _send(run_finished, claim)
        return status
    finally:
        _current.reset(token)
        close_old_connections()


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
