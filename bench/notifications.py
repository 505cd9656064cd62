"""What does the notifications' look cost each heartbeat, at 10 and at 10,000 jobs?

For each ``--jobs`` size, on a throwaway database (PostgreSQL unless TABLECRON_TEST_DB
says otherwise): that many jobs that notify, one in ten (``--switch-every``) with a dead
man's switch (a day, last success an hour ago), each with ``--runs`` finished runs of
history (one in ten failed, all before the look's window). A few jobs (``--failing``)
have a run that failed since the last look. Then:

- the first look, which tells those failures (and claims them);
- ``--repeat`` looks with no news: what every heartbeat costs (p50, p99, queries);
- the same, by the look before issue 19 (one query over every job), for comparison.

    TABLECRON_TEST_DB=postgres .venv/bin/python bench/notifications.py
    TABLECRON_TEST_DB=sqlite .venv/bin/python bench/notifications.py --jobs 10,10000
"""

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

import django

django.setup()

from django.db import connection  # noqa: E402
from django.db.models import DateTimeField, ExpressionWrapper, F, Q  # noqa: E402
from django.db.models.functions import Coalesce  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from throwaway import throwaway_database  # noqa: E402

from tablecron.db import db_now  # noqa: E402
from tablecron.models import Job, JobRun  # noqa: E402
from tablecron.models.run import FAILING, AlertState  # noqa: E402
from tablecron.notifications import claim_notices  # noqa: E402

NOOP = "tests.testapp.tablecron_jobs.noop"
HEARTBEAT = timedelta(seconds=10)
BATCH = 5000


def fill(jobs: int, runs: int, failing: int, switch_every: int) -> None:
    """The jobs and their history; ``failing`` of them failed since the last look; one in
    ``switch_every`` (none if 0) has a dead man's switch."""
    now = db_now()
    Job.objects.bulk_create(
        Job(name=f"job-{n}", task=NOOP, notify=True, last_status="succeeded",
            last_success_at=now - timedelta(hours=1),
            alert_after=timedelta(days=1) if switch_every and n % switch_every == 0 else None)
        for n in range(jobs)
    )  # fmt: skip
    ids = list(Job.objects.values_list("pk", flat=True))
    history = (
        JobRun(job_id=pk, job_name=f"job-{pk}", scheduled_for=at, started_at=at,
               finished_at=at, status="failed" if k % 10 == 0 else "succeeded")
        for pk in ids
        for k in range(runs)
        if (at := now - timedelta(hours=2, minutes=k))
    )  # fmt: skip
    JobRun.objects.bulk_create(history, batch_size=BATCH)
    recent = now - HEARTBEAT / 2
    JobRun.objects.bulk_create(
        JobRun(job_id=pk, job_name=f"job-{pk}", scheduled_for=recent, started_at=recent,
               finished_at=recent, status="failed")
        for pk in ids[:failing]
    )  # fmt: skip
    Job.objects.filter(pk__in=ids[:failing]).update(last_status="failed", last_run_at=recent)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")


def before_issue_19(now: object) -> list[dict[str, object]]:
    """The look as it was: one query whose conditions read every job."""
    quiet = Q(alerted_at__isnull=True) | Q(alerted_at__lte=now - timedelta(minutes=5))  # type: ignore[operator]
    deadline = ExpressionWrapper(
        Coalesce("last_success_at", "created_at") + F("alert_after"), output_field=DateTimeField()
    )
    silent = Q(enabled=True, alert_after__isnull=False, deadline__lte=now)
    return list(
        Job.objects.annotate(deadline=deadline)
        .filter(quiet)
        .filter(
            (silent & ~Q(alert_state=AlertState.SILENT))
            | Q(notify=True, last_status__in=FAILING, alert_state=AlertState.OK)
            | (~Q(alert_state=AlertState.OK) & Q(last_status="succeeded"))
        )
        .values("id", "name", "alert_state", "last_status")
    )


def timed(look: Callable[[], object], repeat: int) -> tuple[list[float], int]:
    """Milliseconds of each of ``repeat`` looks, and the queries of one."""
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        look()
        timings.append((time.perf_counter() - started) * 1000)
    with CaptureQueriesContext(connection) as queries:
        look()
    return timings, len(queries)


def spread(timings: list[float]) -> str:
    p99 = statistics.quantiles(timings, n=100)[98] if len(timings) > 1 else timings[0]
    return f"p50 {statistics.median(timings):.2f} ms, p99 {p99:.2f} ms"


def measure(jobs: int, runs: int, failing: int, switch_every: int, repeat: int) -> None:
    JobRun.objects.all().delete()
    Job.objects.all().delete()
    fill(jobs, runs, failing, switch_every)
    now = db_now()
    since = now - HEARTBEAT
    started = time.perf_counter()
    told = claim_notices(now, since)
    first = (time.perf_counter() - started) * 1000
    switches = len(range(0, jobs, switch_every)) if switch_every else 0
    print(f"== {jobs:,} jobs ({switches:,} with a dead man's switch), "
          f"{jobs * runs + failing:,} runs, on {connection.vendor}")  # fmt: skip
    print(f"first look: {len(told)} failures told in {first:.1f} ms")
    timings, queries = timed(lambda: claim_notices(now, since), repeat)
    print(f"a look with no news: {spread(timings)}, {queries} queries")
    timings, queries = timed(lambda: before_issue_19(now), repeat)
    print(f"the look before issue 19: {spread(timings)}, {queries} queries")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", default="10,10000", help="sizes, comma-separated")
    parser.add_argument("--runs", type=int, default=10, help="history runs per job")
    parser.add_argument("--failing", type=int, default=3)
    parser.add_argument("--switch-every", type=int, default=10, help="0: no job has one")
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args()
    with throwaway_database("tablecron_bench_notify"):
        for jobs in map(int, args.jobs.split(",")):
            failing = min(args.failing, jobs)
            measure(jobs, args.runs, failing, args.switch_every, args.repeat)


if __name__ == "__main__":
    main()
