"""The dashboard: what the jobs will do in the next 24 hours and how they did in the last
day, read in a constant number of queries whatever the number of jobs.

The database aggregates: jobs that share a schedule are one group (one ``GROUP BY``), runs
are counted per hour and per job in SQL, with datetime arithmetic in each database's own
functions (``sql.functions``). Python computes fire times per distinct schedule, not per
job, within a budget of ``FIRE_BUDGET`` steps; a schedule that fires more often than its
share of the budget is extrapolated at its observed rate to the horizon. Durations and
lateness come from an even sample of the day's successful runs (``TIMING_SAMPLE``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

from django.db.models import Avg, Count, F, Max, Min, Q, Window
from django.db.models.functions import Mod, RowNumber
from django.utils import timezone
from django.utils.formats import time_format
from django.utils.translation import gettext, ngettext

from tablecron import schedules
from tablecron.admin.charts import WIDTH, Chart, sparkline, stacked_bars
from tablecron.admin.display import duration_text, last_line, relative_time
from tablecron.conf import settings
from tablecron.describe import describe_schedule, format_time
from tablecron.exceptions import InvalidSchedule
from tablecron.models import Job, JobRun, RunStatus, RunTrigger, SchedulerInstance
from tablecron.models.calendar import CALENDAR_FIELDS, schedule_of
from tablecron.sql.functions import WholeHoursSince, seconds_between

HORIZON = timedelta(hours=24)
BUCKET = timedelta(minutes=30)
# Distinct schedules whose fire times are computed (those most jobs share); the rest are
# counted, not drawn.
SCHEDULE_GROUPS = 500
FIRE_BUDGET = 20_000
TOP_SCHEDULES = 10
WORST_JOBS = 15
TREND_RUNS = 20
FAILURES = 20
TIMING_SAMPLE = 5_000
INSTANCES = 50
# A job whose next run is older than this is behind: no scheduler is keeping up with it.
OVERDUE = timedelta(minutes=1)
FAILED = (RunStatus.FAILED, RunStatus.TIMED_OUT, RunStatus.LOST)
NEWEST_FIRST = Window(
    RowNumber(),
    partition_by="job_id",
    order_by=[F("scheduled_for").desc(), F("attempt").desc()],
)


@dataclass
class ScheduleGroup:
    """Enabled jobs that share one schedule, and their fires within the horizon."""

    fields: dict[str, Any]
    jobs: int
    name: str  # one of them, the first by name
    fires: float = 0.0

    @property
    def description(self) -> str:
        return describe_schedule(SimpleNamespace(**self.fields))


@dataclass
class Timeline:
    start: datetime
    buckets: list[float]
    top: list[ScheduleGroup]
    jobs: int  # enabled jobs that fire within the horizon
    other_jobs: int  # beyond SCHEDULE_GROUPS distinct schedules: not drawn

    @property
    def total(self) -> float:
        return sum(self.buckets)


def _bucket(moment: datetime, start: datetime) -> int:
    return max(0, int((moment - start) / BUCKET))


def _spread(buckets: list[float], start: datetime, first: datetime, period: timedelta) -> None:
    """Adds fires every ``period`` from ``first`` to the horizon, bucket by bucket."""
    end = start + HORIZON
    for index in range(_bucket(first, start), len(buckets)):
        low = max(first, start + index * BUCKET)
        high = min(end, start + (index + 1) * BUCKET)
        if high > low:
            buckets[index] += (high - low) / period


def _fires(fields: dict[str, Any], first: datetime, start: datetime, steps: int) -> list[float]:
    """A schedule's fires per bucket from ``first`` (if overdue: now), computing at most
    ``steps`` fire times; past them, the rest of the horizon at the rate observed."""
    buckets = [0.0] * int(HORIZON / BUCKET)
    try:
        schedule = schedule_of(SimpleNamespace(**fields))
    except InvalidSchedule:  # a row written around validation: it fires nowhere
        return buckets
    end = start + HORIZON
    fire: datetime | None = first
    for _step in range(steps):
        if fire is None or fire >= end:
            return buckets
        buckets[_bucket(fire, start)] += 1
        fire = schedule.next_after(max(fire, start)) if schedule else None
    if fire is not None and fire < end:
        _spread(buckets, start, fire, (fire - max(first, start)) / steps)
    return buckets


def timeline(now: datetime, jobs_in_horizon: int) -> Timeline:
    """Fires per ``BUCKET`` over the next ``HORIZON`` from the start of the current bucket
    (the half hour): one query, grouped by schedule."""
    minutes = int(BUCKET.total_seconds() // 60)
    now = now.replace(minute=now.minute // minutes * minutes, second=0, microsecond=0)
    rows = (
        Job.objects.filter(enabled=True, next_run_at__lt=now + HORIZON)
        .values(*schedules.FIELDS, *CALENDAR_FIELDS)
        .annotate(jobs=Count("id"), first=Min("next_run_at"), name=Min("name"))
        .order_by("-jobs", "first")[:SCHEDULE_GROUPS]
    )
    rows = list(rows)
    buckets = [0.0] * int(HORIZON / BUCKET)
    groups = []
    steps = FIRE_BUDGET // max(len(rows), 1)
    for row in rows:
        first, jobs, name = row.pop("first"), row.pop("jobs"), row.pop("name")
        fires = _fires(row, first, now, steps)
        for index, count in enumerate(fires):
            buckets[index] += count * jobs
        groups.append(ScheduleGroup(row, jobs, name, sum(fires)))
    top = sorted(groups, key=lambda group: group.fires * group.jobs, reverse=True)
    grouped = sum(group.jobs for group in groups)
    return Timeline(now, buckets, top[:TOP_SCHEDULES], jobs_in_horizon, jobs_in_horizon - grouped)


@dataclass
class Hour:
    """The runs scheduled within one hour of the last day."""

    start: datetime
    by_status: dict[str, int] = field(default_factory=dict)
    duration: timedelta | None = None  # the mean of the successful runs
    lateness: timedelta | None = None  # the mean, of the successful runs the schedule fired

    @property
    def total(self) -> int:
        return sum(self.by_status.values())

    def count(self, *statuses: str) -> int:
        return sum(self.by_status.get(status, 0) for status in statuses)


def _seconds(value: float | None) -> timedelta | None:
    return None if value is None else timedelta(seconds=value)


def last_day(now: datetime) -> list[Hour]:
    """The last 24 hours of runs: per hour and status, all of them; the mean duration and
    lateness per hour, of at most about ``TIMING_SAMPLE`` successful runs taken evenly by
    id (datetime arithmetic on every run of a busy day costs too much): two queries."""
    first = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=23)
    hours = [Hour(first + timedelta(hours=index)) for index in range(24)]
    # Every status, named: the index on (status, scheduled_for) then serves the time range
    # (and alone holds what the counts need) instead of being read whole.
    runs = JobRun.objects.filter(
        status__in=RunStatus.values, scheduled_for__gte=first, scheduled_for__lt=now
    ).annotate(hour=WholeHoursSince("scheduled_for", first))
    total = 0
    for row in runs.values("hour", "status").annotate(runs=Count("id")).order_by():
        hours[int(row["hour"])].by_status[row["status"]] = row["runs"]
        total += row["runs"]
    fired = Q(trigger=RunTrigger.SCHEDULE)
    sample = (
        # Only columns of the index on (status, scheduled_for) and the id in the WHERE: the
        # rows are read for the sample alone. (AVG passes over a NULL started_at.)
        runs.filter(status=RunStatus.SUCCEEDED)
        .annotate(pick=Mod("id", max(1, total // TIMING_SAMPLE)))
        .filter(pick=0)
        .values("hour")
        .annotate(
            took=Avg(seconds_between("started_at", "finished_at")),
            late=Avg(seconds_between("scheduled_for", "started_at"), filter=fired),
        )
        .order_by()
    )
    for timing in sample:
        hours[int(timing["hour"])].duration = _seconds(timing["took"])
        hours[int(timing["hour"])].lateness = _seconds(timing["late"])
    return hours


@dataclass
class JobHealth:
    """One job's finished runs of the last day, and the durations of its latest runs."""

    job_id: int
    name: str
    runs: int
    succeeded: int
    duration: timedelta | None
    durations: list[float] = field(default_factory=list)  # seconds, oldest first

    @property
    def success_rate(self) -> str:
        return _percent(self.succeeded, self.runs)

    @property
    def sparkline(self) -> str:
        return sparkline(self.durations)

    @property
    def duration_text(self) -> str:
        return duration_text(self.duration)


def worst_jobs(now: datetime) -> list[JobHealth]:
    """The jobs that failed most in the last day, with their runs' success rate and latest
    durations: three queries, the first through the index on (status, scheduled_for), the
    others on the few jobs it found."""
    since = now - HORIZON
    failing = list(
        JobRun.objects.filter(status__in=FAILED, scheduled_for__gte=since, job__isnull=False)
        .values("job_id")
        .annotate(failures=Count("id"))
        .order_by("-failures", "job_id")
        .values_list("job_id", flat=True)[:WORST_JOBS]
    )
    if not failing:
        return []
    # No status in the WHERE: the unique key (job, scheduled_for, …) finds the rows.
    rows = (
        JobRun.objects.filter(job_id__in=failing, scheduled_for__gte=since)
        .values("job_id")
        .annotate(
            runs=Count("id", filter=Q(status__in=(RunStatus.SUCCEEDED, *FAILED))),
            succeeded=Count("id", filter=Q(status=RunStatus.SUCCEEDED)),
            took=Avg(
                seconds_between("started_at", "finished_at"),
                filter=Q(status=RunStatus.SUCCEEDED),
            ),
            name=Max("job_name"),
        )
        .order_by()
    )
    found = {
        row["job_id"]: JobHealth(
            row["job_id"], row["name"], row["runs"], row["succeeded"], _seconds(row["took"])
        )
        for row in rows
    }
    jobs = {job_id: found[job_id] for job_id in failing}
    latest = (
        JobRun.objects.filter(job_id__in=jobs, started_at__isnull=False, finished_at__isnull=False)
        .annotate(took=seconds_between("started_at", "finished_at"), rank=NEWEST_FIRST)
        .filter(rank__lte=TREND_RUNS)
        .values_list("job_id", "took")
        .order_by("job_id", "scheduled_for", "attempt")
    )
    for job_id, took in latest:
        jobs[job_id].durations.append(took)
    return list(jobs.values())


@dataclass(frozen=True)
class Failure:
    run: JobRun
    time: str
    error: str


def failures(now: datetime) -> list[Failure]:
    """The newest failed, timed out or lost runs of the last day: one query."""
    runs = (
        JobRun.objects.filter(status__in=FAILED, scheduled_for__gte=now - HORIZON)
        .only("id", "job_name", "scheduled_for", "status", "error", "attempt")
        .order_by("-scheduled_for", "-attempt")[:FAILURES]
    )
    return [Failure(run, format_time(run.scheduled_for), last_line(run.error)) for run in runs]


def live_instances(now: datetime) -> list[SchedulerInstance]:
    lost_after = timedelta(seconds=settings.LOST_AFTER)
    alive = SchedulerInstance.objects.alive(now, lost_after)
    return list(alive.order_by("role", "host", "pid")[: INSTANCES + 1])


def job_counts(now: datetime) -> dict[str, int]:
    """How many jobs, enabled, overdue, firing within the horizon: one query."""
    enabled = Q(enabled=True)
    return Job.objects.aggregate(
        total=Count("id"),
        enabled_jobs=Count("id", filter=enabled),
        overdue=Count("id", filter=enabled & Q(next_run_at__lt=now - OVERDUE)),
        in_horizon=Count("id", filter=enabled & Q(next_run_at__lt=now + HORIZON)),
    )


def active_runs() -> dict[str, int]:
    """Runs waiting for or held by a scheduler, and running: one query."""
    return JobRun.objects.active().aggregate(
        waiting=Count("id", filter=Q(status=RunStatus.SCHEDULED)),
        running=Count("id", filter=Q(status=RunStatus.RUNNING)),
    )


# -- the page -------------------------------------------------------------------------


def _clock(moment: datetime) -> str:
    return str(time_format(timezone.localtime(moment), "H:i"))


def _percent(part: float, whole: float) -> str:
    return f"{100 * part / whole:.0f} %" if whole else "—"


def timeline_chart(line: Timeline) -> Chart:
    columns, titles, labels = [], [], []
    for index, count in enumerate(line.buckets):
        start = line.start + index * BUCKET
        columns.append([(count, "running")])
        titles.append(
            ngettext(
                "%(start)s-%(end)s: %(count)s fire",
                "%(start)s-%(end)s: %(count)s fires",
                round(count),
            )
            % {"start": _clock(start), "end": _clock(start + BUCKET), "count": f"{count:.0f}"}
        )
        labels.append(_clock(start) if index % 4 == 0 else "")
    return stacked_bars(columns, titles, labels, lambda peak: gettext("%s fires") % f"{peak:.0f}")


def runs_chart(hours: Sequence[Hour]) -> Chart:
    columns, titles, labels = [], [], []
    for index, hour in enumerate(hours):
        ok = hour.count(RunStatus.SUCCEEDED)
        bad = hour.count(*FAILED)
        missed = hour.count(RunStatus.MISSED)
        columns.append(
            [
                (ok, "ok"),
                (bad, "bad"),
                (missed, "warn"),
                (hour.total - ok - bad - missed, "waiting"),
            ]
        )
        titles.append(
            gettext(
                "%(start)s: %(total)d runs, %(ok)d succeeded, %(bad)d failed, %(missed)d missed"
            )
            % {
                "start": _clock(hour.start),
                "total": hour.total,
                "ok": ok,
                "bad": bad,
                "missed": missed,
            }
        )
        labels.append(_clock(hour.start) if index % 2 == 0 else "")
    return stacked_bars(columns, titles, labels, lambda peak: gettext("%s runs") % f"{peak:.0f}")


def seconds_chart(hours: Sequence[Hour], attribute: str, tone: str) -> Chart:
    """Hourly durations (``duration`` or ``lateness``) as bars, in seconds."""
    columns, titles, labels = [], [], []
    for index, hour in enumerate(hours):
        value: timedelta | None = getattr(hour, attribute)
        columns.append([(value.total_seconds() if value else 0.0, tone)])
        titles.append(f"{_clock(hour.start)}: {duration_text(value) or '—'}")
        labels.append(_clock(hour.start) if index % 2 == 0 else "")
    return stacked_bars(
        columns,
        titles,
        labels,
        lambda peak: duration_text(timedelta(seconds=peak)),
        width=WIDTH // 2,
    )


def context(now: datetime) -> dict[str, Any]:
    """Everything the page shows: ten queries (eight when no job failed), whatever the
    number of jobs and runs."""
    counts = job_counts(now)
    line = timeline(now, counts["in_horizon"])
    hours = last_day(now)
    instances = live_instances(now)
    ran = sum(hour.total for hour in hours)
    succeeded = sum(hour.count(RunStatus.SUCCEEDED) for hour in hours)
    return {
        "counts": counts,
        "active": active_runs(),
        "timeline": line,
        "timeline_chart": timeline_chart(line),
        "runs_chart": runs_chart(hours),
        "duration_chart": seconds_chart(hours, "duration", "ok"),
        "lateness_chart": seconds_chart(hours, "lateness", "warn"),
        "ran": ran,
        "success_rate": _percent(succeeded, ran),
        "failed": sum(hour.count(*FAILED) for hour in hours),
        "worst_jobs": worst_jobs(now),
        "failures": failures(now),
        "instances": [(each, relative_time(each.heartbeat_at)) for each in instances[:INSTANCES]],
        "more_instances": len(instances) > INSTANCES,
    }
