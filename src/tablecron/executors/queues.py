"""What executors that hand runs to a queue share: runs start later, elsewhere.

Their claims are recorded ``scheduled``, held by the claiming scheduler; a worker starts
each through the run's conditional transition (``tablecron.workers``). Claims are sent
in order; while the queue is away they wait here and the scheduler claims nothing more,
and each is sent when it is back. A sent run records when it was queued; if this
process dies, its unsent runs (no ``queued_at``) are handed back to the other
schedulers, and its sent ones stay with the queue. Recording that a run was sent is
retried with the next send when the database is away meanwhile: sending never fails
for it, so every claim of a loop is sent.
"""

from __future__ import annotations

import logging
from abc import abstractmethod
from collections import deque
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from datetime import timedelta
from typing import ClassVar

from django.db import DatabaseError, transaction
from django.db.models.functions import Now
from django.utils import timezone

from tablecron.conf import settings
from tablecron.db import close_all_connections
from tablecron.execution import Claim, Outcome
from tablecron.executors.base import Executor
from tablecron.models import JobRun, RunStatus
from tablecron.outcomes import record

logger = logging.getLogger("tablecron")


class QueueExecutor(Executor):
    starts_at_claim = False
    owns_runs = False
    claims_ahead = timedelta(0)  # a worker that waited for a run's time would hold a slot
    #: The exceptions of ``publish()`` that mean the queue is away for now.
    away_errors: ClassVar[tuple[type[BaseException], ...]] = (OSError,)

    def __init__(self) -> None:
        self._unsent: deque[Claim] = deque()
        self._unmarked: list[int] = []  # sent, not yet recorded queued
        self._away = False

    @abstractmethod
    def publish(self, claim: Claim) -> None:
        """Put ``claim`` on the queue, or raise."""

    def publish_many(self, claims: list[Claim]) -> None:
        """Put ``claims`` on the queue as one message, or raise: for executors whose
        ``next_message()`` takes more than one."""
        raise NotImplementedError

    def next_message(self, unsent: Sequence[Claim]) -> int:
        """How many of the ``unsent`` claims, from the first, go in the next message."""
        return 1

    def sending(self) -> AbstractContextManager[object]:
        """Held while a batch of claims is published: one connection for all of them,
        say. Raising one of ``away_errors`` means the queue is away."""
        return nullcontext()

    def submit(self, claim: Claim) -> None:
        self.submit_many([claim])

    def submit_many(self, claims: Sequence[Claim]) -> None:
        if self.submits_in_claim:  # in the claim's transaction: the queue away rolls it back
            with self.sending():
                for claim in claims:
                    self._publish_in_claim(claim)
            return
        self._unsent.extend(claims)
        self._send()

    def _publish_in_claim(self, claim: Claim) -> None:
        """Publish ``claim`` in a savepoint of the claim's transaction; a claim the queue
        refuses (a queue name its backend does not accept, say) fails its own run, and
        the others go on."""
        try:
            with transaction.atomic(using=settings.DATABASE):
                self.publish(claim)
        except self.away_errors:
            raise
        except Exception as exc:
            self._refused(claim, exc)

    def free_slots(self) -> int:
        return 0 if self._unsent else super().free_slots()

    def wait_for_slot(self, timeout: float) -> None:
        """Try the unsent claims again; wait out ``timeout`` if the queue is still away."""
        self._send()
        if self._unsent:
            super().wait_for_slot(timeout)

    def _send(self) -> None:
        sent: list[int] = []
        try:
            with self.sending():
                self._publish_unsent(sent)
        except self.away_errors as exc:
            self._went_away(exc)
        finally:
            self._mark_queued(sent)

    def _publish_unsent(self, sent: list[int]) -> None:
        """Publish the unsent claims in order, a message at a time, adding the ids of the
        runs sent to ``sent``; one of ``away_errors`` stops it, with the message's claims
        still first in line."""
        while self._unsent:
            claims = [self._unsent[n] for n in range(self.next_message(self._unsent))]
            try:
                if len(claims) == 1:
                    self.publish(claims[0])
                else:
                    self.publish_many(claims)
                sent += [claim.run_id for claim in claims]
            except self.away_errors:
                raise
            except Exception as exc:  # claims that can never be sent: say so in their rows
                for claim in claims:
                    self._refused(claim, exc)
            if self._away:
                logger.warning("tablecron: %s is back", self.name)
                self._away = False
            for _ in claims:
                self._unsent.popleft()

    def _refused(self, claim: Claim, exc: Exception) -> None:
        """A claim that can never be sent: its run fails, saying why."""
        logger.exception("tablecron: could not send run %d", claim.run_id)
        error = f"It could not be sent to {self.name}: {exc!r}"
        refused = Outcome(claim, RunStatus.FAILED, None, timezone.now(), None, error,
                          was=RunStatus.SCHEDULED)  # fmt: skip
        record([refused])

    def _went_away(self, exc: BaseException) -> None:
        if not self._away:
            logger.warning("tablecron: %s is away (%s); claims wait", self.name, exc)
        self._away = True

    def _mark_queued(self, sent: list[int]) -> None:
        """Record the runs sent (and those whose record failed before) as queued."""
        self._unmarked += sent
        if not self._unmarked:
            return
        try:
            JobRun.objects.filter(pk__in=self._unmarked, queued_at__isnull=True).update(
                queued_at=Now()
            )
            self._unmarked = []
        except DatabaseError:
            logger.warning(
                "tablecron: could not record %d runs as queued; retrying with the next send",
                len(self._unmarked),
            )
            close_all_connections()
