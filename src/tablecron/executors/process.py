"""``EXECUTOR: "process"``: runs in a pool of worker processes of the scheduler's own,
for single-machine sites with tasks that may hang: a run past its timeout is stopped by
killing its process, and a fresh process takes its place.

Up to ``MAX_WORKERS`` processes, started (``spawn``) when first needed and reused; each
runs one claim at a time and writes its outcome itself. Each is fed by a thread of the
scheduler that waits for it with the run's timeout. Claims travel as JSON.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import queue
import threading
from multiprocessing.process import BaseProcess

from tablecron import metrics
from tablecron.conf import settings
from tablecron.db import close_all_connections
from tablecron.execution import Claim
from tablecron.executors.base import Executor
from tablecron.models import RunStatus
from tablecron.models.run import cancelled_error
from tablecron.outcomes import finish
from tablecron.process_child import DONE, serve
from tablecron.running import Running

logger = logging.getLogger("tablecron")


class ProcessExecutor(Executor):
    name = "process"

    def __init__(self, max_workers: int | None = None) -> None:
        self.max_workers = max_workers or settings.MAX_WORKERS
        self._context = multiprocessing.get_context("spawn")  # no fork of a threaded process
        self._queue: queue.SimpleQueue[Claim | None] = queue.SimpleQueue()
        self._busy: set[int] = set()  # queued or running, by run id
        self._feeders = 0
        self._idle = 0
        self._changed = threading.Condition()

    def free_slots(self) -> int:
        with self._changed:
            return max(0, self.max_workers - len(self._busy))

    def running_ids(self) -> set[int]:
        with self._changed:
            return set(self._busy)

    def wait_for_slot(self, timeout: float) -> None:
        with self._changed:
            self._changed.wait_for(lambda: len(self._busy) < self.max_workers, timeout)

    def submit(self, claim: Claim) -> None:
        with self._changed:
            self._busy.add(claim.run_id)
            spawn = self._idle == 0 and self._feeders < self.max_workers
            if spawn:
                self._feeders += 1
                self._idle += 1
        self._queue.put(claim)
        if spawn:
            threading.Thread(
                target=self._feed, name="tablecron-process-feeder", daemon=True
            ).start()

    def shutdown(self, grace: float) -> list[int]:
        with self._changed:
            feeders = self._feeders
        for _ in range(feeders):
            self._queue.put(None)
        with self._changed:
            self._changed.wait_for(lambda: not self._busy, grace)
            return list(self._busy)  # their processes are daemons: they end with this one

    def _feed(self) -> None:
        """A feeder thread: one worker process at a time, replaced when it is killed."""
        child: _Child | None = None
        try:
            while (claim := self._queue.get()) is not None:
                with self._changed:
                    self._idle -= 1
                try:
                    child = child if child and child.alive else _Child(self._context)
                    if not child.run(claim):
                        child = None
                except Exception as exc:  # no process could be started, say: the run says so
                    logger.exception("tablecron: run %d could not be executed", claim.run_id)
                    finish(
                        claim, RunStatus.FAILED, error=f"No worker process could run it: {exc!r}"
                    )
                    child = None
                with self._changed:
                    self._busy.discard(claim.run_id)
                    self._idle += 1
                    self._changed.notify_all()
        finally:
            if child is not None:
                child.close()
            with self._changed:
                self._feeders -= 1
                self._idle -= 1
            close_all_connections()


class _Child:
    """One worker process and the end of the pipe that feeds it."""

    def __init__(self, context: multiprocessing.context.SpawnContext) -> None:
        self.conn, theirs = context.Pipe()
        self.process: BaseProcess = context.Process(
            target=serve, args=(theirs,), name="tablecron-process", daemon=True
        )
        self.process.start()
        theirs.close()
        self.running_id: int | None = None  # the run the process executes now

    @property
    def alive(self) -> bool:
        return self.process.is_alive()

    def run(self, claim: Claim) -> bool:
        """Run ``claim`` in the process; False if the process had to go (killed at the
        run's timeout or when it did not stop after a cancel, or dead), the run then
        ended here.

        A cancel request (read by this process's watcher) sends the process SIGTERM,
        which stops its task (``RunCancelled``, see ``process_child``), and SIGKILL if
        the run has not ended ``CANCEL_GRACE`` later."""
        limit = None
        if claim.timeout is not None:
            limit = claim.seconds_to_start() + claim.timeout.total_seconds()
        with Running(claim.run_id, capture=False) as running:  # its output is the child's
            self.running_id = claim.run_id
            running.on_cancel(lambda: self._stop(claim.run_id))
            try:
                self.conn.send_bytes(json.dumps(claim.to_message()).encode())
                reply = self.conn.recv_bytes() if self.conn.poll(limit) else b""
                if reply.startswith(DONE):
                    self.running_id = None
                    metrics.replay(json.loads(reply[len(DONE) :]))
                    return True
                error, status = (
                    f"It ran past its timeout of {claim.timeout}; its process was killed.",
                    RunStatus.TIMED_OUT,
                )
            except (EOFError, OSError):
                error, status = (
                    f"Its worker process died (exit code {self.process.exitcode}).",
                    RunStatus.LOST,
                )
            if running.cancelled:
                error = (
                    f"{cancelled_error(running.cancelled_by)} Its process did not stop within "
                    f"CANCEL_GRACE ({settings.CANCEL_GRACE} s) and was killed."
                )
                status = RunStatus.CANCELLED
        self.close()
        finish(claim, status, error=error)
        return False

    def _stop(self, run_id: int) -> None:
        """SIGTERM now, SIGKILL after ``CANCEL_GRACE`` unless the run ended meanwhile."""
        self.process.terminate()

        def kill() -> None:
            if self.running_id == run_id and self.process.is_alive():
                self.process.kill()

        timer = threading.Timer(settings.CANCEL_GRACE, kill)
        timer.daemon = True
        timer.start()

    def close(self) -> None:
        self.process.kill()
        self.process.join()
        self.conn.close()
