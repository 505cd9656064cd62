"""How runs end: every end of a run, whoever decides it, is written by ``record()``,
with the bookkeeping it implies (the job's last run, the retry, metrics, the signal).

Every end is a conditional UPDATE, so a run that was meanwhile marked ``timed_out``,
``lost`` or ``cancelled`` by another party keeps that status. Outcomes are written in
batches, one transaction for all the runs that ended meanwhile.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime

from django.db import DatabaseError, OperationalError, transaction
from django.utils import timezone

from tablecron import chains, metrics
from tablecron.db import close_all_connections
from tablecron.execution import Claim, Outcome, send
from tablecron.models import JobRun, RunStatus, RunTrigger
from tablecron.running import write_output
from tablecron.signals import run_finished
from tablecron.sql import statements

logger = logging.getLogger("tablecron")

FINISH_ATTEMPTS = 6  # about 6 s of retries in all


def finish(claim: Claim, status: str, *, error: str = "") -> bool:
    """End a running run now (a timeout, say); False if someone else ended it first."""
    return bool(record([Outcome(claim, status, None, timezone.now(), None, error)]))


def end(runs: Iterable[JobRun], status: str, error: str, now: datetime) -> int:
    """End ``runs`` (read with their job) with ``status`` at ``now``, each only if it is
    still as it was read (its status and worker): lost, missed, cancelled. ``error`` may
    name the run's ``{worker}``. Returns how many were ended here."""
    return record(
        [
            Outcome(
                Claim.of_run(run),
                status,
                None,
                now,
                None,
                error.format(worker=run.worker),
                was=run.status,
                held_by=run.worker,
            )
            for run in runs
        ]
    )


def record(outcomes: Sequence[Outcome]) -> int:
    """The one way a run ends, whatever ended it (its task, a timeout, the reaper of lost
    runs, a queue that refused it, a person): writes each run's status, its job's last
    run and last success, the retry it calls for and, for a success, the runs of the jobs
    that follow its job (``chains.follow()``), then counts it (metrics) and sends
    ``run_finished`` after the commit, for the runs ended here only. Returns how many.

    Most go in one batch, one transaction that never waits for a row while holding
    others (see ``Statements.writable()``). Outcomes whose rows are busy and failures
    that may be retried (written with their retry) are written one by one, each in a
    transaction that holds one run and one job.
    """
    sql = statements()
    # One outcome alone is written as a batch's busy ones are (a run and its job): a
    # worker's outcome, most often, in a single statement where the database allows.
    batch = [o for o in outcomes if not o.retries] if len(outcomes) > 1 else []
    ready: list[Outcome] = []
    ended: list[Outcome] = []
    try:
        if batch:  # else no transaction at all: each goes alone below
            with transaction.atomic(using=sql.alias):
                free = sql.writable([(o.claim.run_id, o.claim.job_id) for o in batch])
                ready = [o for o in batch if o.claim.run_id in free]
                ids = sql.finish_runs([o.row for o in ready])
                ended = [o for o in ready if o.claim.run_id in ids]
                _write_output(ended)
                chains.follow(ended, sql.alias)
    except OperationalError as exc:
        if not sql.is_lock_timeout(exc):
            raise
        logger.debug("tablecron: %d outcomes met a busy row; writing them one by one", len(batch))
        ready, ended = [], []
    ready_ids = {id(o) for o in ready}
    ended += [o for o in outcomes if id(o) not in ready_ids and _record_one(o)]
    for outcome in ended:
        metrics.recorder.run_ended(outcome.claim.job_name, outcome.status, outcome.duration)
        send(run_finished, outcome.claim)
    return len(ended)


def _record_one(outcome: Outcome) -> bool:
    sql = statements()
    alone = not (outcome.retries or outcome.claim.followed or _has_output(outcome))
    if sql.finishes_in_one_statement and alone:
        return bool(sql.finish_runs([outcome.row]))  # its own commit: no BEGIN, no COMMIT
    with transaction.atomic(using=sql.alias):
        if not sql.finish_runs([outcome.row]):
            return False
        _write_output([outcome])
        chains.follow([outcome], sql.alias)
        if outcome.retries:
            schedule_retry(outcome.claim, outcome.finished_at)
    return True


def _has_output(outcome: Outcome) -> bool:
    return bool(outcome.output and (outcome.output.added or outcome.output.gone))


def _write_output(ended: Sequence[Outcome]) -> None:
    """The rest of the output of runs just ended, in the same commit as their end."""
    output = {o.claim.run_id: o.output for o in ended if o.output and _has_output(o)}
    if output:
        write_output(output)


def schedule_retry(claim: Claim, now: datetime) -> JobRun | None:
    """A new attempt of a failed run, if the job allows one, waiting ``retry_delay``."""
    if claim.job_id is None or claim.attempt > claim.max_retries:
        return None
    return JobRun.objects.create(
        job_id=claim.job_id,
        job_name=claim.job_name,
        scheduled_for=claim.scheduled_for,
        attempt=claim.attempt + 1,
        trigger=RunTrigger.RETRY,
        status=RunStatus.SCHEDULED,
        not_before=now + claim.retry_delay,
        args=claim.args,  # the failed attempt's: its job's may have changed since
        kwargs=claim.kwargs,
    )


def write_now(outcome: Outcome) -> bool:
    """Record ``outcome`` now; False if its run had ended meanwhile."""
    return bool(record_despite_outages([outcome]))


def record_despite_outages(outcomes: Sequence[Outcome]) -> int:
    """The outcomes are known only here: keep trying to record them through a short
    outage. Runs whose outcome could not be written stay running until reaped as lost."""
    for attempt in range(FINISH_ATTEMPTS):
        try:
            return record(outcomes)
        except DatabaseError:
            if attempt == FINISH_ATTEMPTS - 1:
                raise
            logger.warning("tablecron: could not record %d runs; retrying", len(outcomes))
            close_all_connections()
            time.sleep(min(0.2 * 2**attempt, 5.0))
    return 0


class BatchWriter:
    """Writes outcomes from many threads in few transactions (group commit).

    A thread that finds no write in progress writes every outcome recorded so far, and
    goes on while more arrive; the others only add theirs and return. One commit then
    carries many runs: each commit costs the database a flush to disk. ``written`` is
    called with the run ids of each batch, written or, after an outage, given up.
    """

    def __init__(self, written: Callable[[list[int]], None]) -> None:
        self._written = written
        self._lock = threading.Lock()
        self._pending: list[Outcome] = []
        self._writing = False

    def write(self, outcome: Outcome) -> None:
        with self._lock:
            self._pending.append(outcome)
            if self._writing:
                return
            self._writing = True
        try:
            while batch := self._take():  # ends with _writing cleared, under the lock
                try:
                    record_despite_outages(batch)
                except DatabaseError:
                    logger.exception("tablecron: could not record %d runs", len(batch))
                finally:
                    self._written([o.claim.run_id for o in batch])
        except BaseException:
            with self._lock:
                self._writing = False
            raise

    def _take(self) -> list[Outcome]:
        with self._lock:
            batch, self._pending = self._pending, []
            if not batch:
                self._writing = False
            return batch
