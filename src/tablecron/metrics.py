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


class Recorder:
    """Counts nothing: what a process without ``prometheus_client`` uses."""

    def run_started(self, job_name: str, due: datetime, started_at: datetime) -> None:
        """A run started, ``started_at``, though due at ``due``."""

    def run_ended(self, job_name: str, status: str, duration: float | None = None) -> None:
        """A run ended with ``status``, after ``duration`` seconds if it ran."""


recorder = Recorder()


def install(new: Recorder) -> None:
    """Count with ``new`` from now on, in this process."""
    global recorder
    recorder = new
