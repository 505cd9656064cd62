"""Jobs that follow jobs: each success of a job runs, once, every job whose ``after``
names it (its followers).

A follower's run is written by ``outcomes.record()``, the one way a run ends, in the
same transaction as its upstream run's success: a run waiting for any scheduler, as a
manual run does, with the trigger ``after`` and a link to the upstream run
(``upstream_run``). The unique key (``upstream_run``, ``job``) proves it once, whatever
the code above it does. Runs that end otherwise (failed, timed out, lost, missed,
cancelled) write nothing.

Only claims of jobs that had followers when claimed (``Claim.followed``, read by the
claim) look for them: the runs of other jobs end as before, without a query more.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime

from tablecron.execution import Outcome
from tablecron.models import Job, JobRun, RunStatus, RunTrigger


def followed(job_ids: Iterable[int | None]) -> set[int]:
    """Those of ``job_ids`` that other jobs run after: one query for a claim's jobs, by
    the index of ``after``. (An EXISTS beside the claim's own read of its jobs made
    PostgreSQL hash the whole job table for each claim.)"""
    ids = {pk for pk in job_ids if pk is not None}
    if not ids:
        return set()
    found = Job.objects.filter(after_id__in=ids).order_by().values_list("after_id", flat=True)
    return {pk for pk in found.distinct() if pk is not None}


def follow(ended: Sequence[Outcome], using: str) -> int:
    """Write a waiting run of each enabled follower of each upstream run that succeeded
    among ``ended`` (inside the transaction that ended them); returns how many."""
    upstream: dict[int, list[Outcome]] = defaultdict(list)
    for outcome in ended:
        claim = outcome.claim
        if claim.followed and claim.job_id is not None and outcome.status == RunStatus.SUCCEEDED:
            upstream[claim.job_id].append(outcome)
    if not upstream:
        return 0
    followers = Job.objects.using(using).filter(after_id__in=upstream, enabled=True)
    runs = [
        _run(pk, name, outcome)
        for pk, name, after_id, start_at, end_at in followers.values_list(
            "pk", "name", "after_id", "start_at", "end_at"
        )
        for outcome in upstream[after_id]
        if _within(outcome.finished_at, start_at, end_at)
    ]
    # ignore_conflicts: the unique key keeps a second writing of the same run out (it
    # cannot happen: the upstream run's end is conditional, and this is its transaction).
    JobRun.objects.using(using).bulk_create(runs, ignore_conflicts=True)
    return len(runs)


def _run(job_id: int, name: str, outcome: Outcome) -> JobRun:
    return JobRun(
        job_id=job_id,
        job_name=name,
        scheduled_for=outcome.finished_at,
        not_before=outcome.finished_at,
        trigger=RunTrigger.AFTER,
        status=RunStatus.SCHEDULED,
        upstream_run_id=outcome.claim.run_id,
    )


def _within(moment: datetime, start_at: datetime | None, end_at: datetime | None) -> bool:
    """Whether ``moment`` is inside a follower's start and end."""
    return (start_at is None or start_at <= moment) and (end_at is None or moment <= end_at)
