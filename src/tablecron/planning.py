"""What one due job turns into when it is claimed: runs to execute, fires recorded as
missed (misfire grace, coalescing, max_instances), and its next fire time."""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from datetime import datetime

from django.core.exceptions import ValidationError

from tablecron.models import Job, JobRun, RunStatus, RunTrigger

logger = logging.getLogger("tablecron")

MAX_CATCHUP = 100  # missed fires recorded per job and claim after downtime


@dataclass(frozen=True)
class Plan:
    runs: list[JobRun]
    next_run_at: datetime | None


def plan(job: Job, now: datetime, active: int, worker: str, rng: random.Random) -> Plan:
    """The plan for ``job``, due at ``now`` with ``active`` runs already going."""
    try:
        schedule = job.get_schedule()
    except ValidationError as exc:
        error = f"The job's schedule is invalid: {exc.messages}"
        run = _run(job, job.next_run_at or now, RunStatus.FAILED, error, now, worker, rng)
        return Plan([run], None)
    fires: list[datetime] = []
    fire = job.next_run_at
    while fire is not None and fire <= now and len(fires) < MAX_CATCHUP:
        fires.append(fire)
        fire = schedule.next_after(fire) if schedule else None
    if fire is not None and fire <= now and schedule is not None:
        logger.warning("tablecron: %s missed more than %d fires", job.name, MAX_CATCHUP)
        fire = schedule.next_after(now)
    grace = job.misfire_grace
    missed = {
        f: "Later than the misfire grace time."
        for f in fires
        if grace is not None and now - f > grace
    }
    on_time = [f for f in fires if f not in missed]
    if job.coalesce and len(on_time) > 1:
        missed.update(dict.fromkeys(on_time[:-1], f"Coalesced into the run of {on_time[-1]}."))
        on_time = on_time[-1:]
    skip = max(0, len(on_time) - max(0, job.max_instances - active))
    missed.update(dict.fromkeys(on_time[:skip], f"{job.max_instances} run(s) already active."))
    runs = [_run(job, f, RunStatus.MISSED, why, now, worker, rng) for f, why in missed.items()]
    runs += [_run(job, f, RunStatus.SCHEDULED, "", now, worker, rng) for f in on_time[skip:]]
    return Plan(runs, fire)


def _run(
    job: Job,
    fire: datetime,
    status: str,
    error: str,
    now: datetime,
    worker: str,
    rng: random.Random,
) -> JobRun:
    run = JobRun(
        job=job,
        job_name=job.name,
        scheduled_for=fire,
        status=status,
        error=error,
        trigger=RunTrigger.SCHEDULE,
        worker=worker,
        not_before=fire,
    )
    if status != RunStatus.SCHEDULED:
        run.finished_at = now
    elif job.jitter:
        run.worker = ""  # waits as a pending run until its jittered start
        run.not_before = fire + rng.random() * job.jitter
    return run
