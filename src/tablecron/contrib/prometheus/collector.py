"""The gauges read from the database at scrape time: the due backlog, queued and running
runs, live schedulers and workers, and each job's last success and next run. The table
is the truth whatever the number of processes, so any process may answer, and two that
answer agree."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime, timedelta

from django.db import DatabaseError
from django.db.models import Count, Min
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from tablecron.conf import settings
from tablecron.db import close_all_connections, db_now
from tablecron.models import Job, JobRun, RunStatus, SchedulerInstance
from tablecron.models.scheduler import Role

logger = logging.getLogger("tablecron")


class Exposed(Collector):
    """What a scrape reads: the ``process`` metrics (this process's registry, or every
    process's files in multiprocess mode) and the database's. ``close_connections``:
    the scrape runs in a thread of its own, whose connections nothing else closes."""

    def __init__(self, process: Collector, *, close_connections: bool = False) -> None:
        self.process = process
        self.close_connections = close_connections

    def collect(self) -> Iterator[Metric]:
        yield from self.process.collect()
        try:
            yield from database_metrics()
        finally:
            if self.close_connections:
                close_all_connections()


def database_metrics() -> list[Metric]:
    """A few aggregate queries; ``tablecron_database_up`` says whether they worked."""
    up = GaugeMetricFamily(
        "tablecron_database_up", "1 if tablecron's tables could be read for this scrape."
    )
    try:
        metrics = _read(db_now())
    except DatabaseError:
        logger.warning("tablecron: could not read the metrics from the database", exc_info=True)
        up.add_metric([], 0)
        return [up]
    up.add_metric([], 1)
    return [up, *metrics]


def _read(now: datetime) -> list[Metric]:
    due = Job.objects.due(now).order_by().aggregate(n=Count("pk"), oldest=Min("next_run_at"))
    backlog = GaugeMetricFamily("tablecron_due_jobs", "Enabled jobs whose next run has come.")
    backlog.add_metric([], due["n"])
    oldest = GaugeMetricFamily(
        "tablecron_oldest_due_seconds", "How long the longest-waiting due job has waited."
    )
    oldest.add_metric([], (now - due["oldest"]).total_seconds() if due["oldest"] else 0.0)

    active = dict(
        JobRun.objects.active().values("status").annotate(n=Count("pk")).values_list("status", "n")
    )
    queued = GaugeMetricFamily(
        "tablecron_queued_runs", "Runs recorded and waiting to start (claimed, queued, retries)."
    )
    queued.add_metric([], active.get(RunStatus.SCHEDULED, 0))
    running = GaugeMetricFamily("tablecron_running_runs", "Runs running now.")
    running.add_metric([], active.get(RunStatus.RUNNING, 0))

    lost_after = timedelta(seconds=settings.LOST_AFTER)
    alive = dict(
        SchedulerInstance.objects.alive(now, lost_after)
        .values("role")
        .annotate(n=Count("pk"))
        .values_list("role", "n")
    )
    live = GaugeMetricFamily(
        "tablecron_live_instances",
        "Schedulers and workers whose heartbeat is fresh.",
        labels=["role"],
    )
    for role in Role:
        live.add_metric([role.value], alive.get(role, 0))
    return [backlog, oldest, queued, running, live, *_per_job()]


def _per_job() -> list[Metric]:
    success = GaugeMetricFamily(
        "tablecron_job_last_success_timestamp_seconds",
        "When each job's newest successful run ended (Unix time); absent until one has.",
        labels=["job_name"],
    )
    upcoming = GaugeMetricFamily(
        "tablecron_job_next_run_timestamp_seconds",
        "When each job fires next (Unix time); absent when paused, finished or manual-only.",
        labels=["job_name"],
    )
    rows = Job.objects.order_by().values_list("name", "last_success_at", "next_run_at")
    for name, last_success_at, next_run_at in rows.iterator(chunk_size=2000):
        if last_success_at is not None:
            success.add_metric([name], last_success_at.timestamp())
        if next_run_at is not None:
            upcoming.add_metric([name], next_run_at.timestamp())
    return [success, upcoming]
