"""``EXECUTOR: "celery"``: each claim becomes a Celery message; Celery workers run it.

Works with a Celery app set up as Celery's "First steps with Django" guide does: the
app is the current one, and ``autodiscover_tasks()`` finds the worker side in
``tablecron.tasks`` since ``tablecron`` is an installed app. Workers are the plain
``celery -A proj worker``. Each message goes to its job's ``queue`` (Celery's default
queue if empty), with the job's ``timeout`` as its soft time limit and a hard one
shortly after, and expires after ``QUEUED_LIMIT``.

With ``CELERY_RUNS_PER_MESSAGE`` above 1, runs due at the same time in the same queue,
of jobs without a timeout, go up to that many to a message (``tablecron.run_many``):
the worker starts them in one statement and runs them one after another. For many
short jobs: it divides Celery's cost a run and the worker's round trips.

While the broker is away, claims wait, in order, and are sent when it is back (see
``QueueExecutor``).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from celery import Celery, Task, current_app, shared_task
from celery.exceptions import SoftTimeLimitExceeded, TimeLimitExceeded
from celery.signals import worker_process_shutdown, worker_shutdown
from django.core.checks import CheckMessage, Warning
from django.db import DatabaseError
from django.utils import timezone
from kombu.exceptions import OperationalError

from tablecron.conf import settings
from tablecron.execution import Claim
from tablecron.executors.queues import QueueExecutor
from tablecron.models import JobRun, RunStatus
from tablecron.models.run import cancelled_error
from tablecron.outcomes import finish
from tablecron.workers import (
    flush_outcomes,
    interrupt_main_thread,
    run_message,
    run_messages,
    stop_on_sigterm,
)

TASK_NAME = "tablecron.run"
MANY_TASK_NAME = "tablecron.run_many"
DB_RETRIES = 12  # about 10 minutes of a database away


def hard_time_limit(timeout: timedelta) -> float:
    """When Celery kills a run that ignored its soft time limit: 10 % (at least 1 s) later."""
    seconds = timeout.total_seconds()
    return seconds + max(1.0, seconds / 10)


class CeleryExecutor(QueueExecutor):
    name = "celery"
    away_errors = (OperationalError, OSError)
    # Each message carries its run's time as its ETA: a worker's main process holds it
    # until then, outside its pool, so runs are claimed and sent ahead of time: early
    # enough that sending a second's burst of runs (a round trip to the broker each) is
    # over when they fall due. 0.1 s kept up with 100 every-second jobs, 0.3 s with 200
    # (docs/benchmarks.md).
    claims_ahead = timedelta(seconds=0.3)

    def __init__(self, app: Celery | None = None) -> None:
        super().__init__()
        self.app = app or current_app
        self._producer: Any = None

    @classmethod
    def check(cls) -> list[CheckMessage]:
        if current_app.main != "default":  # a project's app, not Celery's fallback
            return []
        return [
            Warning(
                'TABLECRON["EXECUTOR"] is "celery", but no Celery app is set up in this '
                "process: runs would go to Celery's default broker.",
                hint="Create proj/celery.py as Celery's “First steps with Django” shows, and "
                "import its app in proj/__init__.py.",
                id="tablecron.W004",
            )
        ]

    @contextmanager
    def sending(self) -> Iterator[object]:
        """One producer (one broker connection) for a batch of claims."""
        with self.app.producer_or_acquire() as producer:
            self._producer = producer
            try:
                yield producer
            finally:
                self._producer = None

    def next_message(self, unsent: Sequence[Claim]) -> int:
        """The first claim and those after it that share its queue and its time (as the
        message's ETA), up to ``CELERY_RUNS_PER_MESSAGE``; a run with a timeout goes
        alone, with its time limits."""
        most = min(settings.CELERY_RUNS_PER_MESSAGE, len(unsent))
        now = timezone.now()

        def key(claim: Claim) -> tuple[str, datetime | None] | None:
            if claim.timeout is not None:
                return None
            return claim.queue, _eta(claim, now)

        first = key(unsent[0])
        count = 1
        while count < most and first is not None and key(unsent[count]) == first:
            count += 1
        return count

    def publish(self, claim: Claim) -> None:
        limits: dict[str, Any] = {}
        if claim.timeout is not None:
            limits = {
                "soft_time_limit": claim.timeout.total_seconds(),
                "time_limit": hard_time_limit(claim.timeout),
            }
        self._send_task(TASK_NAME, claim.to_message(), claim, f"run {claim.run_id}", **limits)

    def publish_many(self, claims: list[Claim]) -> None:
        messages = [claim.to_message() for claim in claims]
        ids = ", ".join(str(claim.run_id) for claim in claims)
        self._send_task(MANY_TASK_NAME, messages, claims[0], f"runs {ids}")

    def _send_task(self, task: str, body: Any, first: Claim, runs: str, **limits: Any) -> None:
        now = timezone.now()
        self.app.send_task(
            task,
            args=[body],
            queue=first.queue or None,
            eta=_eta(first, now),
            expires=now + timedelta(seconds=settings.QUEUED_LIMIT),
            retry=False,  # a broker away is retried by the loop, not inside it
            producer=self._producer,
            # What Flower and the worker's log show for the message (Celery's default
            # repr of the whole claim is slow to make and hard to read).
            argsrepr=f"{runs} of {first.job_name!r}",
            kwargsrepr="{}",
            **limits,
        )


def _eta(claim: Claim, now: datetime) -> datetime | None:
    """When a worker may start the claim's run: None if it may now."""
    return claim.not_before if claim.not_before > now else None


class RunTask(Task):  # type: ignore[misc]  # Celery has no type hints
    """The worker side. Late acknowledgement: a worker that dies before it acknowledged
    the message has it redelivered, and the run's conditional start makes that safe."""

    acks_late = True
    reject_on_worker_lost = True
    ignore_result = True  # the run's row holds the result

    def on_failure(
        self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any
    ) -> None:
        """Celery calls this in the worker's main process when the hard time limit killed
        the process running the task: the run ends ``timed_out`` (retried if asked)."""
        if isinstance(exc, TimeLimitExceeded) and args:
            messages = args[0] if isinstance(args[0], list) else [args[0]]  # run_many's
            for message in messages:  # those that began and had not ended
                claim = Claim.from_message(message)
                error = f"Celery killed it at its time limit: {exc!r}"
                finish(claim, RunStatus.TIMED_OUT, error=error)


def _revoker(task_id: str) -> Callable[[Claim], object]:
    """How a Celery worker stops a run someone cancelled. The watcher that learns of the
    request runs in the task's own pool process: it sends SIGTERM to the process's main
    thread, where the task runs, which ``stop_on_sigterm()`` turns into ``RunCancelled``
    inside the task, so the run ends ``cancelled`` with its output. If it has not ended
    ``CANCEL_GRACE`` later, it is recorded cancelled and the task revoked with terminate
    and SIGKILL, which the worker's main process sends to this one.

    Not a revoke with SIGTERM first: the worker's main process sends that signal to the
    pool process, whose kernel may hand it to a thread other than the main one, and the
    task, asleep in ``time.sleep()`` say, then never hears it (seen once in five here)."""

    def stop(claim: Claim) -> None:
        interrupt_main_thread()

        def kill() -> None:
            asked = JobRun.objects.filter(pk=claim.run_id).values_list("cancel_requested_by")
            by = (asked.first() or ("",))[0]
            error = (
                f"{cancelled_error(by)} It did not stop within CANCEL_GRACE "
                f"({settings.CANCEL_GRACE} s) and was killed."
            )
            if finish(claim, RunStatus.CANCELLED, error=error):
                current_app.control.revoke(task_id, terminate=True, signal="SIGKILL")

        timer = threading.Timer(settings.CANCEL_GRACE, kill)
        timer.daemon = True
        timer.start()

    return stop


@shared_task(bind=True, base=RunTask, name=TASK_NAME)  # type: ignore[untyped-decorator]
def run(task: RunTask, message: dict[str, Any]) -> str | None:
    return _execute(task, functools.partial(run_message, message, aside=True))


@shared_task(bind=True, base=RunTask, name=MANY_TASK_NAME)  # type: ignore[untyped-decorator]
def run_many(task: RunTask, messages: list[dict[str, Any]]) -> list[str | None]:
    return _execute(task, functools.partial(run_messages, messages))


def _execute[T](task: RunTask, runner: Callable[..., T]) -> T:
    """Run ``runner`` (``run_message`` or ``run_messages``, their message bound) as this
    task; its outcomes go to the process's writer thread (see ``_flush_outcomes()``)."""
    stoppable = stop_on_sigterm()
    try:
        return runner(
            engine="celery",
            engine_id=task.request.id,
            timeouts=(SoftTimeLimitExceeded,),
            stop=_revoker(task.request.id) if stoppable else None,
        )
    except DatabaseError as exc:
        # The database was away before the runs started (an outcome is retried where it
        # is written): try the message again later; the runs' conditional start makes
        # that safe.
        retries = task.request.retries
        raise task.retry(exc=exc, countdown=min(60, 2**retries), max_retries=DB_RETRIES) from exc


def _flush_outcomes(**_: Any) -> None:
    """The outcomes a process still holds are written before it ends (a warm shutdown,
    or ``max_tasks_per_child``)."""
    flush_outcomes()


worker_process_shutdown.connect(_flush_outcomes, weak=False)  # a pool process: os._exit()
worker_shutdown.connect(_flush_outcomes, weak=False)  # the main process (solo, threads)
