"""How long does the admin's dashboard take, and in how many queries, at 10,000 jobs?

Fills a throwaway database with ``--jobs`` jobs (cron on a few hundred shared
expressions, intervals, one-offs, 5 % paused), ``--runs`` runs per job over the last two
days (one in eight failed, a few missed, durations and lateness spread), and a few live
schedulers and workers; then requests the page, signed in, ``--repeat`` times, and prints
the query count and the times (the whole request, and the aggregation alone).

    TABLECRON_TEST_DB=postgres .venv/bin/python bench/dashboard.py
    TABLECRON_TEST_DB=mariadb .venv/bin/python bench/dashboard.py --jobs 10000 --runs 20
"""

import argparse
import os
import random
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

import django

django.setup()

from django.contrib.auth.models import User  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.urls import reverse  # noqa: E402
from django.utils import timezone  # noqa: E402
from throwaway import throwaway_database  # noqa: E402

from tablecron.admin import dashboard  # noqa: E402
from tablecron.models import Job, JobRun, RunStatus, SchedulerInstance  # noqa: E402

TASK = "tests.testapp.tablecron_jobs.noop"


def schedule(rng: random.Random, n: int) -> dict[str, object]:
    kind = rng.random()
    if kind < 0.70:
        return {"cron": f"{rng.randrange(0, 60, 5)} {rng.choice(['*', '*/2', str(n % 24)])} * * *"}
    if kind < 0.95:
        minutes = rng.choice([1, 5, 10, 15, 30, 60, 120])
        return {"interval": timedelta(minutes=minutes)}
    return {"run_at": timezone.now() + timedelta(hours=rng.uniform(0, 48))}


def fill(jobs: int, runs: int) -> None:
    rng = random.Random(1)
    now = timezone.now()
    Job.objects.bulk_create(
        (
            Job(
                name=f"job-{n:05d}",
                task=TASK,
                timezone="UTC",
                enabled=n % 20 != 0,
                **schedule(rng, n),
            )
            for n in range(jobs)
        ),
        batch_size=2000,
    )
    pks = list(Job.objects.values_list("pk", "name"))
    batch: list[JobRun] = []
    for pk, name in pks:
        for r in range(runs):
            at = now - timedelta(minutes=rng.uniform(1, 48 * 60))
            late = timedelta(seconds=rng.expovariate(1 / 2))
            took = timedelta(seconds=rng.expovariate(1 / 5))
            roll = rng.random()
            status = (
                RunStatus.FAILED
                if roll < 0.12
                else RunStatus.MISSED
                if roll < 0.14
                else RunStatus.SUCCEEDED
            )
            started = None if status == RunStatus.MISSED else at + late
            batch.append(
                JobRun(
                    job_id=pk,
                    job_name=name,
                    scheduled_for=at,
                    attempt=r + 1,  # unique even where two draws share a time
                    started_at=started,
                    finished_at=started + took if started else None,
                    status=status,
                    error="Traceback (most recent call last):\nValueError: bench"
                    if status == RunStatus.FAILED
                    else "",
                )
            )
        if len(batch) >= 20_000:
            JobRun.objects.bulk_create(batch, batch_size=5000)
            batch = []
    JobRun.objects.bulk_create(batch, batch_size=5000)
    for n in range(6):
        SchedulerInstance.objects.create(
            id=f"host-{n}:{100 + n}:bench",
            role="scheduler" if n < 2 else "worker",
            host=f"host-{n}",
            pid=100 + n,
            started_at=now,
            heartbeat_at=now,
        )
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")


def measure(repeat: int) -> None:
    admin = User.objects.create_superuser("bench", password="bench")
    client = Client(HTTP_HOST="localhost")
    client.force_login(admin)
    url = reverse("admin:tablecron_dashboard")
    client.get(url)  # warm: templates, translations, the content type cache
    pages, contexts, counts = [], [], set()
    for _ in range(repeat):
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            response = client.get(url)
            pages.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.status_code
        counts.add(len(captured))
        started = time.perf_counter()
        dashboard.context(timezone.now())
        contexts.append((time.perf_counter() - started) * 1000)
    print(f"queries per page: {sorted(counts)} (session and user included)")
    print(
        f"page: min {min(pages):.0f} ms, median {statistics.median(pages):.0f} ms, "
        f"max {max(pages):.0f} ms; aggregation alone: min {min(contexts):.0f} ms, "
        f"median {statistics.median(contexts):.0f} ms"
    )
    print(f"load average while measuring: {os.getloadavg()[0]:.1f} ({os.cpu_count()} CPUs)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=20, help="runs per job over two days")
    parser.add_argument("--repeat", type=int, default=10)
    args = parser.parse_args()
    with throwaway_database("tablecron_bench_dashboard"):
        started = time.perf_counter()
        fill(args.jobs, args.runs)
        print(
            f"database: {connection.vendor}, jobs: {Job.objects.count():,}, "
            f"runs: {JobRun.objects.count():,} (filled in {time.perf_counter() - started:.0f} s)"
        )
        measure(args.repeat)


if __name__ == "__main__":
    main()
