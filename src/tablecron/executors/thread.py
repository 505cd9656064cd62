"""The default executor: a bounded set of threads inside the scheduler process."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from tablecron.conf import settings
from tablecron.executors.base import Claim, Executor


@dataclass
class _Slot:
    claim: Claim
    thread: threading.Thread | None = None
    deadline: float | None = None  # time.monotonic()


class ThreadExecutor(Executor):
    """Up to ``MAX_WORKERS`` runs at once, each in its own daemon thread.

    Python cannot stop a thread, so a sync task past its timeout is marked ``timed_out``
    and abandoned: its slot is freed at once and whatever it returns later is ignored.
    ``async def`` tasks are cancelled at their timeout.
    """

    def __init__(self, max_workers: int | None = None) -> None:
        self.max_workers = max_workers or settings.MAX_WORKERS
        self._slots: dict[int, _Slot] = {}
        self._lock = threading.Lock()

    def free_slots(self) -> int:
        with self._lock:
            return self.max_workers - len(self._slots)

    def submit(self, claim: Claim) -> None:
        slot = _Slot(claim)
        slot.thread = threading.Thread(
            target=self._work, args=(slot,), name=f"tablecron-run-{claim.run_id}", daemon=True
        )
        with self._lock:
            self._slots[claim.run_id] = slot
        slot.thread.start()

    def _work(self, slot: _Slot) -> None:
        from tablecron.execution import execute

        if slot.claim.timeout is not None:
            slot.deadline = time.monotonic() + slot.claim.timeout.total_seconds()
        try:
            execute(slot.claim)
        finally:
            with self._lock:
                if self._slots.get(slot.claim.run_id) is slot:
                    del self._slots[slot.claim.run_id]

    def expire(self) -> list[int]:
        from tablecron.execution import finish
        from tablecron.models import RunStatus

        now = time.monotonic()
        with self._lock:
            late = [s for s in self._slots.values() if s.deadline is not None and now > s.deadline]
        expired = []
        for slot in late:
            message = f"The run exceeded its timeout of {slot.claim.timeout} and was abandoned."
            if finish(slot.claim, RunStatus.TIMED_OUT, error=message):
                expired.append(slot.claim.run_id)
            with self._lock:
                self._slots.pop(slot.claim.run_id, None)
        return expired

    def shutdown(self, grace: float) -> list[int]:
        deadline = time.monotonic() + grace
        with self._lock:
            slots = list(self._slots.values())
        for slot in slots:
            if slot.thread is not None:
                slot.thread.join(max(0.0, deadline - time.monotonic()))
        with self._lock:
            return list(self._slots)
