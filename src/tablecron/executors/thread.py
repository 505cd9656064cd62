"""The default executor: a bounded pool of threads inside the scheduler process."""

from __future__ import annotations

import itertools
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from tablecron.conf import settings
from tablecron.db import close_all_connections
from tablecron.execution import Claim, Outcome, execute
from tablecron.executors.base import Executor
from tablecron.models import RunStatus
from tablecron.outcomes import BatchWriter, finish

logger = logging.getLogger("tablecron")
_names = itertools.count(1)
AHEAD = 0.1  # seconds of work claimed beyond the free workers
MAX_AHEAD = 2000  # claims queued at most, however short the runs


@dataclass
class _Slot:
    claim: Claim
    deadline: float | None = None  # time.monotonic()
    abandoned: bool = False


class ThreadExecutor(Executor):
    """Up to ``MAX_WORKERS`` runs at once on long-lived worker threads.

    Workers keep their database connection between runs, and write outcomes in batches
    (``BatchWriter``). Beyond the free workers, it takes as many claims as it expects
    to start within ``AHEAD`` seconds, judging by how long runs have been taking: many
    for runs of a millisecond, one for runs of a minute, so that claims queue neither
    long nor in vain here while another scheduler has idle workers.

    Python cannot stop a thread, so a sync task past its timeout is marked ``timed_out``
    and its worker abandoned: the slot is free at once, a new worker takes its place,
    and whatever the task returns later is ignored. Beyond ``max_workers`` abandoned
    workers, each one still running takes a worker's place instead: threads stay under
    twice ``max_workers``. ``async def`` tasks are cancelled at their timeout.
    """

    name = "thread"

    def __init__(self, max_workers: int | None = None) -> None:
        self.max_workers = max_workers or settings.MAX_WORKERS
        self._queue: queue.SimpleQueue[_Slot | None] = queue.SimpleQueue()
        self._busy: dict[int, _Slot] = {}  # queued, running or being written, by run id
        self._workers = 0  # live workers, abandoned ones not counted
        self._abandoned = 0  # workers still running a run that timed out
        self._idle = 0
        self._run_seconds = AHEAD  # moving average; until runs are seen, one ahead a worker
        self._changed = threading.Condition()
        self._writer = BatchWriter(self._written)

    def free_slots(self) -> int:
        with self._changed:
            return self._free()

    def _free(self) -> int:
        ahead = min(MAX_AHEAD, int(self.max_workers * AHEAD / self._run_seconds))
        if self._queue.qsize() > ahead // 2:
            return 0  # enough queued: claim again once half of it has started
        return max(0, self._capacity() + ahead - len(self._busy))

    def _capacity(self) -> int:
        """Live workers allowed: ``max_workers``, fewer once more than as many abandoned
        workers still run, so that this process never holds more than twice as many
        threads, however many sync tasks hang."""
        return self.max_workers - max(0, self._abandoned - self.max_workers)

    def submit(self, claim: Claim) -> None:
        slot = _Slot(claim)
        with self._changed:
            self._busy[claim.run_id] = slot
        self._queue.put(slot)
        self._start_workers(1)

    def _start_workers(self, wanted: int) -> None:
        """Start up to ``wanted`` workers for queued slots, within capacity, none while
        one is idle."""
        with self._changed:
            count = 0 if self._idle else max(0, min(wanted, self._capacity() - self._workers))
            self._workers += count
            self._idle += count  # counted idle until it takes its first slot
        for _ in range(count):
            name = f"tablecron-worker-{next(_names)}"
            threading.Thread(target=self._work, name=name, daemon=True).start()

    def _work(self) -> None:
        try:
            self._serve()
        finally:
            close_all_connections()

    def _serve(self) -> None:
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
            starts = time.monotonic() + claim.seconds_to_start()
            if claim.timeout is not None:
                slot.deadline = starts + claim.timeout.total_seconds()
            thread = threading.current_thread()
            name, thread.name = thread.name, f"tablecron-run-{claim.run_id}"
            try:
                if execute(claim, self._writer_for(slot)) is None:  # no longer ours to run
                    self._written([claim.run_id])
            except Exception:  # the run is reaped by its scheduler; the worker goes on
                logger.exception("tablecron: run %d could not be executed", claim.run_id)
                self._written([claim.run_id])
            finally:
                thread.name = name
                with self._changed:
                    seconds = time.monotonic() - starts
                    self._run_seconds += (max(seconds, 1e-5) - self._run_seconds) / 4
                    if not slot.abandoned:
                        self._idle += 1
                    self._changed.notify_all()
            if slot.abandoned:
                with self._changed:
                    self._abandoned -= 1
                self._written([claim.run_id])
                self._start_workers(self._queue.qsize())  # if this one was in their way
                return  # a new worker has taken this one's place

    def _writer_for(self, slot: _Slot) -> Callable[[Outcome], bool]:
        def write(outcome: Outcome) -> bool:
            slot.deadline = None  # it ended in time: expire() must not end it again
            if slot.abandoned:  # it was marked timed out, and its slot reused
                return False
            self._writer.write(outcome)  # in a batch, soon: taken as written
            return True

        return write

    def _written(self, run_ids: list[int]) -> None:
        """The runs' outcomes are in their rows (or given up on): their slots are free."""
        with self._changed:
            for run_id in run_ids:
                self._busy.pop(run_id, None)
            self._changed.notify_all()

    def running_ids(self) -> set[int]:
        with self._changed:
            return set(self._busy)

    def wait_for_slot(self, timeout: float) -> None:
        with self._changed:
            self._changed.wait_for(lambda: self._free() > 0, timeout)

    def expire(self) -> list[int]:
        now = time.monotonic()
        with self._changed:
            late = [s for s in self._busy.values() if s.deadline is not None and now > s.deadline]
        expired = []
        for slot in late:
            if slot.abandoned:
                continue
            message = f"The run exceeded its timeout of {slot.claim.timeout} and was abandoned."
            if finish(slot.claim, RunStatus.TIMED_OUT, error=message):
                expired.append(slot.claim.run_id)
            with self._changed:
                slot.abandoned = True
                if self._busy.pop(slot.claim.run_id, None) is slot:
                    self._workers -= 1
                    self._abandoned += 1
                abandoned = self._abandoned
                self._changed.notify_all()
            self._start_workers(self._queue.qsize())  # in the abandoned workers' places
            if abandoned > self.max_workers:
                logger.error(
                    "tablecron: %d runs past their timeout still hold threads; fewer workers "
                    'run until they return (EXECUTOR "process" stops such runs)',
                    abandoned,
                )
        return expired

    def shutdown(self, grace: float) -> list[int]:
        with self._changed:
            workers = self._workers
        for _ in range(workers):
            self._queue.put(None)
        with self._changed:
            self._changed.wait_for(lambda: not self._busy, grace)
            return list(self._busy)
