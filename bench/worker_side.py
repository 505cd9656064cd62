"""The worker side of the queue executors alone: ``run_message()`` over claimed runs, as a
Celery pool process runs it (outcomes to the process's writer thread), without Celery.

    TABLECRON_TEST_DB=postgres .venv/bin/python bench/worker_side.py --runs 2000
    PYTHONPATH=<tree>/src:<tree> .venv/bin/python bench/worker_side.py   # another tree's code

Prints the process's CPU (its writer and watcher threads too) and the wall time per run,
and the load average: a Celery task adds its own cost (the bench/compare no-op ceiling)
to these. The runs are in a throwaway database (``tablecron_bench_worker``, dropped at
the end).
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from datetime import timedelta
from pathlib import Path

if "PYTHONPATH" not in os.environ:  # else the tree it names
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
os.environ.setdefault("TABLECRON_TEST_DB", "postgres")

import django

django.setup()

from django.db import connection  # noqa: E402

from bench.throwaway import throwaway_database  # noqa: E402
from tablecron.db import db_now  # noqa: E402
from tablecron.execution import Claim  # noqa: E402
from tablecron.models import Job, JobRun  # noqa: E402
from tablecron.workers import Worker, flush_outcomes, run_message  # noqa: E402
from tests.support.factories import ADD  # noqa: E402


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure(runs: int) -> tuple[float, float]:
    """CPU and wall seconds per run of ``runs`` messages, outcomes written."""
    job = Job.objects.create(name="j", task=ADD, args=[1, 2], interval=timedelta(hours=1))
    now = db_now()
    waiting = {"status": "scheduled", "worker": "sched", "queued_at": now}
    rows = JobRun.objects.bulk_create(
        JobRun(job=job, scheduled_for=now - timedelta(seconds=n), **waiting)
        for n in range(1, runs + 1)
    )
    messages = [Claim.of(job, r.pk, r.scheduled_for, "sched").to_message() for r in rows]
    cpu_0, wall_0 = cpu(), time.perf_counter()
    for message in messages:
        assert run_message(message, engine="bench", aside=True) == "succeeded"
    flush_outcomes()
    cpu_1, wall_1 = cpu(), time.perf_counter()
    assert JobRun.objects.filter(job=job, status="succeeded").count() == runs
    job.delete()
    return (cpu_1 - cpu_0) / runs, (wall_1 - wall_0) / runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=2000, help="messages a round")
    parser.add_argument("--rounds", type=int, default=3)
    opts = parser.parse_args()
    print(f"database: {connection.vendor}; {opts.runs:,} runs a round")
    with throwaway_database("tablecron_bench_worker"):
        measure(10)  # the worker registers, its threads start
        for _ in range(opts.rounds):
            per_cpu, per_wall = measure(opts.runs)
            load = " ".join(f"{n:.2f}" for n in os.getloadavg())
            print(f"a run: CPU {per_cpu * 1e3:.3f} ms, wall {per_wall * 1e3:.3f} ms (load {load})")
        Worker.stop_current()
        wait_for_other_sessions_to_end()


def wait_for_other_sessions_to_end(seconds: float = 10) -> None:
    """The worker's threads close their connections once idle; the database is dropped
    after (PostgreSQL refuses to while a session is in it)."""
    if connection.vendor != "postgresql":
        return
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid()"
            )
            if cursor.fetchone()[0] == 0:
                return
        time.sleep(0.05)


if __name__ == "__main__":
    main()
