"""Which finished runs to keep, and deleting the rest fast enough for any firing rate.

Three rules, each a setting: runs are kept ``RUN_RETENTION``, failed ones
``FAILED_RUN_RETENTION`` (longer, if set), and each job keeps at most its last
``RUNS_PER_JOB`` runs. Runs waiting or running are never deleted.

Each rule deletes by ranges of an index the run table has anyway: (status,
scheduled_for) for age, the unique key (job, scheduled_for, attempt) for the count. Every
statement deletes one batch in a transaction of its own, so no lock is held for long,
and a pass goes on until each range comes back short: a pass keeps up with whatever rate
runs are written at. A scheduler prunes from a thread of its own, every
``PRUNE_EVERY`` seconds (``PRUNE_BUSY`` while there is work), so its loop never waits
for a delete.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime

from django.db import DatabaseError

from tablecron.conf import settings
from tablecron.db import close_all_connections, close_old_connections, db_now
from tablecron.models import RunStatus
from tablecron.sql import statements
from tablecron.sql.base import Where

logger = logging.getLogger("tablecron")

PRUNE_EVERY = 5.0  # seconds between a scheduler's pruning passes
# ... after a pass that deleted something: a steady stream of runs goes in small steps,
# not in bursts that the claims of the moment would wait behind.
PRUNE_BUSY = 1.0
# The runs kept FAILED_RUN_RETENTION: those an operator reads to find out what went wrong.
FAILURES = (RunStatus.FAILED, RunStatus.TIMED_OUT, RunStatus.LOST, RunStatus.MISSED)
SUCCESSES = (RunStatus.SUCCEEDED, RunStatus.CANCELLED)


@dataclass
class Pruned:
    """How many runs a pass deleted (or, dry, would delete) under each rule."""

    by_age: dict[str, int] = field(default_factory=dict)  # status -> runs
    by_count: int = 0
    jobs_over_count: int = 0

    @property
    def total(self) -> int:
        return sum(self.by_age.values()) + self.by_count


class Pruner:
    """Deletes the finished runs that the retention settings no longer keep."""

    def __init__(self, alias: str | None = None) -> None:
        self.alias = alias

    def ranges_by_age(self, now: datetime) -> Iterator[tuple[str, Where]]:
        sql = statements(self.alias)
        for statuses, kept in (
            (SUCCESSES, settings.RUN_RETENTION),
            (FAILURES, settings.FAILED_RUN_RETENTION),
        ):
            for status in statuses:
                yield status, sql.older_than(status, now - kept)

    def ranges_by_count(self) -> list[Where]:
        keep = settings.RUNS_PER_JOB
        if keep is None:
            return []
        sql = statements(self.alias)
        return [sql.up_to(job, at, attempt) for job, at, attempt in sql.beyond_last(keep)]

    def prune(self, now: datetime, stop: threading.Event | None = None) -> Pruned:
        """Delete, batch after batch, every run the settings no longer keep (until
        ``stop`` is set); returns how many went."""
        pruned = Pruned()
        for status, where in self.ranges_by_age(now):
            pruned.by_age[status] = self._drain(where, stop)
        over = self.ranges_by_count()
        pruned.jobs_over_count = len(over)
        pruned.by_count = sum(self._drain(where, stop) for where in over)
        return pruned

    def _drain(self, where: Where, stop: threading.Event | None) -> int:
        """Delete batches of ``where`` until one comes back short (or ``stop`` is set)."""
        sql = statements(self.alias)
        total, batch = 0, where
        while stop is None or not stop.is_set():
            deleted, newest = sql.delete_runs(batch)
            total += deleted
            if deleted < sql.prune_batch or newest is None:
                break
            batch = where.from_time(newest)
        return total

    def count(self, now: datetime) -> Pruned:
        """What ``prune(now)`` would delete under each rule, deleting nothing. A run both
        too old and beyond its job's count is counted under both."""
        count = statements(self.alias).count_runs
        over = self.ranges_by_count()
        return Pruned(
            by_age={status: count(where) for status, where in self.ranges_by_age(now)},
            by_count=sum(count(where) for where in over),
            jobs_over_count=len(over),
        )

    def prune_in_background(self, stop: threading.Event) -> threading.Thread:
        """Prune from a daemon thread of its own, a pass every ``PRUNE_EVERY`` seconds,
        until ``stop`` is set."""

        def loop() -> None:
            while not stop.is_set():
                pause = PRUNE_EVERY
                try:
                    if self.prune(db_now(self.alias), stop).total:
                        pause = PRUNE_BUSY
                except DatabaseError:
                    logger.warning("tablecron: pruning old runs failed", exc_info=True)
                    close_all_connections()
                close_old_connections()
                stop.wait(pause)
            close_all_connections()

        thread = threading.Thread(target=loop, name="tablecron-pruner", daemon=True)
        thread.start()
        return thread
