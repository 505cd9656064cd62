"""Who is alive: each scheduler's and worker's ``SchedulerInstance`` row, kept fresh by
its heartbeat, and what this process knows of its own beats.

Below both the schedulers' housekeeping and the queue executors' workers: each beats
through a ``Presence``, and a run marked running by its claim starts its task without a
second look while its scheduler beats in this process (``still_held()``).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.db import DatabaseError

from tablecron.conf import settings
from tablecron.db import close_all_connections, close_old_connections, db_now
from tablecron.models import JobRun, RunStatus, SchedulerInstance
from tablecron.models.scheduler import Role

logger = logging.getLogger("tablecron")

REAP_BATCH = 500  # runs ended as lost (or missed) by one round of reaping, at most

_beats: dict[str, float] = {}  # instance id: time.monotonic() before its last beat


class Presence:
    """A scheduler's or worker's ``SchedulerInstance`` row, kept fresh by its heartbeat."""

    def __init__(self, instance: str, host: str, role: str = Role.SCHEDULER) -> None:
        self.instance = instance
        self.host = host
        self.role = role

    def register(self, now: datetime) -> None:
        SchedulerInstance.objects.update_or_create(
            pk=self.instance, defaults=self._row(now) | {"started_at": now}
        )

    def heartbeat(self) -> datetime:
        """Beat; returns the database's time it wrote. (The runs of this process start
        their tasks without a second look while it beats: see ``still_held()``.)"""
        before = time.monotonic()
        now = db_now()
        if not SchedulerInstance.objects.filter(pk=self.instance).update(heartbeat_at=now):
            # Someone took us for dead (a long pause): our runs were reaped; come back.
            SchedulerInstance.objects.create(pk=self.instance, started_at=now, **self._row(now))
        beaten(self.instance, before)
        return now

    def deregister(self) -> None:
        SchedulerInstance.objects.filter(pk=self.instance).delete()

    def beat_in_background(
        self, stop: threading.Event, chore: Callable[[datetime], object] | None = None
    ) -> threading.Thread:
        """Beat from a daemon thread of its own until ``stop`` is set; ``chore`` is called
        with the database's time after each beat."""

        def beat() -> None:
            while not stop.wait(settings.HEARTBEAT_INTERVAL):
                try:
                    now = self.heartbeat()
                    if chore is not None:
                        chore(now)
                except DatabaseError:
                    logger.warning("tablecron: %s could not beat", self.instance, exc_info=True)
                    close_all_connections()
            close_old_connections()

        thread = threading.Thread(target=beat, name="tablecron-heartbeat", daemon=True)
        thread.start()
        return thread

    def _row(self, now: datetime) -> dict[str, Any]:
        return {"host": self.host, "pid": os.getpid(), "role": self.role, "heartbeat_at": now}


def beaten(instance: str, before: float) -> None:
    """Instance ``instance`` of this process beat, in a statement sent after ``before``
    (``time.monotonic()``)."""
    _beats[instance] = before


def still_held(run_id: int, worker: str) -> bool:
    """Whether a run that was marked running at its claim by scheduler ``worker`` may
    start its task: at once while that scheduler beats in this process (no one can take
    its runs for lost until ``LOST_AFTER`` after a beat), else if its row says it is
    still running and held by it (it was not ended as lost while the scheduler was cut
    off)."""
    last = _beats.get(worker)
    if last is not None and time.monotonic() - last < settings.LOST_AFTER / 2:
        return True
    return JobRun.objects.filter(pk=run_id, status=RunStatus.RUNNING, worker=worker).exists()


def process_exists(pid: int) -> bool:
    """Whether a process ``pid`` runs on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
