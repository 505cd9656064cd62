"""Fire times as the other schedulers compute them and as tablecron does, for comparing an
imported job with the row it came from (tests/imports/)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tablecron.models import Job


def tablecron_fires(job: Job, start: datetime, end: datetime) -> set[datetime]:
    """The imported job's fire times in [start, end), by its own schedule."""
    schedule = job.get_schedule()
    assert schedule is not None
    fires, fire = set(), schedule.next_after(start)
    while fire is not None and fire < end:
        fires.add(fire)
        fire = schedule.next_after(fire)
    return fires


def beat_fires(schedule: Any, start: datetime, end: datetime) -> set[datetime]:
    """A celery schedule's fire times in [start, end), as beat computes them: celery's
    ``remaining_estimate()`` from the last run, asked at the moment of that run."""
    fires, last = set(), start
    while True:
        schedule.nowfun = lambda last=last: last
        fire = (last + schedule.remaining_estimate(last)).astimezone(UTC)
        if fire >= end:
            return fires
        fires.add(fire)
        last = fire


def apscheduler_fires(trigger: Any, start: datetime, end: datetime) -> set[datetime]:
    """An APScheduler 3 trigger's fire times in [start, end): ``get_next_fire_time()``."""
    fires, previous = set(), None
    fire = trigger.get_next_fire_time(None, start)
    while fire is not None and fire < end:
        fires.add(fire.astimezone(UTC))
        previous = fire
        fire = trigger.get_next_fire_time(previous, fire)
    return fires
