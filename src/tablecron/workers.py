"""The worker side of out-of-process executors (Celery, Django Tasks).

A process that executes runs it received as messages registers as a ``worker`` instance
and beats like a scheduler, from a thread of its own, so that a run it held when it died
is reaped as ``lost`` (and retried where its job says so). Each message starts its run
only through a conditional transition of the run's row, so a message delivered twice
(brokers redeliver) starts it once. A run it started but could not record the outcome
of (the database was away longer than the writer retries) is ended ``lost`` by its own
heartbeat: no other process reaps the runs of a worker that is alive.

Where the engine tells a process before it ends (Celery), outcomes are written by a
thread of the process (``OutcomeWriter``), many to a commit, while its next run starts:
the crash window that opens is the few milliseconds between a task's end and its
outcome's commit. A process killed ``-9`` then leaves a run that did run ``lost`` (and
retried where its job says so), as if it had died in the task. Elsewhere (RQ's work
horses end with ``os._exit()`` after each task) the task writes its outcome itself.
"""

from __future__ import annotations

import atexit
import logging
import os
import queue
import secrets
import signal
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, ClassVar

from django.db import DatabaseError
from django.utils import timezone

from tablecron import running
from tablecron.db import close_all_connections, close_old_connections, db_now
from tablecron.exceptions import RunCancelled
from tablecron.execution import Claim, Outcome, execute
from tablecron.models import JobRun, RunStatus
from tablecron.models.run import cancelled_error
from tablecron.models.scheduler import Role
from tablecron.outcomes import end, record, record_despite_outages, write_now
from tablecron.presence import REAP_BATCH, Presence
from tablecron.sql import statements

logger = logging.getLogger("tablecron")
ASK_EVERY = 1.0  # seconds: how often a message's runs waiting their turn look for cancels


class Worker:
    """This process as a worker of ``engine``; ``Worker.current()`` makes one per process
    (a forked child gets its own) and keeps it beating until the process ends."""

    _current: ClassVar[Worker | None] = None
    _lock = threading.Lock()

    def __init__(self, engine: str) -> None:
        host = socket.gethostname()
        self.pid = os.getpid()
        self.id = f"{engine}@{host}:{self.pid}:{secrets.token_hex(3)}"
        self.presence = Presence(self.id, host, Role.WORKER)
        self.presence.register(db_now())
        self._executing: set[int] = set()  # run ids, until their outcome is written
        self._executing_lock = threading.Lock()
        self._writer: OutcomeWriter | None = None
        self._stop = threading.Event()
        self._beating = self.presence.beat_in_background(
            self._stop, lambda now: reap_unrecorded(self.id, self.executing, now)
        )
        logger.info("tablecron: worker %s registered", self.id)

    @classmethod
    def current(cls, engine: str) -> Worker:
        with cls._lock:
            if cls._current is None or cls._current.pid != os.getpid():
                cls._current = cls(engine)
            return cls._current

    @classmethod
    def stop_current(cls) -> None:
        """Stop this process's worker beating (its row stays, and is reaped when stale):
        for tests, whose database must lose its last connection."""
        with cls._lock:
            worker, cls._current = cls._current, None
        if worker is not None:
            if worker._writer is not None:
                worker._writer.stop()
            worker._stop.set()
            worker._beating.join()

    @property
    def writer(self) -> OutcomeWriter:
        """This process's outcome writer, started on first use."""
        with self._executing_lock:
            if self._writer is None:
                self._writer = OutcomeWriter(self._written)
            return self._writer

    def executing(self) -> set[int]:
        """The runs this process is executing now."""
        with self._executing_lock:
            return set(self._executing)

    @contextmanager
    def executes(self, *run_ids: int) -> Iterator[None]:
        """While the block runs, and for each run until the outcome the block hands to
        ``writer`` is written (or given up: the heartbeat then ends the run ``lost``)."""
        with self._executing_lock:
            self._executing.update(run_ids)
        handed = False
        try:
            yield
            handed = True
        finally:
            writer = self._writer
            if not handed or writer is None:
                self._written(list(run_ids))
            else:
                self._written([pk for pk in run_ids if pk not in writer.handed])

    def _written(self, run_ids: list[int]) -> None:
        with self._executing_lock:
            self._executing.difference_update(run_ids)


class OutcomeWriter:
    """Writes this process's outcomes from a thread of its own: the task returns at once,
    and the outcomes that ended meanwhile go in one commit. ``written`` is called with
    the run ids of each batch, written or given up after an outage."""

    def __init__(self, written: Callable[[list[int]], None]) -> None:
        self._written = written
        self._queue: queue.SimpleQueue[Outcome | threading.Event | None] = queue.SimpleQueue()
        self.handed: set[int] = set()  # run ids handed over and not yet written
        self._thread = threading.Thread(target=self._run, name="tablecron-outcomes", daemon=True)
        self._thread.start()

    def write(self, outcome: Outcome) -> bool:
        """Hand ``outcome`` over; True: whether it ends its run is known only later."""
        self.handed.add(outcome.claim.run_id)
        self._queue.put(outcome)
        return True

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until what was handed over so far is written; False after ``timeout``."""
        done = threading.Event()
        self._queue.put(done)
        return done.wait(timeout)

    def stop(self) -> None:
        self.flush()
        self._queue.put(None)
        self._thread.join()

    def _run(self) -> None:
        while (first := self._queue.get()) is not None:
            items: list[Outcome | threading.Event | None] = [first]
            while not self._queue.empty():
                items.append(self._queue.get())
            self._write([i for i in items if isinstance(i, Outcome)])
            for item in items:
                if isinstance(item, threading.Event):
                    item.set()
            if None in items:
                break
        close_all_connections()  # the thread ends: its connection with it

    def _write(self, outcomes: list[Outcome]) -> None:
        if not outcomes:
            return
        try:
            close_old_connections()  # one that broke or aged is replaced first
            record_despite_outages(outcomes)
        except DatabaseError:
            logger.exception("tablecron: could not record %d runs", len(outcomes))
        finally:
            ids = [o.claim.run_id for o in outcomes]
            self.handed.difference_update(ids)
            self._written(ids)


def run_message(
    message: dict[str, Any],
    *,
    engine: str,
    engine_id: str = "",
    timeouts: tuple[type[BaseException], ...] = (),
    stop: Callable[[Claim], object] | None = None,
    aside: bool = False,
) -> str | None:
    """Execute the claim in ``message`` here; returns its final status, or None when it
    was not waiting for a start any more (a second delivery, say). ``stop``: how the
    engine stops the run when someone cancels it (else the task is only told:
    ``cancel_requested()``). ``aside``: the outcome goes to the process's writer thread
    (the engine calls ``flush_outcomes()`` before the process ends)."""
    claim = Claim.from_message(message)
    worker = Worker.current(engine)
    now = timezone.now()
    if _too_late(claim, now):
        return RunStatus.MISSED if _miss(claim, now) else None
    with worker.executes(claim.run_id):
        return execute(
            claim,
            worker.writer.write if aside else write_now,
            worker=worker.id,
            engine_id=engine_id,
            timeouts=timeouts,
            stop=stop,
        )


def run_messages(
    messages: list[dict[str, Any]],
    *,
    engine: str,
    engine_id: str = "",
    timeouts: tuple[type[BaseException], ...] = (),
    stop: Callable[[Claim], object] | None = None,
) -> list[str | None]:
    """``run_message()`` for a message that carries several claims due at the same time
    (``CELERY_RUNS_PER_MESSAGE``): their starts are one statement, then each runs in
    turn here, its outcome to the writer thread. A run someone asks to cancel before its
    turn never begins (asked every ``ASK_EVERY`` seconds at most). Returns each claim's
    final status."""
    claims = [Claim.from_message(message) for message in messages]
    worker = Worker.current(engine)
    now = timezone.now()
    statuses: dict[int, str | None] = {}
    waiting = []
    for claim in claims:
        if _too_late(claim, now):
            statuses[claim.run_id] = RunStatus.MISSED if _miss(claim, now) else None
        else:
            waiting.append(claim)
    ids = [claim.run_id for claim in waiting]
    # Registered before the start: the heartbeat reaps the runs this worker holds and
    # does not execute.
    with worker.executes(*ids):
        close_old_connections()
        started = set()
        if waiting:
            holder = waiting[0].worker  # one scheduler sent them
            started = statements().start_runs(
                ids, holder, now, worker=worker.id, engine_id=engine_id
            )
        asked_at, cancels = time.monotonic(), {}
        for claim in waiting:
            if claim.run_id not in started:
                statuses[claim.run_id] = None
                continue
            if time.monotonic() - asked_at >= ASK_EVERY:
                asked_at, cancels = time.monotonic(), _cancels(started)
            if claim.run_id in cancels:
                error = cancelled_error(cancels[claim.run_id])
                ended = Outcome(claim, RunStatus.CANCELLED, None, timezone.now(), None, error)
                worker.writer.write(ended)
                statuses[claim.run_id] = RunStatus.CANCELLED
                continue
            statuses[claim.run_id] = execute(
                claim,
                worker.writer.write,
                worker=worker.id,
                engine_id=engine_id,
                timeouts=timeouts,
                stop=stop,
                started=True,
            )
    return [statuses[claim.run_id] for claim in claims]


def _cancels(run_ids: set[int]) -> dict[int, str]:
    """Of ``run_ids``, those someone asked to cancel, and by whom."""
    asked = JobRun.objects.filter(pk__in=run_ids).cancelling()
    return dict(asked.values_list("pk", "cancel_requested_by"))


def flush_outcomes() -> None:
    """Before this process ends: write the outcomes its worker holds (a process forked
    from it has a worker of its own, or none)."""
    worker = Worker._current
    if worker is not None and worker.pid == os.getpid() and worker._writer is not None:
        worker._writer.flush()


atexit.register(flush_outcomes)  # db_worker, and any process that ends normally


def reap_unrecorded(worker: str, executing: Callable[[], set[int]], now: datetime) -> int:
    """End as ``lost`` the runs that ``worker`` started and no longer executes, yet are
    still running: their outcome could not be written. Returns how many.

    The runs are read before ``executing()``: a run started since that read is not among
    them, and one whose outcome is written since is ended only if it is still running.
    """
    held = JobRun.objects.filter(worker=worker, status=RunStatus.RUNNING)
    runs = list(held.select_related("job").order_by("pk")[:REAP_BATCH])
    busy = executing()
    return end(
        [run for run in runs if run.pk not in busy],
        RunStatus.LOST,
        "Its worker {worker} finished it but could not record how it ended.",
        now,
    )


def _too_late(claim: Claim, now: datetime) -> bool:
    """Whether the claim reached this worker past its job's misfire grace."""
    return claim.misfire_grace is not None and now - claim.not_before > claim.misfire_grace


def _miss(claim: Claim, now: datetime) -> bool:
    """It reached a worker later than the job's misfire grace (the queue was long, or the
    broker away): recorded missed, if it is still waiting."""
    late = now - claim.not_before
    error = (
        f"It reached a worker {late} after its time, later than the misfire grace time "
        f"({claim.misfire_grace})."
    )
    missed = Outcome(
        claim,
        RunStatus.MISSED,
        None,
        now,
        None,
        error,
        was=RunStatus.SCHEDULED,
        held_by=claim.worker,
    )
    return bool(record([missed]))


_sigterm_installed = False


def stop_on_sigterm() -> bool:
    """In a worker process whose tasks run in its main thread (Celery's prefork pool):
    SIGTERM while a run someone cancelled executes raises ``RunCancelled`` inside its
    task, once; at any other time it ends the process, as it would have. Returns False
    where that cannot be (tasks on other threads): runs are then only told to stop."""
    global _sigterm_installed
    if threading.current_thread() is not threading.main_thread():
        return False
    if not _sigterm_installed:
        signal.signal(signal.SIGTERM, _on_sigterm)
        _sigterm_installed = True
    return True


def interrupt_main_thread() -> None:
    """SIGTERM to this process's main thread, where ``stop_on_sigterm()`` turns it into
    ``RunCancelled``. Sent to the thread, not the process: the kernel may hand a signal
    sent to the process to any of its threads, and a Python handler runs only once the
    main thread wakes, which a task asleep in ``time.sleep()`` would not do for as long
    as it sleeps."""
    _interrupts.append(None)
    signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGTERM)


# The SIGTERMs interrupt_main_thread() sent and the handler has not heard yet (a deque:
# appended and popped without a lock, which a signal handler must not wait for).
_interrupts: deque[None] = deque()


def _on_sigterm(signum: int, frame: object) -> None:
    try:
        _interrupts.popleft()
        ours = True
    except IndexError:
        ours = False
    context = running.current()
    if context is not None and context.cancelled and not context.interrupted:
        context.interrupted = True  # a second SIGTERM must not break off its outcome's write
        raise RunCancelled
    if ours:
        return  # for a run that ended between the request and the signal: nothing to stop
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # as before: the process ends
    os.kill(os.getpid(), signal.SIGTERM)
