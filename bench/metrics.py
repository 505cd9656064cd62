"""What do the Prometheus metrics cost? The counting each run pays in the process that
executes it, and a scrape of the database's gauges over a table of many jobs.

    TABLECRON_TEST_DB=postgres .venv/bin/python bench/metrics.py --jobs 10000

Needs the metrics extra. The scrape part fills a throwaway database (the test settings'
``test_tablecron_<pid>``, dropped at the end) through the ORM's bulk_create.
"""

import argparse
import os
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

import django

django.setup()

from django.db import connection  # noqa: E402
from django.test.utils import setup_databases, teardown_databases  # noqa: E402
from django.utils import timezone  # noqa: E402
from prometheus_client import REGISTRY, generate_latest  # noqa: E402

from tablecron import metrics  # noqa: E402
from tablecron.contrib.prometheus.collector import Exposed  # noqa: E402
from tablecron.models import Job  # noqa: E402


def counting(runs: int) -> None:
    """The recorder's two calls per run, over 100 jobs' label sets."""
    due = timezone.now()
    started = due + timedelta(milliseconds=30)
    begin = time.perf_counter()
    for n in range(runs):
        name = f"job-{n % 100}"
        metrics.recorder.run_started(name, due, started)
        metrics.recorder.run_ended(name, "succeeded", 0.01)
    each = (time.perf_counter() - begin) / runs
    print(f"counting: {each * 1e6:.1f} µs a run ({type(metrics.recorder).__name__})")


def scraping(jobs: int, repeats: int) -> None:
    now = timezone.now()
    Job.objects.bulk_create(
        (Job(name=f"bench-{n}", task="tests.testapp.tablecron_jobs.noop",
             interval=timedelta(hours=1), last_success_at=now) for n in range(jobs)),
        batch_size=2000,
    )  # fmt: skip
    exposed = Exposed(REGISTRY)
    times, size = [], 0
    for _ in range(repeats):
        begin = time.perf_counter()
        size = len(generate_latest(exposed))
        times.append(time.perf_counter() - begin)
    median, worst = statistics.median(times) * 1000, max(times) * 1000
    print(
        f"scrape on {connection.vendor}, {jobs:,} jobs: median {median:.0f} ms, "
        f"max {worst:.0f} ms, {size / 1024:.0f} KiB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    counting(args.runs)
    databases = setup_databases(verbosity=0, interactive=False)
    try:
        scraping(args.jobs, args.repeats)
    finally:
        teardown_databases(databases, verbosity=0)


if __name__ == "__main__":
    main()
