"""What does capturing a run's output cost? A line printed or logged inside a run, beside
the same line written outside any run, and the watcher's round that writes a busy run's
lines to the database.

    TABLECRON_TEST_DB=postgres .venv/bin/python bench/output.py --lines 200000

The rounds write to a throwaway database (``tablecron_bench_output``, dropped at the
end). What capture adds to a drain of runs that write nothing is measured by
``bench/scheduler.py --only drain`` against the code before it (docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import io
import logging
import os
import sys
import time
from contextlib import redirect_stdout
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
os.environ.setdefault("TABLECRON_TEST_DB", "postgres")

import django

django.setup()

from django.db import connection, transaction  # noqa: E402
from django.utils import timezone  # noqa: E402

from bench.throwaway import throwaway_database  # noqa: E402
from tablecron.models import Job, JobRun, RunOutput  # noqa: E402
from tablecron.running import Running, write_output  # noqa: E402

log = logging.getLogger("bench.output")


def per_line(lines: int, write: object) -> float:
    """Seconds per call of ``write(n)``."""
    assert callable(write)
    begin = time.perf_counter()
    for n in range(lines):
        write(n)
    return (time.perf_counter() - begin) / lines


def printing(lines: int) -> None:
    sink = io.StringIO()
    with redirect_stdout(sink):
        outside = per_line(lines, lambda n: print("processed item", n))
    with Running(1) as running:  # captured: nothing reaches the database here
        inside = per_line(lines, lambda n: print("processed item", n))
        running.output.take(final=True)
    print(
        f"print(), a line: {outside * 1e6:.2f} µs outside a run, {inside * 1e6:.2f} µs "
        f"captured ({inside / outside:.1f} times)"
    )


def logging_(lines: int) -> None:
    logging.basicConfig(level=logging.INFO, stream=io.StringIO(), force=True)
    outside = per_line(lines, lambda n: log.info("processed item %d", n))
    with Running(1) as running:
        inside = per_line(lines, lambda n: log.info("processed item %d", n))
        running.output.take(final=True)
    print(
        f"logging, a record: {outside * 1e6:.2f} µs outside a run (a handler writing to a "
        f"buffer), {inside * 1e6:.2f} µs captured too ({inside / outside:.1f} times)"
    )


def rounds(lines_per_round: int, count: int) -> None:
    """A run that prints ``lines_per_round`` lines between two of the watcher's rounds:
    what a round costs to write them (one INSERT of its chunks, and the deletes of the
    tail's chunks that the head-and-tail limit drops)."""
    job = Job.objects.create(name="bench", task="tests.testapp.tablecron_jobs.noop")
    run = JobRun.objects.create(job=job, job_name="bench", scheduled_for=timezone.now())
    with Running(run.pk, capture=False) as running:
        times = []
        for _ in range(count):
            for n in range(lines_per_round):
                running.output.write("stdout", f"processed item {n}\n")
            begin = time.perf_counter()
            taken = running.output.take()
            with transaction.atomic():
                write_output({run.pk: taken})
            times.append(time.perf_counter() - begin)
    times.sort()
    chunks = RunOutput.objects.filter(run=run).count()
    print(
        f"a round writing {lines_per_round:,} lines: p50 {times[len(times) // 2] * 1e3:.1f} ms, "
        f"max {times[-1] * 1e3:.1f} ms; the run keeps {chunks} chunks, "
        f"{len(run.output):,} characters (OUTPUT_LIMIT)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=200_000, help="lines per measure")
    parser.add_argument("--rounds", type=int, default=30, help="watcher rounds to time")
    opts = parser.parse_args()
    print(f"database: {connection.vendor}; {opts.lines:,} lines each")
    printing(opts.lines)
    logging_(opts.lines // 4)
    with throwaway_database("tablecron_bench_output"):
        for per_round in (10, 1_000, 10_000):
            rounds(per_round, opts.rounds)
            Job.objects.all().delete()


if __name__ == "__main__":
    main()
