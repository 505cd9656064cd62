"""Reading the recorded task calls, and matching them to the fires that were due.

Every call appends ``job, fire, called, pid`` to its process's file (benchapp/recording.py).
``tally()`` compares a job's calls with the fire times it should have had in a window:

- a call that says its fire time (tablecron's registered function reads its run's
  ``scheduled_for``) belongs to that fire;
- a call that does not (django-celery-beat's and django-apscheduler's tasks are not told)
  is matched greedily: calls in time order, each to the earliest fire not yet matched that
  is due at or before it. Lateness is never understated this way: a skipped fire shows as
  later calls for every fire after it, and as one fire missing at the end;
- django-celery-beat's every-second task (a 1 s IntervalSchedule) has no phase of its own:
  its fires are one a second in the phase of its last call before the window (from the
  window's start if it had none), and a call up to 0.5 s before its fire counts as on
  time, since the worker's latency may have delayed the call that set the phase;
- a fire no call matched is missing (infinitely late in the percentiles). It was dropped
  silently unless the scheduler recorded it as missed (``reported``).
"""

from __future__ import annotations

import math
import os
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

EARLY = 0.01  # seconds a call may precede its fire on a fixed grid (clock rounding)
# ... on an anchored grid, whose phase comes from a call that the worker's latency delayed:
# the calls after it may come that much earlier, and are not calls of the next fire.
EARLY_ANCHORED = 0.5


class Call(NamedTuple):
    job: str
    fire: float | None
    called: float
    pid: int


class CallLog:
    """The calls recorded so far, by job; ``read()`` takes in what was appended since."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.by_job: dict[str, list[Call]] = defaultdict(list)
        self._offsets: dict[str, int] = {}

    def read(self) -> int:
        new = 0
        for entry in os.scandir(self.directory):
            if entry.name.startswith("calls-"):
                new += self._read_file(entry.path)
        return new

    def _read_file(self, path: str) -> int:
        with open(path, "rb") as file:
            file.seek(self._offsets.get(path, 0))
            data = file.read()
        complete = data[: data.rfind(b"\n") + 1]  # a line being written is read next time
        self._offsets[path] = self._offsets.get(path, 0) + len(complete)
        lines = complete.decode().splitlines()
        for line in lines:
            job, fire, called, pid = line.split("\t")
            call = Call(job, float(fire) if fire else None, float(called), int(pid))
            self.by_job[job].append(call)
        return len(lines)

    def calls(self, prefix: str) -> list[Call]:
        return [c for job, calls in self.by_job.items() if job.startswith(prefix) for c in calls]

    def count(self, prefix: str) -> int:
        self.read()
        return sum(len(calls) for job, calls in self.by_job.items() if job.startswith(prefix))

    def first(self, job: str) -> Call | None:
        self.read()
        calls = self.by_job.get(job)
        return min(calls, key=lambda c: c.called) if calls else None

    def forget(self, prefix: str) -> None:
        for job in [job for job in self.by_job if job.startswith(prefix)]:
            del self.by_job[job]


@dataclass
class Tally:
    expected: int = 0
    lateness: list[float] = field(default_factory=list)  # seconds, one per fire that ran
    missing: int = 0
    reported: int = 0  # missing fires the scheduler recorded (missed, lost, ...)
    extra: int = 0  # calls no due fire could account for (duplicates)
    pids: set[int] = field(default_factory=set)

    @property
    def silent(self) -> int:
        return self.missing - self.reported

    def percentile(self, q: float) -> float:
        """Nearest-rank percentile of the lateness, missing fires counted as infinite."""
        if not self.expected:
            return math.nan
        values = sorted(self.lateness) + [math.inf] * self.missing
        return values[max(0, math.ceil(q / 100 * len(values)) - 1)]

    @property
    def kept_up(self) -> bool:
        return self.expected > 0 and self.missing == 0 and self.percentile(99) <= 1.0


def tally(
    calls_by_job: dict[str, list[Call]],
    jobs: Iterable[str],
    start: float,
    end: float,
    *,
    anchored: bool,
    reported: dict[str, int],
) -> Tally:
    """Every-second ``jobs`` over the window [start, end) of whole seconds. ``anchored``:
    the job has no phase of its own (see ``_anchored_fires``)."""
    result = Tally()
    for job in jobs:
        calls = sorted(calls_by_job.get(job, []), key=lambda c: c.called)
        result.pids.update(c.pid for c in calls)
        if anchored:
            fires = _anchored_fires(calls, start, end)
        else:
            fires = [float(s) for s in range(math.ceil(start), math.ceil(end))]
        lateness, extra = _match(calls, fires, EARLY_ANCHORED if anchored else EARLY)
        result.expected += len(fires)
        result.lateness += lateness
        result.missing += len(fires) - len(lateness)
        result.reported += min(reported.get(job, 0), len(fires) - len(lateness))
        result.extra += extra
    return result


def _anchored_fires(calls: list[Call], start: float, end: float) -> list[float]:
    """One a second in [start, end), in the phase of the job's last call before ``start``
    (from ``start`` on if it had none: it was due all along)."""
    before = [c.called for c in calls if c.called < start]
    first = before[-1] + math.ceil(start - before[-1]) if before else start
    return [first + k for k in range(math.ceil(end - first))]


def _match(calls: list[Call], fires: list[float], early: float) -> tuple[list[float], int]:
    """(lateness of each matched fire, calls that matched none)."""
    if calls and all(c.fire is not None for c in calls):
        return _match_told(calls, fires)
    calls = [c for c in calls if c.called >= fires[0] - early] if fires else []
    return _match_greedy(calls, fires, early)


def _match_told(calls: list[Call], fires: list[float]) -> tuple[list[float], int]:
    due = {round(f, 3) for f in fires}
    seen: set[float] = set()
    lateness, extra = [], 0
    for call in calls:
        assert call.fire is not None
        key = round(call.fire, 3)
        if key in seen:
            extra += 1
        elif key in due:
            seen.add(key)
            lateness.append(call.called - call.fire)
    return lateness, extra


def _match_greedy(calls: list[Call], fires: list[float], early: float) -> tuple[list[float], int]:
    lateness, extra, next_fire = [], 0, 0
    for call in calls:
        if next_fire < len(fires) and fires[next_fire] <= call.called + early:
            lateness.append(max(0.0, call.called - fires[next_fire]))
            next_fire += 1
        elif next_fire < len(fires):
            extra += 1  # no fire was due yet: a second call for one already matched
    return lateness, extra
