"""``EXECUTOR: "celery"``: each claim becomes a Celery message; Celery workers run it.

Works with a Celery app set up as Celery's "First steps with Django" guide does: the
app is the current one, and ``autodiscover_tasks()`` finds the worker side in
``tablecron.tasks`` since ``tablecron`` is an installed app. Workers are the plain
``celery -A proj worker``. Each message goes to its job's ``queue`` (Celery's default
queue if empty), with the job's ``timeout`` as its soft time limit and a hard one
shortly after, and expires after ``QUEUED_LIMIT``.

While the broker is away, claims wait here, in order, and are sent when it is back; the
scheduler claims nothing more meanwhile. If this process dies with claims unsent, their
runs are handed back to the other schedulers (see ``Housekeeping.reap_lost``).
"""

from __future__ import annotations

import logging
from collections import deque
from datetime import timedelta
from typing import Any

from celery import Celery, Task, current_app, shared_task
from celery.exceptions import SoftTimeLimitExceeded, TimeLimitExceeded
from django.db.models.functions import Now
from django.utils import timezone
from kombu.exceptions import OperationalError

from tablecron.conf import settings
from tablecron.execution import Claim
from tablecron.executors.base import Executor
from tablecron.models import JobRun, RunStatus
from tablecron.outcomes import finish
from tablecron.workers import run_message

logger = logging.getLogger("tablecron")

TASK_NAME = "tablecron.run"
BROKER_ERRORS = (OperationalError, OSError)


def hard_time_limit(timeout: timedelta) -> float:
    """When Celery kills a run that ignored its soft time limit: 10 % (at least 1 s) later."""
    seconds = timeout.total_seconds()
    return seconds + max(1.0, seconds / 10)


class CeleryExecutor(Executor):
    name = "celery"
    starts_at_claim = False
    owns_runs = False

    def __init__(self, app: Celery | None = None) -> None:
        self.app = app or current_app
        self._unsent: deque[Claim] = deque()
        self._broker_away = False

    def submit(self, claim: Claim) -> None:
        self._unsent.append(claim)
        self._send()

    def free_slots(self) -> int:
        return 0 if self._unsent else super().free_slots()

    def wait_for_slot(self, timeout: float) -> None:
        """Try the unsent claims again; wait out ``timeout`` if the broker is still away."""
        self._send()
        if self._unsent:
            super().wait_for_slot(timeout)

    def _send(self) -> None:
        """Send the unsent claims in order, until the broker fails; record when the runs
        were queued (a dead scheduler's unsent runs are handed back, its sent ones not)."""
        sent = []
        try:
            while self._unsent:
                claim = self._unsent[0]
                try:
                    self._publish(claim)
                    sent.append(claim.run_id)
                except BROKER_ERRORS as exc:
                    if not self._broker_away:
                        logger.warning("tablecron: Celery's broker is away (%s); claims wait", exc)
                    self._broker_away = True
                    return
                except Exception as exc:  # a claim that can never be sent: say so in its row
                    logger.exception("tablecron: could not send run %d to Celery", claim.run_id)
                    _fail_unsent(claim, f"It could not be sent to Celery: {exc!r}")
                if self._broker_away:
                    logger.warning("tablecron: Celery's broker is back")
                    self._broker_away = False
                self._unsent.popleft()
        finally:
            if sent:
                JobRun.objects.filter(pk__in=sent, queued_at__isnull=True).update(queued_at=Now())

    def _publish(self, claim: Claim) -> None:
        limits: dict[str, Any] = {}
        if claim.timeout is not None:
            limits = {
                "soft_time_limit": claim.timeout.total_seconds(),
                "time_limit": hard_time_limit(claim.timeout),
            }
        self.app.send_task(
            TASK_NAME,
            args=[claim.to_message()],
            queue=claim.queue or None,
            expires=timezone.now() + timedelta(seconds=settings.QUEUED_LIMIT),
            retry=False,  # a broker away is retried by the loop, not inside it
            **limits,
        )


def _fail_unsent(claim: Claim, error: str) -> None:
    JobRun.objects.filter(pk=claim.run_id, status=RunStatus.SCHEDULED).update(
        status=RunStatus.FAILED, finished_at=timezone.now(), error=error
    )


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
            claim = Claim.from_message(args[0])
            finish(claim, RunStatus.TIMED_OUT, error=f"Celery killed it at its time limit: {exc!r}")


@shared_task(bind=True, base=RunTask, name=TASK_NAME)  # type: ignore[untyped-decorator]
def run(task: RunTask, message: dict[str, Any]) -> str | None:
    return run_message(
        message, engine="celery", engine_id=task.request.id, timeouts=(SoftTimeLimitExceeded,)
    )
