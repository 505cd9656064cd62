"""What one due job turns into when it is claimed: runs to execute, fires recorded as
missed (misfire grace, coalescing, max_instances), and its next fire time."""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from tablecron import schedules
from tablecron.exceptions import InvalidSchedule
from tablecron.models import RunStatus
from tablecron.models.calendar import schedule_of

logger = logging.getLogger("tablecron")

MAX_CATCHUP = 100  # missed fires recorded per job and claim after downtime


class DueJob(NamedTuple):
    """The columns of a ``Job`` that claiming it needs, read without building a model:
    a claim reads hundreds of rows, and model instances cost more than the rest of it."""

    id: int
    name: str
    task: str
    args: list[Any]
    kwargs: dict[str, Any]
    cron: str
    interval: timedelta | None
    run_at: datetime | None
    timezone: str
    start_at: datetime | None
    end_at: datetime | None
    jitter: timedelta | None
    misfire_grace: timedelta | None
    coalesce: bool
    max_instances: int
    timeout: timedelta | None
    max_retries: int
    retry_delay: timedelta
    next_run_at: datetime | None
    version: int
    queue: str = ""
    calendar: str = ""
    calendar_rule: str = "skip"
    calendar_day: int | None = None

    def schedule(self) -> schedules.Schedule | None:
        return schedule_of(self)


class Planned(NamedTuple):
    """One run to record: ``status`` is SCHEDULED for a run to execute (``waits`` if it
    waits for its jittered ``not_before`` instead of starting at once), else its end."""

    scheduled_for: datetime
    status: str
    not_before: datetime
    error: str = ""
    waits: bool = False


@dataclass(frozen=True)
class Plan:
    runs: list[Planned]
    next_run_at: datetime | None


def plan(
    job: DueJob, now: datetime, active: int, rng: random.Random, until: datetime | None = None
) -> Plan:
    """The plan for ``job`` at ``now``, with ``active`` runs already going: its fires up to
    ``until`` (``now``, or a little later when claiming ahead of time)."""
    until = until or now
    try:
        schedule = job.schedule()
    except InvalidSchedule as exc:
        at = job.next_run_at or now
        error = f"The job's schedule is invalid: {exc.message}"
        return Plan([Planned(at, RunStatus.FAILED, at, error)], None)
    fires: list[datetime] = []
    fire = job.next_run_at
    while fire is not None and fire <= until and len(fires) < MAX_CATCHUP:
        fires.append(fire)
        fire = schedule.next_after(fire) if schedule else None
    skipped = None  # more fires than MAX_CATCHUP are due: one run records the rest
    if fire is not None and fire <= until and schedule is not None:
        logger.warning("tablecron: %s missed more than %d fires", job.name, MAX_CATCHUP)
        skipped = Planned(
            fire,
            RunStatus.MISSED,
            fire,
            f"Missed with every later fire up to {until.isoformat(' ', 'seconds')}: "
            f"more than {MAX_CATCHUP} were due at once.",
        )
        fire = schedule.next_after(until)
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
    runs = [Planned(f, RunStatus.MISSED, f, why) for f, why in missed.items()]
    for f in on_time[skip:]:
        if job.jitter:  # waits as a pending run until its jittered start
            runs.append(Planned(f, RunStatus.SCHEDULED, f + rng.random() * job.jitter, waits=True))
        else:
            runs.append(Planned(f, RunStatus.SCHEDULED, f))
    if skipped is not None:
        runs.append(skipped)
    return Plan(runs, fire)
