"""What the processes that fire and execute runs count, for Prometheus.

The scheduler, the executors and housekeeping call ``recorder``'s methods; they do
nothing until the Prometheus integration (``tablecron.contrib.prometheus``, the
``metrics`` extra) puts its counters in its place. So the core imports no
``prometheus_client``, and a process without it counts nothing, at no cost. What is
better read from the database at scrape time (the backlog, queued runs, live schedulers,
each job's last success) is not counted here: see ``contrib.prometheus.collector``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any


class Recorder:
    """Counts nothing: what a process without ``prometheus_client`` uses."""

    def run_started(self, job_name: str, due: datetime, started_at: datetime) -> None:
        """A run started, ``started_at``, though due at ``due``."""

    def run_ended(self, job_name: str, status: str, duration: float | None = None) -> None:
        """A run ended with ``status``, after ``duration`` seconds if it ran."""


class Tally(Recorder):
    """Keeps what it is told, for another process to count: a process executor's child
    hands its tally to the scheduler with each run's end (``replay()``)."""

    def __init__(self) -> None:
        self.events: list[list[Any]] = []

    def run_started(self, job_name: str, due: datetime, started_at: datetime) -> None:
        self.events.append(["started", job_name, due.isoformat(), started_at.isoformat()])

    def run_ended(self, job_name: str, status: str, duration: float | None = None) -> None:
        self.events.append(["ended", job_name, status, duration])

    def take(self) -> list[list[Any]]:
        events, self.events = self.events, []
        return events


def replay(events: list[list[Any]]) -> None:
    """Count here what a ``Tally`` kept in another process."""
    for kind, job_name, *rest in events:
        if kind == "started":
            due, started_at = (datetime.fromisoformat(value) for value in rest)
            recorder.run_started(job_name, due, started_at)
        else:
            recorder.run_ended(job_name, *rest)


recorder = Recorder()


def install(new: Recorder) -> None:
    """Count with ``new`` from now on, in this process."""
    global recorder
    recorder = new
