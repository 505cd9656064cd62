"""Executing one claimed run in this process: the ``Claim`` an executor receives, the
task's call, and the ``Outcome`` it ends in (written back by ``tablecron.outcomes``).

A claimed run starts only through a conditional transition of its own row (or was
marked running by its claim), so a claim delivered twice runs once. A run marked running
by its claim starts its task at once while its scheduler beats; a scheduler that has not
beaten for half of ``LOST_AFTER`` (cut off from the database, say) first reads whether
its run is still its own (``presence.still_held()``): other schedulers may have ended it
as lost meanwhile.
"""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import json
import logging
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from django.dispatch import Signal
from django.utils import timezone

from tablecron import metrics, running
from tablecron.conf import settings
from tablecron.db import close_old_connections
from tablecron.exceptions import RefusedTask, RunCancelled, UnknownTask
from tablecron.models import JobRun, RunStatus
from tablecron.models.run import cancelled_error
from tablecron.presence import still_held
from tablecron.registry import RegisteredTask, tasks
from tablecron.running import RunContext, Running, Taken
from tablecron.signals import run_started
from tablecron.sql import statements
from tablecron.sql.rows import Finished, JSONText

logger = logging.getLogger("tablecron")

_current: contextvars.ContextVar[Claim | None] = contextvars.ContextVar(
    "tablecron_run", default=None
)
ERROR_MAX_CHARS = 20_000
RETRYABLE = (RunStatus.FAILED, RunStatus.TIMED_OUT, RunStatus.LOST)


class JobColumns(Protocol):
    """What a claim copies from its job: a ``Job``, or the columns a claim read."""

    @property
    def id(self) -> int: ...
    @property
    def name(self) -> str: ...
    @property
    def task(self) -> str: ...
    @property
    def args(self) -> list[Any]: ...
    @property
    def kwargs(self) -> dict[str, Any]: ...
    @property
    def timeout(self) -> timedelta | None: ...
    @property
    def max_retries(self) -> int: ...
    @property
    def retry_delay(self) -> timedelta: ...
    @property
    def misfire_grace(self) -> timedelta | None: ...
    @property
    def queue(self) -> str: ...


@dataclass(frozen=True)
class Claim:
    """One claimed run: everything needed to execute it, copied out of its rows. It holds
    ids, values and wall-clock times only, so it means the same in another process.

    ``worker``: who holds the run; starting it is conditional on that. ``running``: the
    claim itself marked the run running (executors that start runs at claim), so
    executing it starts the task at once. ``not_before``: the run must not start before
    this time, since claims are taken a moment ahead. ``followed``: other jobs run after
    this one's (``Job.after``), as the claim read it; its success then writes their runs.
    ``to_message()`` and ``from_message()`` carry it through a queue as JSON.
    """

    run_id: int
    job_id: int | None
    job_name: str
    task: str
    worker: str
    scheduled_for: datetime
    not_before: datetime
    args: list[Any] = field(default_factory=list)
    kwargs: dict[str, Any] = field(default_factory=dict)
    timeout: timedelta | None = None
    attempt: int = 1
    max_retries: int = 0
    retry_delay: timedelta = timedelta(seconds=60)
    misfire_grace: timedelta | None = None
    queue: str = ""
    running: bool = False
    followed: bool = False

    @classmethod
    def of(
        cls,
        job: JobColumns,
        run_id: int,
        scheduled_for: datetime,
        worker: str,
        *,
        attempt: int = 1,
        running: bool = False,
        not_before: datetime | None = None,
        args: list[Any] | None = None,
        kwargs: dict[str, Any] | None = None,
        followed: bool = False,
    ) -> Claim:
        """``args``/``kwargs``: the run's own, where it has them (run with other
        arguments), else the job's.

        Built straight into the instance's ``__dict__``: a claim builds hundreds at once,
        and the frozen dataclass's ``__init__`` sets each of the 17 fields through
        ``object.__setattr__`` (twice the time). The result is the same object."""
        claim = object.__new__(cls)
        claim.__dict__.update(
            run_id=run_id,
            job_id=job.id,
            job_name=job.name,
            task=job.task,
            worker=worker,
            scheduled_for=scheduled_for,
            not_before=not_before or scheduled_for,
            args=job.args if args is None else args,
            kwargs=job.kwargs if kwargs is None else kwargs,
            timeout=job.timeout,
            attempt=attempt,
            max_retries=job.max_retries,
            retry_delay=job.retry_delay,
            misfire_grace=job.misfire_grace,
            queue=job.queue,
            running=running,
            followed=followed,
        )
        return claim

    @classmethod
    def of_run(cls, run: JobRun) -> Claim:
        """The claim of a run read from its row (with its job, if it still has one): to
        end a run that no executor holds here (lost, missed, cancelled)."""
        if run.job is None:
            return cls(
                run_id=run.pk,
                job_id=None,
                job_name=run.job_name,
                task="",
                worker=run.worker,
                scheduled_for=run.scheduled_for,
                not_before=run.not_before or run.scheduled_for,
                attempt=run.attempt,
            )
        return cls.of(
            run.job,
            run.pk,
            run.scheduled_for,
            run.worker,
            attempt=run.attempt,
            not_before=run.not_before,
            args=run.args,
            kwargs=run.kwargs,
        )

    def to_message(self) -> dict[str, Any]:
        """The claim as JSON-ready values: times in ISO 8601, durations in seconds."""
        message: dict[str, Any] = {"version": MESSAGE_VERSION}
        for name in _MESSAGE_FIELDS:
            value = getattr(self, name)
            if isinstance(value, datetime):
                value = value.isoformat()
            elif isinstance(value, timedelta):
                value = value.total_seconds()
            message[name] = value
        return message

    @classmethod
    def from_message(cls, message: dict[str, Any]) -> Claim:
        """The claim ``to_message()`` made; a ``ValueError`` if it is not one."""
        if message.get("version") != MESSAGE_VERSION:
            raise ValueError(f"Not a tablecron claim of version {MESSAGE_VERSION}: {message!r}")
        values = {name: message[name] for name in _MESSAGE_FIELDS if name in message}
        for name in _TIMES & values.keys():
            values[name] = datetime.fromisoformat(values[name])
        for name in _DURATIONS & values.keys():
            if values[name] is not None:
                values[name] = timedelta(seconds=values[name])
        return cls(**values)

    def seconds_to_start(self) -> float:
        """How long until ``not_before``, by this host's clock (0 if it has come)."""
        return max(0.0, (self.not_before - _now()).total_seconds())


@dataclass(frozen=True)
class Outcome:
    """How a run ended, to be written to its row (``tablecron.outcomes.record()``): only
    while the run is still in status ``was`` and, unless ``held_by`` is empty, held by
    that worker. A task's outcome ends a running run; a run that never started (missed,
    not sent, cancelled) ends ``scheduled``."""

    claim: Claim
    status: str
    started_at: datetime | None
    finished_at: datetime
    result: JSONText | None = None
    error: str = ""
    was: str = RunStatus.RUNNING
    held_by: str = ""
    output: Taken | None = None  # what the run wrote since the last write of its output

    @property
    def duration(self) -> float | None:
        """Seconds from its start to its end, if it started here."""
        if self.started_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()

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
        return Finished(
            id=self.claim.run_id,
            status=self.status,
            started_at=self.started_at,
            finished_at=self.finished_at,
            result=self.result,
            error=self.error[-ERROR_MAX_CHARS:],
            was=self.was,
            held_by=self.held_by,
            succeeded_at=self.finished_at if self.status == RunStatus.SUCCEEDED else None,
        )


MESSAGE_VERSION = 1
_MESSAGE_FIELDS = [f.name for f in dataclasses.fields(Claim)]
_TIMES = {"scheduled_for", "not_before"}
_DURATIONS = {"timeout", "retry_delay", "misfire_grace"}


def _now() -> datetime:
    """``timezone.now()`` without reading ``USE_TZ`` each time (three times a run):
    tablecron runs only with it on (check tablecron.E001)."""
    return datetime.now(UTC)


def cancel_requested() -> bool:
    """Whether someone asked to cancel the run that calls this: a long task that checks
    it now and then, and returns when it turns true, can be stopped on every executor
    (docs/executors.md)."""
    return running.cancel_requested()


def current_claim() -> Claim | None:
    """The claim being executed in this thread or task, for code called by a task."""
    return _current.get()


def start(claim: Claim, worker: str = "", engine_id: str = "") -> datetime | None:
    """Mark a claimed run running (by ``worker``, if not its holder); None when it is no
    longer waiting for its holder to start it."""
    now = timezone.now()
    started = statements().start_run(
        claim.run_id, claim.worker, now, worker=worker, engine_id=engine_id
    )
    return now if started else None


def execute(
    claim: Claim,
    write: Callable[[Outcome], bool],
    *,
    worker: str = "",
    engine_id: str = "",
    timeouts: tuple[type[BaseException], ...] = (),
    stop: Callable[[Claim], object] | None = None,
    started: bool = False,
) -> str | None:
    """Execute ``claim`` in this thread and hand its outcome to ``write`` (which returns
    False if the run had ended meanwhile, at its timeout, say); returns the
    final status, None if it was not this worker's to start.

    ``worker`` and ``engine_id``: who starts the run, if not the scheduler that holds it
    (a worker of an out-of-process executor), and the engine's id of the message.
    ``timeouts``: the engine's exceptions that mean the run hit its time limit.
    ``stop``: called (from another thread) when someone cancels the run, beside telling
    the task (``cancel_requested()``; an ``async def`` task is cancelled).
    ``started``: the caller started the run (with the others of its message).
    Connections are checked before each run (not after too: the next run's check, or
    the thread's end, deals with what this one left).
    """
    close_old_connections()
    token = _current.set(claim)
    try:
        # Not sleep(0): that hands the GIL to another thread and waits to get it back, which
        # cost a draining scheduler's runs over a third of their time.
        if (early := claim.seconds_to_start()) > 0:
            time.sleep(early)
        started_at = _now()
        if not started:
            if claim.running and not still_held(claim.run_id, claim.worker):
                logger.warning(
                    "tablecron: run %d was ended while it waited; not started", claim.run_id
                )
                return None
            if not claim.running and start(claim, worker, engine_id) is None:
                return None
        metrics.recorder.run_started(
            claim.job_name, max(claim.scheduled_for, claim.not_before), started_at
        )
        send(run_started, claim)
        with Running(claim.run_id) as running:
            if stop is not None:
                running.on_cancel(lambda: stop(claim))
            status, result, error = _outcome(claim, running, (TimeoutError, *timeouts))
            if running.cancelled and status != RunStatus.TIMED_OUT:
                status, error = RunStatus.CANCELLED, cancelled_error(_cancelled_by(running))
            output = running.take(final=True)
        write(Outcome(claim, status, started_at, _now(), result, error, output=output))
        return status
    finally:
        _current.reset(token)


def _cancelled_by(running: RunContext) -> str:
    """Who asked to cancel the run: its process was told without a name (a signal)."""
    if running.cancelled_by:
        return running.cancelled_by
    asked = JobRun.objects.filter(pk=running.run_id).values_list("cancel_requested_by", flat=True)
    return asked.first() or ""


def call(task: RegisteredTask, claim: Claim, running: RunContext | None = None) -> Any:
    """Run the task's function (or enqueue its Django Task) and return its result. An
    ``async def`` task is cancelled when someone asks to cancel its run."""
    if task.is_django_task:
        enqueued = task.target.enqueue(*claim.args, **claim.kwargs)
        return {"enqueued": str(enqueued.id), "backend": enqueued.backend}
    if task.is_async:
        return asyncio.run(_call_async(task, claim, running))
    return task.func(*claim.args, **claim.kwargs)


async def _call_async(task: RegisteredTask, claim: Claim, running: RunContext | None) -> Any:
    if running is not None:
        this, loop = asyncio.current_task(), asyncio.get_running_loop()
        assert this is not None
        running.on_cancel(lambda: loop.call_soon_threadsafe(this.cancel))
    timeout = claim.timeout.total_seconds() if claim.timeout else None
    return await asyncio.wait_for(task.func(*claim.args, **claim.kwargs), timeout)


def encode_result(value: Any) -> tuple[JSONText | None, str]:
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
        return JSONText(json.dumps({"truncated": True, "bytes": size, "start": start})), ""
    return JSONText(text), ""


def send(signal: Signal, claim: Claim) -> None:
    if signal.receivers and signal.has_listeners(JobRun):  # spare the query otherwise
        signal.send(JobRun, run=JobRun.objects.get(pk=claim.run_id))


def _outcome(
    claim: Claim, running: RunContext, timeouts: tuple[type[BaseException], ...]
) -> tuple[str, JSONText | None, str]:
    try:
        value = call(tasks.get(claim.task), claim, running)
    except (asyncio.CancelledError, RunCancelled):
        if not running.cancelled:
            raise  # not ours: the engine's (a worker's warm shutdown, say)
        return RunStatus.CANCELLED, None, ""
    except RefusedTask as exc:
        error = f"{claim.task!r} is {exc.gateway}, a gateway to code: never run."
        return RunStatus.FAILED, None, error
    except UnknownTask:
        return RunStatus.FAILED, None, f"No task named {claim.task!r} is registered here."
    except timeouts:
        return RunStatus.TIMED_OUT, None, traceback.format_exc()
    except Exception:
        logger.exception("tablecron: job %r raised", claim.job_name)
        return RunStatus.FAILED, None, traceback.format_exc()
    result, error = encode_result(value)
    return (RunStatus.FAILED if error else RunStatus.SUCCEEDED), result, error
