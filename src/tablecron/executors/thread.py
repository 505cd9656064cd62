"""The default executor: a bounded pool of threads inside the scheduler process."""

from __future__ import annotations

import itertools
import logging
import queue
import threading
import time
from dataclasses import dataclass

from tablecron.conf import settings
from tablecron.db import close_all_connections
from tablecron.executors.base import Claim, Executor

logger = logging.getLogger("tablecron")
_names = itertools.count(1)
QUEUE_FACTOR = 4


@dataclass
class _Slot:
    claim: Claim
    deadline: float | None = None  # time.monotonic()
    abandoned: bool = False


class ThreadExecutor(Executor):
    """Up to ``MAX_WORKERS`` runs at once on long-lived worker threads.

    Workers keep their database connection between runs. Python cannot stop a thread,
    so a sync task past its timeout is marked ``timed_out`` and its worker abandoned:
    the slot is free at once, a new worker takes its place, and whatever the task
    returns later is ignored. ``async def`` tasks are cancelled at their timeout.
    """

    def __init__(self, max_workers: int | None = None) -> None:
        self.max_workers = max_workers or settings.MAX_WORKERS
        self._queue: queue.SimpleQueue[_Slot | None] = queue.SimpleQueue()
        self._busy: dict[int, _Slot] = {}  # queued or running, by run id
        self._workers = 0  # live workers, abandoned ones not counted
        self._idle = 0
        self._changed = threading.Condition()

    def free_slots(self) -> int:
        with self._changed:
            return self._capacity - len(self._busy)

    @property
    def _capacity(self) -> int:
        # Claims may queue beyond the workers: claiming in batches costs far less than a
        # claim per run, and the queued claims of a process that dies are handed back.
        return QUEUE_FACTOR * self.max_workers

    def submit(self, claim: Claim) -> None:
        slot = _Slot(claim)
        with self._changed:
            self._busy[claim.run_id] = slot
            spawn = self._idle == 0 and self._workers < self.max_workers
            if spawn:
                self._workers += 1
                self._idle += 1  # counted idle until it takes its first slot
        self._queue.put(slot)
        if spawn:
            name = f"tablecron-worker-{next(_names)}"
            threading.Thread(target=self._work, name=name, daemon=True).start()

    def _work(self) -> None:
        try:
            self._serve()
        finally:
            close_all_connections()

    def _serve(self) -> None:
        from tablecron.execution import execute

        while True:
            slot = self._queue.get()
            with self._changed:
                self._idle -= 1
            if slot is None:
                with self._changed:
                    self._workers -= 1
                    self._changed.notify_all()
                return
            claim = slot.claim
            if claim.timeout is not None:
                slot.deadline = time.monotonic() + claim.timeout.total_seconds()
            thread = threading.current_thread()
            name, thread.name = thread.name, f"tablecron-run-{claim.run_id}"
            try:
                execute(claim)
            except Exception:  # the run is reaped by its scheduler; the worker goes on
                logger.exception("tablecron: run %d could not be executed", claim.run_id)
            finally:
                thread.name = name
                with self._changed:
                    if self._busy.get(claim.run_id) is slot:
                        del self._busy[claim.run_id]
                    if not slot.abandoned:
                        self._idle += 1
                    self._changed.notify_all()
            if slot.abandoned:
                return  # a new worker has taken this one's place

    def running_ids(self) -> set[int]:
        with self._changed:
            return set(self._busy)

    def wait_for_slot(self, timeout: float) -> None:
        with self._changed:
            self._changed.wait_for(lambda: len(self._busy) < self._capacity, timeout)

    def expire(self) -> list[int]:
        from tablecron.execution import finish
        from tablecron.models import RunStatus

        now = time.monotonic()
        with self._changed:
            late = [s for s in self._busy.values() if s.deadline is not None and now > s.deadline]
        expired = []
        for slot in late:
            message = f"The run exceeded its timeout of {slot.claim.timeout} and was abandoned."
            if finish(slot.claim, RunStatus.TIMED_OUT, error=message):
                expired.append(slot.claim.run_id)
            with self._changed:
                slot.abandoned = True
                if self._busy.pop(slot.claim.run_id, None) is slot:
                    self._workers -= 1
                self._changed.notify_all()
        return expired

    def shutdown(self, grace: float) -> list[int]:
        with self._changed:
            workers = self._workers
        for _ in range(workers):
            self._queue.put(None)
        with self._changed:
            self._changed.wait_for(lambda: not self._busy, grace)
            return list(self._busy)
