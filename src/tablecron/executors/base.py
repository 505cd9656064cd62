"""The small contract between the scheduler loop and whatever executes runs."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ClassVar


@dataclass(frozen=True)
class Claim:
    """One claimed run: everything needed to execute it, copied out of the rows.

    ``running``: the claim already marked the run running (in-process executors), so
    executing it starts the task at once. ``start_after``: a ``time.monotonic()`` before
    which it must not start; claims are taken a moment before their scheduled time.
    """

    run_id: int
    job_id: int | None
    job_name: str
    task: str
    worker: str
    scheduled_for: datetime
    args: list[Any] = field(default_factory=list)
    kwargs: dict[str, Any] = field(default_factory=dict)
    timeout: timedelta | None = None
    attempt: int = 1
    max_retries: int = 0
    retry_delay: timedelta = timedelta(seconds=60)
    running: bool = False
    start_after: float = 0.0


class Executor(ABC):
    """Executes claims. Subclasses implement ``submit``; the rest has safe defaults.

    Capability flags tell the scheduler what it may rely on:
    ``in_process`` — runs execute in this process as soon as they are submitted, so the
    claim marks them running, their timeouts are enforced here, and an unfinished run at
    shutdown is this process's to mark.
    """

    in_process: ClassVar[bool] = True

    @abstractmethod
    def submit(self, claim: Claim) -> None:
        """Start executing ``claim`` (which may finish before this returns)."""

    def free_slots(self) -> int:
        """How many more claims this executor takes now; the scheduler claims no more."""
        return 1_000_000

    def running_ids(self) -> set[int]:
        """The runs this executor holds now (in-process executors)."""
        return set()

    def wait_for_slot(self, timeout: float) -> None:
        """Return when a slot may have freed up, or after ``timeout`` seconds."""
        time.sleep(min(timeout, 0.01))

    def expire(self) -> list[int]:
        """Give up on runs past their timeout; returns their ids (already marked)."""
        return []

    def shutdown(self, grace: float) -> list[int]:
        """Wait up to ``grace`` seconds for running work; return the ids still running."""
        return []
