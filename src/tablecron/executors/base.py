"""The small contract between the scheduler loop and whatever executes runs.

The loop claims runs and hands each ``Claim`` (``tablecron.execution``) to ``submit()``;
the executor starts it, here or elsewhere, and its outcome lands in the run's row. See
docs/executors.md for writing one.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from datetime import timedelta
from typing import ClassVar

from django.core.checks import CheckMessage

from tablecron.execution import Claim


class Executor(ABC):
    """Executes claims. Subclasses implement ``submit``; the rest has safe defaults.

    Capability flags tell the scheduler what it may rely on:

    ``starts_at_claim`` — a submitted run starts at once (at its ``not_before``), so the
    claim records it ``running`` already, and ``execute()`` skips the start transition.

    ``owns_runs`` — runs execute in this process and die with it: an active run of this
    scheduler that ``running_ids()`` does not hold was lost (a database error cut its
    start or finish) and is reaped, and the runs ``shutdown()`` returns are cancelled.

    ``claims_ahead`` — how long before their time runs are claimed and handed over
    (0: when due). The executor holds each until its ``not_before`` without taking a
    slot of its workers meanwhile, so the claim's own work is not lateness.

    ``submits_in_claim`` — claims are submitted inside the claim's own transaction
    (a queue kept in the same database: a claim that rolls back was never enqueued),
    instead of after its commit. May be decided per instance.

    ``name`` is what its runs record as their ``executor``.
    """

    name: ClassVar[str] = ""
    starts_at_claim: ClassVar[bool] = True
    owns_runs: ClassVar[bool] = True
    claims_ahead: ClassVar[timedelta] = timedelta(seconds=0.1)
    submits_in_claim: bool = False

    @classmethod
    def check(cls) -> list[CheckMessage]:
        """System check messages about how this executor is set up, if configured."""
        return []

    @classmethod
    def queues(cls) -> frozenset[str] | None:
        """The queue names a job may name, where the executor knows them (None: any; a
        job's queue is then checked when its run is sent)."""
        return None

    @abstractmethod
    def submit(self, claim: Claim) -> None:
        """Start executing ``claim`` (which may finish before this returns)."""

    def submit_many(self, claims: Sequence[Claim]) -> None:
        """Start executing ``claims``, in order: what the scheduler calls with each batch
        it claims. By default each goes to ``submit()``; a queue hands them over together."""
        for claim in claims:
            self.submit(claim)

    def free_slots(self) -> int:
        """How many more claims this executor takes now; the scheduler claims no more."""
        return 1_000_000

    def running_ids(self) -> set[int]:
        """The runs this executor holds now (executors that own their runs)."""
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
