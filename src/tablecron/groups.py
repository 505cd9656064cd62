"""Concurrency groups at claim time: which runs of a group may start now.

A run holds a slot of its job's group from the moment a scheduler takes it (recorded
with the group in ``JobRun.concurrency_group`` and a ``worker``) until it ends, however
it ends: running, but also claimed and not started yet, and sent to a queue and not yet
picked up by a worker. A queued run counts, so the limit holds for what executes
whatever the executor, and nothing has to be checked again in the worker.

Every run of a grouped job starts as a run waiting for any scheduler (``JobRun.pending``:
its fires are recorded so too), and is admitted in the claim that takes waiting runs,
the one place a grouped run starts. There the claim locks the group's row
(``SELECT … FOR UPDATE``; SQLite's writers take turns), counts the group's slots taken,
and admits its runs, oldest first, while slots are free. A run that finds its group full
stays waiting, visibly (``waiting_since``, ``JobRun.waiting_reason``), and is looked at
again a poll interval later, by any scheduler; one that has waited longer than its job's
``misfire_grace`` ends ``missed``, saying why. Runs of jobs without a group cost nothing
here: no statement is run for them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import NamedTuple

from django.db.models import F
from django.db.models.functions import Coalesce

from tablecron.models import ConcurrencyGroup, JobRun, RunStatus
from tablecron.models.group import ensure_groups, taken_slots
from tablecron.outcomes import end
from tablecron.planning import DueJob, Plan


class Candidate(NamedTuple):
    """A waiting run of a grouped job, as the claim read it (its job row locked)."""

    pk: int
    group: str
    misfire_grace: timedelta | None
    waiting_since: datetime | None
    not_before: datetime | None

    @property
    def due_since(self) -> datetime | None:
        """Since when it has been due: when it first found its group full, or its start."""
        return self.waiting_since or self.not_before


class Admission(NamedTuple):
    """What became of the candidates not admitted: each run that waits, with its group,
    and each run that waited too long, with the error it ends with."""

    waiting: dict[int, str]
    missed: dict[int, str]


def through_waiting(job: DueJob, planned: Plan) -> Plan:
    """A grouped job's fires are recorded waiting for any scheduler, to be admitted with
    the other waiting runs of its group, oldest first."""
    if not job.concurrency_group:
        return planned
    runs = [
        run._replace(waits=True) if run.status == RunStatus.SCHEDULED else run
        for run in planned.runs
    ]
    return Plan(runs, planned.next_run_at)


def not_admitted(run_ids: Sequence[int], now: datetime, later: datetime, using: str) -> set[int]:
    """Of the waiting runs ``run_ids`` of grouped jobs, those that do not start now: each
    waits (looked at again at ``later``), or has waited too long and ends missed here.
    The others take a slot, once the caller records them taken in this transaction."""
    admission = admit(candidates(run_ids), now, using)
    hold(admission.waiting, later, using)
    end_missed(admission.missed, now)
    return admission.waiting.keys() | admission.missed.keys()


def candidates(run_ids: Sequence[int]) -> list[Candidate]:
    """The waiting runs ``run_ids`` of grouped jobs, with their job's group and grace.
    No statement when there are none."""
    if not run_ids:
        return []
    rows = JobRun.objects.filter(pk__in=run_ids).values_list(
        "pk", "job__concurrency_group", "job__misfire_grace", "waiting_since", "not_before"
    )
    return [Candidate(*row) for row in rows]


def admit(candidates: Sequence[Candidate], now: datetime, using: str) -> Admission:
    """Lock the candidates' groups and decide: those not in the returned ``Admission``
    take a slot. Called inside the claim's transaction, which records the admitted runs
    as taken (their ``worker`` and ``concurrency_group``) before it lets the locks go."""
    if not candidates:
        return Admission({}, {})
    names = sorted({run.group for run in candidates})
    limits = lock(names, using)
    taken = taken_slots(names, using)
    waiting: dict[int, str] = {}
    missed: dict[int, str] = {}
    for run in sorted(candidates, key=lambda run: (run.due_since or now, run.pk)):
        busy = taken.get(run.group, 0)
        if busy < limits[run.group]:
            taken[run.group] = busy + 1
        elif _too_late(run, now):
            missed[run.pk] = (
                f"It waited for group {run.group} longer than the misfire grace time "
                f"({run.misfire_grace}): {busy} of {limits[run.group]} running."
            )
        else:
            waiting[run.pk] = run.group
    return Admission(waiting, missed)


def _too_late(run: Candidate, now: datetime) -> bool:
    due = run.due_since
    return run.misfire_grace is not None and due is not None and now - due > run.misfire_grace


def lock(names: Sequence[str], using: str) -> dict[str, int]:
    """Lock the rows of the groups ``names``, in name order (no two claims deadlock),
    creating those missing with limit 1; returns each group's limit."""
    found = _locked(names, using)
    if len(found) < len(names):
        ensure_groups(set(names) - found.keys(), using)
        found = _locked(names, using)
    return found


def _locked(names: Sequence[str], using: str) -> dict[str, int]:
    rows = (
        ConcurrencyGroup.objects.using(using)
        .select_for_update()
        .filter(name__in=names)
        .order_by("name")
        .values_list("name", "limit")
    )
    return dict(rows)


def hold(waiting: dict[int, str], later: datetime, using: str) -> None:
    """The runs ``waiting`` (run id: group) wait for their group: looked at again at
    ``later``; the time they first found it full is kept."""
    for group in set(waiting.values()):
        JobRun.objects.using(using).filter(
            pk__in=[pk for pk, name in waiting.items() if name == group]
        ).update(
            # First: MySQL assigns left to right, each seeing the one before.
            waiting_since=Coalesce(F("waiting_since"), F("not_before")),
            not_before=later,
            concurrency_group=group,
        )


def end_missed(missed: dict[int, str], now: datetime) -> None:
    """End the runs ``missed`` (run id: error), which waited longer than their grace."""
    if not missed:
        return
    for run in JobRun.objects.filter(pk__in=missed).select_related("job"):
        # end() fills in {worker}: a group's name is text, braces and all.
        error = missed[run.pk].replace("{", "{{").replace("}", "}}")
        end([run], RunStatus.MISSED, error, now)
