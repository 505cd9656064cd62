"""How cheap is "enabled jobs due before T, earliest first" on a table of many jobs?

Fills a throwaway database through the ORM's bulk_create (which computes every
next_run_at), makes 1 % of the jobs due, then times the query the scheduler will run
each loop and prints its plan.

    TABLECRON_TEST_DB=postgres .venv/bin/python bench/due_query.py --rows 1000000
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

from django.db import connection, models  # noqa: E402
from django.utils import timezone  # noqa: E402
from throwaway import throwaway_database  # noqa: E402

from tablecron.models import Job  # noqa: E402


def fill(rows: int, batch: int = 10_000) -> float:
    rng = random.Random(1)
    started = time.perf_counter()
    for offset in range(0, rows, batch):
        Job.objects.bulk_create(
            Job(
                name=f"job-{n}",
                task="tests.testapp.tablecron_jobs.noop",
                cron=f"{rng.randrange(60)} {rng.randrange(24)} * * *",
                timezone="UTC",
            )
            for n in range(offset, min(offset + batch, rows))
        )
    return rows / (time.perf_counter() - started)


def time_due_query(repeat: int = 200) -> list[float]:
    now = timezone.now()
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        list(Job.objects.due(now).values_list("pk", "next_run_at")[:100])
        timings.append((time.perf_counter() - started) * 1000)
    return timings


def plan() -> str:
    sql, params = Job.objects.due(timezone.now()).values_list("pk")[:100].query.sql_with_params()
    explain = "EXPLAIN QUERY PLAN" if connection.vendor == "sqlite" else "EXPLAIN"
    with connection.cursor() as cursor:
        cursor.execute(f"{explain} {sql}", params)
        return "\n".join(" | ".join(map(str, row)) for row in cursor.fetchall())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    # Not the tests' database; on SQLite a file in the temporary directory.
    with throwaway_database("tablecron_bench") as test_db:
        print(f"database: {connection.vendor} ({test_db}), jobs: {args.rows:,}")
        rate = fill(args.rows)
        print(f"bulk_create with next_run_at computed: {rate:,.0f} jobs/s")
        due = args.rows // 100
        past = timezone.now() - timedelta(minutes=1)
        models.QuerySet(Job).filter(pk__lte=due).update(next_run_at=past)
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE tablecron_job")
        timings = time_due_query()
        print(
            f"due() first 100 of {due:,} due jobs: p50 {statistics.median(timings):.2f} ms, "
            f"p99 {statistics.quantiles(timings, n=100)[98]:.2f} ms"
        )
        print("plan:\n" + plan())


if __name__ == "__main__":
    main()
