"""Fire times as the other schedulers compute them and as tablecron does, for comparing an
imported job with the row it came from (tests/imports/)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from tablecron.models import Job

# Five weeks around the spring DST changes of the US and Europe, three around the autumn's.
DST_WINDOWS = [
    (datetime(2026, 3, 1, 0, 0, 7, tzinfo=UTC), datetime(2026, 4, 5, tzinfo=UTC)),
    (datetime(2026, 10, 18, 0, 0, 7, tzinfo=UTC), datetime(2026, 11, 8, tzinfo=UTC)),
]
Fires = Callable[[str, datetime, datetime], set[datetime]]


def fire_differences(
    names: Iterable[str], theirs: Fires
) -> tuple[dict[tuple[str, int], tuple[list[datetime], list[datetime]]], int]:
    """Where the imported jobs ``names`` fire otherwise than ``theirs(name, start, end)``
    says, per job and window (its month): (their fires only, tablecron's only); and how
    many of their fires were compared."""
    differences, compared = {}, 0
    for name in names:
        job = Job.objects.get(name=name)
        for start, end in DST_WINDOWS:
            their_fires = theirs(name, start, end)
            ours = tablecron_fires(job, start, end)
            compared += len(their_fires)
            if their_fires != ours:
                differences[name, start.month] = (
                    sorted(their_fires - ours),
                    sorted(ours - their_fires),
                )
    return differences, compared


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
