"""Does pruning keep up, and what does it cost the firing? Three parts, each on a throwaway
database (PostgreSQL unless TABLECRON_TEST_DB says otherwise):

rate      ``--runs`` finished runs (default 1,000,000; 1 in 10 failed) of 200 jobs, all
          past ``RUN_RETENTION``: how fast one ``Pruner`` deletes them (rows/s). Then the
          same table with every run recent and ``RUNS_PER_JOB`` 100: deleting by count.
lateness  ``tablecron scheduler`` processes (2 unless ``--schedulers``) fire 100
          every-second jobs for ``--duration`` s, three ways: alone; beside a feeder that
          writes 10,000 finished runs a second (``--feed``) that nothing prunes; and with
          that feeder while the schedulers prune (``RUN_RETENTION`` 10 s). Firing lateness
          (``started_at - scheduled_for``) p50/p99 and the rows deleted per second, each
          window after ``--steady`` s (15) of firing, when the table holds what it keeps.
soak      the issue's case, bounded: 200 every-second jobs, ``RUN_RETENTION`` 10 s,
          ``FAILED_RUN_RETENTION`` 20 s, the feeder beside them, for ``--soak`` s (150):
          the run table's row count every 10 s.

    TABLECRON_TEST_DB=postgres .venv/bin/python bench/retention.py
    TABLECRON_TEST_DB=mariadb .venv/bin/python bench/retention.py --runs 300000 --only rate
    .venv/bin/python bench/retention.py --only soak --soak 60

The feeder's runs belong to no job (``job`` NULL, as after a job is deleted), so only
the age rule deletes them; it is a thread of this process.
"""

from __future__ import annotations

import argparse
import contextlib
import tempfile
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Self

from django.db import connection
from django.test import override_settings

# bench/scheduler.py sets up Django on the bench database's settings and holds the helpers.
from scheduler import (
    INF,
    RUN,
    create_every_second_jobs,
    launch,
    ms,
    percentile,
    poll,
    reset,
    sleep_until,
    throwaway_database,
)

from tablecron.db import db_now
from tablecron.models import Job, JobRun
from tablecron.retention import Pruner

PARTS = ("rate", "lateness", "soak")
CHUNK = 1000  # rows per INSERT (3,000 parameters)


def insert_runs(rows: list[tuple[int | None, datetime, str]]) -> None:
    """Finished runs (job id, scheduled_for, status), by multi-row INSERTs of ``CHUNK``."""
    columns = "job_id, job_name, scheduled_for, status, attempt, trigger, error, worker"
    columns = columns.replace("trigger", connection.ops.quote_name("trigger"))
    adapt = connection.ops.adapt_datetimefield_value
    row = "(%s, 'bench', %s, %s, 1, 'schedule', '', '')"
    with connection.cursor() as cursor:
        for start in range(0, len(rows), CHUNK):
            chunk = rows[start : start + CHUNK]
            values = ", ".join([row] * len(chunk))
            params = [value for job, at, status in chunk for value in (job, adapt(at), status)]
            cursor.execute(f"INSERT INTO {RUN} ({columns}) VALUES {values}", params)


def count_runs() -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM {RUN}")
        return int(cursor.fetchone()[0])


def bench_jobs(count: int) -> list[int]:
    Job.objects.bulk_create(Job(name=f"bench-{n}", task="x.y", enabled=False) for n in range(count))
    return list(Job.objects.values_list("pk", flat=True))


# -- rate ----------------------------------------------------------------------------------


def part_rate(opts: argparse.Namespace) -> None:
    print(f"\n== deleting {opts.runs:,} runs of 200 jobs with one Pruner (target >= 10,000/s)")
    for rule, settings, age in (
        ("by age", {"RUN_RETENTION": 60}, timedelta(days=1)),
        ("by count", {"RUNS_PER_JOB": 100}, timedelta(0)),
    ):
        reset()
        jobs = bench_jobs(200)
        newest = db_now() - age
        per_job = opts.runs // len(jobs)
        started = time.perf_counter()
        insert_runs(
            [
                (job, newest - timedelta(seconds=k), "failed" if k % 10 == 0 else "succeeded")
                for k in range(per_job)
                for job in jobs
            ]
        )
        inserted = time.perf_counter() - started
        with override_settings(TABLECRON=settings):
            started = time.perf_counter()
            pruned = Pruner().prune(db_now())
            took = time.perf_counter() - started
        print(
            f"  {rule:<8}: {pruned.total:,} deleted in {took:.1f} s = "
            f"{pruned.total / took:,.0f} rows/s ({count_runs():,} left; inserting took "
            f"{inserted:.1f} s)"
        )


# -- the feeder ----------------------------------------------------------------------------


STEADY = 15  # seconds: RUN_RETENTION 10 s and a pruning pass every 5 s at most (--steady)
WINDOW = timedelta(seconds=5)  # Starts reads the fires of the last 5 s: within RUN_RETENTION


class Periodic:
    """A daemon thread that calls ``tick()`` once a second while the ``with`` block runs."""

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        due = time.monotonic()
        while not self._stop.is_set():
            self.tick()
            due += 1.0
            self._stop.wait(max(0.0, due - time.monotonic()))
        connection.close()

    def tick(self) -> None:
        raise NotImplementedError


class Feeder(Periodic):
    """Writes ``rate`` finished runs a second (1 in 10 failed), stamped now, until stopped;
    counts what it wrote."""

    def __init__(self, rate: int) -> None:
        super().__init__()
        self.rate = rate
        self.written = 0

    def tick(self) -> None:
        now = db_now()
        insert_runs(
            [(None, now, "failed" if k % 10 == 0 else "succeeded") for k in range(self.rate)]
        )
        self.written += self.rate


# -- lateness ------------------------------------------------------------------------------


class Starts(Periodic):
    """The start of every fire of the jobs, read every second while they fire: pruning
    (RUN_RETENTION 10 s) deletes the runs before the window ends."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: dict[tuple[int, datetime], datetime] = {}

    def tick(self) -> None:
        recent = JobRun.objects.filter(
            job__isnull=False, started_at__isnull=False, scheduled_for__gte=db_now() - WINDOW
        )
        for job, fire, started in recent.values_list("job_id", "scheduled_for", "started_at"):
            self.seen[job, fire] = started


def lateness(opts: argparse.Namespace, name: str, feed: int, settings: dict[str, Any]) -> None:
    reset()
    opts.settings = settings
    feeder = Feeder(feed)
    with launch(opts.schedulers, opts.logs / name.replace(" ", "-"), opts):
        with feeder if feed else contextlib.nullcontext(), Starts() as starts:
            # The window starts STEADY s after the jobs first fire: by then the table
            # holds what RUN_RETENTION keeps, its steady state.
            first = create_every_second_jobs(100) + timedelta(seconds=opts.steady)
            last = first + timedelta(seconds=opts.duration - 1)
            sleep_until(first.timestamp())
            rows_before, written_before = count_runs(), feeder.written
            sleep_until(last.timestamp() + 1.0)
            rows_after, written = count_runs(), feeder.written - written_before
            time.sleep(1.5)  # the last second's starts
        Job.objects.update(enabled=False)
        poll(lambda: not JobRun.objects.active().exists(), 60, 0.2)
    late = [
        (started - fire).total_seconds()
        for (_, fire), started in starts.seen.items()
        if first <= fire <= last
    ]
    late += [INF] * (100 * opts.duration - len(late))
    deleted = rows_before + written + 100 * opts.duration - rows_after
    print(
        f"  {name:<26} lateness p50 {ms(percentile(late, 0.5)):>7}, p99 "
        f"{ms(percentile(late, 0.99)):>9}; fed {written / opts.duration:>6,.0f} runs/s, "
        f"deleted {max(0, deleted) / opts.duration:>6,.0f} rows/s, table "
        f"{rows_before:,} -> {rows_after:,} rows"
    )


def part_lateness(opts: argparse.Namespace) -> None:
    print(
        f"\n== firing lateness of 100 every-second jobs, {opts.schedulers} schedulers, "
        f"{opts.duration} s each; feeder {opts.feed:,} runs/s"
    )
    lateness(opts, "alone", 0, {})
    lateness(opts, "feeder, no pruning", opts.feed, {"RUN_RETENTION": 86400})
    lateness(opts, "feeder, pruning (10 s)", opts.feed, {"RUN_RETENTION": 10})


# -- soak ----------------------------------------------------------------------------------


def part_soak(opts: argparse.Namespace) -> None:
    print(
        f"\n== soak: 200 every-second jobs, RUN_RETENTION 10 s, FAILED_RUN_RETENTION 20 s, "
        f"feeder {opts.feed:,} runs/s, {opts.schedulers} schedulers, {opts.soak} s"
    )
    reset()
    opts.settings = {"RUN_RETENTION": 10, "FAILED_RUN_RETENTION": 20}
    with launch(opts.schedulers, opts.logs / "soak", opts):
        first = create_every_second_jobs(200)
        sleep_until(first.timestamp())
        counts = []
        with Feeder(opts.feed) as feeder:
            for second in range(0, opts.soak + 1, 10):
                sleep_until(first.timestamp() + second)
                counts.append((second, count_runs(), feeder.written))
        Job.objects.update(enabled=False)
    for second, rows, written in counts:
        fired = 200 * second
        print(f"  t = {second:>3} s: {rows:>9,} rows (written so far: {fired + written:>10,})")
    steady = [rows for second, rows, _ in counts if second >= 40]
    if steady:
        print(f"  from 40 s on: min {min(steady):,}, max {max(steady):,} rows")


def options() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", default=",".join(PARTS), help=f"parts: {', '.join(PARTS)}")
    parser.add_argument("--runs", type=int, default=1_000_000, help="rate: runs to delete")
    parser.add_argument("--duration", type=int, default=30, help="lateness: seconds per way")
    parser.add_argument("--feed", type=int, default=10_000, help="feeder: runs per second")
    parser.add_argument(
        "--steady", type=int, default=STEADY, help="lateness: seconds of firing before each window"
    )
    parser.add_argument("--soak", type=int, default=150, help="soak: seconds (<= 170)")
    parser.add_argument("--schedulers", type=int, default=2)
    parser.add_argument("--logs", type=Path, help="where scheduler logs go (a temporary dir)")
    opts = parser.parse_args()
    opts.soak = min(opts.soak, 170)
    opts.only = [part.strip() for part in opts.only.split(",") if part.strip()]
    opts.profile = False
    opts.settings = {}
    if opts.logs is None:
        opts.logs = Path(tempfile.mkdtemp(prefix="tablecron-retention-"))
    return opts


def main() -> None:
    opts = options()
    with throwaway_database("tablecron_bench_retention"):
        for part in PARTS:
            if part in opts.only:
                globals()[f"part_{part}"](opts)


if __name__ == "__main__":
    main()
