"""How much can real ``tablecron scheduler`` processes do, and how quickly do they react?

Six parts, each on a throwaway database, with ``python -m django tablecron scheduler``
subprocesses (2 unless ``--schedulers``) running the trivial task
``tests.testapp.tablecron_jobs.noop``:

sustained    every-second cron jobs (coalesce off, max_instances 3), N stepped upward
             (100, 200, 400, ...) until a step does not keep up: for ``--duration`` s,
             firing lateness p99 <= 1 s, where a fire that never started counts as
             infinitely late. Lateness is ``JobRun.started_at - scheduled_for``. The
             window starts after 2 s of firing (``WARMUP``).
drain        a backlog of ``--drain-runs`` due runs (that many daily cron jobs whose
             fire one minute ago is due: one due run each), inserted and ANALYZEd before
             the schedulers start (``--stale-stats``: committed while they run, before
             PostgreSQL has statistics for it): how fast they are claimed and finished.
             Beside it, the ceiling of a lean raw-SQL claim loop (SELECT ... FOR UPDATE
             SKIP LOCKED LIMIT 500, INSERT the runs, UPDATE next_run_at, COMMIT; in as
             many processes) on the same database and an identical backlog; it claims
             only, runs nothing.
lateness     100 every-second jobs (100 fires/s) for ``--duration`` s: lateness p50/p99.
propagation  with the schedulers idle, this process commits a one-off job with
             run_at = now (and, separately, a run_now() of a manual job), then polls for
             the run's started_at: commit-to-start latency, ``--repeats`` times each.
capture      what capturing runs' output (and watching for their cancel) costs a drain of
             runs that write nothing: ``--pairs`` drains of ``--drain-runs`` runs as
             shipped, each beside one whose schedulers run without it (a measuring
             patch: ``execution.Running`` replaced by a bare context), alternating;
             the schedulers' CPU per run of each, and what capture adds, pair by pair.
idle         ``--idle-jobs`` daily cron jobs, none due for an hour, and one scheduler:
             start-up (process start until its SchedulerInstance row exists / it logs
             "started"), then CPU (% of one core, /proc/<pid>/stat) and RSS
             (/proc/<pid>/status) over ``--idle-seconds``.

    TABLECRON_TEST_DB=postgres .venv/bin/python bench/scheduler.py
    TABLECRON_TEST_DB=postgres .venv/bin/python bench/scheduler.py --quick
    .venv/bin/python bench/scheduler.py --only drain,propagation --drain-runs 20000

Each figure comes with where the CPU went (the schedulers, the bench database's
PostgreSQL processes, the rest of the machine) and PostgreSQL's commits per run;
``--profile`` samples the schedulers' thread stacks every 5 ms and times their claims
and their batches of outcomes. docs/benchmarks.md has the figures and what limits them.

PostgreSQL is the default (TABLECRON_TEST_DB unset). Processes listen on nothing; every
subprocess is stopped with SIGTERM, then SIGKILL, on the way out. Scheduler logs are
kept under ``--logs`` (a new temporary directory by default).
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import queue
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

# The tablecron of this tree (its src/), whatever the virtualenv has installed.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
os.environ.setdefault("TABLECRON_TEST_DB", "postgres")

import django

django.setup()

from django.db import connection, models, transaction  # noqa: E402
from django.utils import timezone  # noqa: E402

import tablecron  # noqa: E402
from bench import dbwork  # noqa: E402
from tablecron.db import db_now  # noqa: E402
from tablecron.models import Job, JobRun, RunStatus, SchedulerInstance  # noqa: E402
from tablecron.models.run import ACTIVE  # noqa: E402
from tests.support import ROOT  # noqa: E402
from tests.support.processes import child_env, percentile, stop  # noqa: E402

NOOP = "tests.testapp.tablecron_jobs.noop"
PARTS = ("sustained", "drain", "capture", "lateness", "propagation", "idle")
CLK_TCK = os.sysconf("SC_CLK_TCK")
INF = math.inf


# -- helpers ------------------------------------------------------------------------------


def poll(condition: Callable[[], object], timeout: float, every: float = 0.1) -> bool:
    """Wait until ``condition()`` holds; False if ``timeout`` seconds passed first."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(every)
    return True


def sleep_until(wall: float) -> None:
    time.sleep(max(0.0, wall - time.time()))


def table(name: str) -> str:
    return connection.ops.quote_name(name)


JOB, RUN = table(Job._meta.db_table), table(JobRun._meta.db_table)
INSTANCE = table(SchedulerInstance._meta.db_table)


def execute(sql: str, params: list[Any] | None = None) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return int(cursor.rowcount)


def reset() -> None:
    """Empty tablecron's tables (fresh tables: no bloat from the previous part)."""
    if connection.vendor == "postgresql":
        execute(f"TRUNCATE {RUN}, {JOB}, {INSTANCE} RESTART IDENTITY CASCADE")
    else:
        for name in (RUN, JOB, INSTANCE):
            execute(f"DELETE FROM {name}")


def analyze() -> None:
    if connection.vendor == "postgresql":
        execute(f"ANALYZE {JOB}")
        execute(f"ANALYZE {RUN}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads), in seconds."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, all cores."""
    with open("/proc/stat") as stat:
        values = [int(v) for v in stat.readline().split()[1:]]
    idle = values[3] + values[4]
    return (sum(values) - idle) / CLK_TCK, sum(values) / CLK_TCK


def rss_mb(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) in MB."""
    found = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                found[key] = int(value.split()[0]) / 1024
    return found["VmRSS"], found["VmHWM"]


def database_backends() -> list[int]:
    """PostgreSQL server processes serving the bench database (by their process title);
    on MySQL/MariaDB the whole server process; none for SQLite."""
    if connection.vendor == "mysql":
        return [
            int(entry.name)
            for entry in os.scandir("/proc")
            if entry.name.isdigit() and comm(entry.name) in ("mariadbd", "mysqld")
        ]
    if connection.vendor != "postgresql":
        return []
    marker = f" {connection.settings_dict['NAME']} ".encode()
    pids = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/cmdline", "rb") as cmdline:
                    title = cmdline.read()
            except OSError:
                continue
            if title.startswith(b"postgres: ") and marker in title:
                pids.append(int(entry.name))
    return pids


def comm(pid: str) -> str:
    try:
        with open(f"/proc/{pid}/comm") as name:
            return name.read().strip()
    except OSError:
        return ""


def commits() -> int | None:
    """Transactions committed in the bench database so far (PostgreSQL's statistics)."""
    if connection.vendor != "postgresql":
        return None
    time.sleep(1.1)  # backends report their counters at most once a second
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
        )
        return int(cursor.fetchone()[0])


class Monitor:
    """CPU use between enter and exit, in % of one core: the given processes, the bench
    database's server processes (sampled every 0.5 s, as they come and go), this process,
    the machine, and the rest of the machine (other work on it: noise)."""

    def __init__(self, pids: list[int]) -> None:
        self.pids = pids
        self._stop = threading.Event()
        self._first: dict[int, float] = {}
        self._last: dict[int, float] = {}

    def _sample_backends(self, first: bool = False) -> None:
        for pid in database_backends():
            used = cpu_seconds(pid)
            if first:
                self._first[pid] = used
            self._first.setdefault(pid, 0.0)  # started since: all of it is in the window
            self._last[pid] = max(used, self._last.get(pid, 0.0))

    def _watch(self) -> None:
        while not self._stop.wait(0.5):
            self._sample_backends()

    def __enter__(self) -> Monitor:
        self._sample_backends(first=True)
        self._procs = sum(cpu_seconds(pid) for pid in self.pids)
        self._self = cpu_seconds(os.getpid())
        self._busy, self._total = machine_busy()
        self._wall = time.monotonic()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.monotonic() - self._wall
        self.procs = sum(cpu_seconds(pid) for pid in self.pids) - self._procs
        self.bench = cpu_seconds(os.getpid()) - self._self
        busy, total = machine_busy()
        self._stop.set()
        self._thread.join()
        self._sample_backends()
        self.database = sum(self._last[pid] - self._first[pid] for pid in self._last)
        cores, ticks = os.cpu_count() or 1, total - self._total
        # No tick in a window shorter than one (the kernel counts in 10 ms): nothing measured.
        self.machine = cores * (busy - self._busy) / ticks * self.wall if ticks else 0.0
        self.others = max(0.0, self.machine - self.procs - self.database - self.bench)

    def percent(self, seconds: float) -> float:
        return 100 * seconds / self.wall if self.wall else 0.0

    def summary(self) -> str:
        return (
            f"schedulers {self.percent(self.procs):.0f}%, their database "
            f"{self.percent(self.database):.0f}%, machine {self.percent(self.machine):.0f}% "
            f"(other work on it {self.percent(self.others):.0f}%) of one core"
        )


# Runs ``tablecron scheduler`` with a sampling profiler: every 5 ms, each thread's Python stack.
_PROFILED = r"""
import collections, os, sys, threading
counts, done = collections.Counter(), threading.Event()
def sample():
    me = threading.get_ident()
    while not done.wait(0.005):
        names = {t.ident: t.name for t in threading.enumerate()}
        for ident, frame in sys._current_frames().items():
            if ident == me:
                continue
            stack = []
            while frame is not None:
                path = frame.f_code.co_filename
                module = path.rsplit("/", 1)[-1].removesuffix(".py")
                if "/tablecron/" in path:
                    module = "tablecron." + module
                stack.append(module + "." + frame.f_code.co_qualname)
                frame = frame.f_back
            kind = names.get(ident, "?")
            kind = "worker" if kind.startswith("tablecron-") else kind
            counts[kind, ";".join(reversed(stack))] += 1
threading.Thread(target=sample, daemon=True).start()
import time, django
django.setup()
from tablecron import claiming, execution, outcomes
timings, lock = collections.defaultdict(lambda: [0, 0, 0.0]), threading.Lock()
def timed(owner, name, size):
    original = getattr(owner, name)
    def wrapper(*args, **kwargs):
        clock = time.perf_counter()
        result = original(*args, **kwargs)
        clock = time.perf_counter() - clock
        with lock:
            entry = timings[name]
            entry[0], entry[1], entry[2] = entry[0] + 1, entry[1] + size(result), entry[2] + clock
        return result
    setattr(owner, name, wrapper)
timed(claiming.Claimer, "claim", len)
timed(outcomes, "record", lambda result: result)
timed(execution, "start", lambda result: 1)
from django.core.management import execute_from_command_line
try:
    execute_from_command_line(["django", "tablecron", "scheduler"])
finally:
    done.set()
    with open(os.environ["TABLECRON_BENCH_PROFILE"], "w") as out:
        out.writelines(f"{kind}\t{n}\t{stack}\n" for (kind, stack), n in counts.items())
        out.writelines(f"timing\t{name}\t{c} {n} {t}\n" for name, (c, n, t) in timings.items())
"""


@contextmanager
def launch(
    count: int,
    logs: Path,
    opts: argparse.Namespace,
    *,
    register: bool = True,
    patch: str = "",
) -> Iterator[list[subprocess.Popen[bytes]]]:
    """``count`` ``tablecron scheduler`` processes (registered, unless ``register`` is False),
    which first run the code ``patch``; stopped with SIGTERM, then SIGKILL, on the way out."""
    logs.mkdir(parents=True, exist_ok=True)
    env = child_env(**opts.settings)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), str(ROOT)])
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for n in range(count):
            env["TABLECRON_BENCH_STATEMENTS"] = str(logs / f"statements-{n}.txt")
            command = [sys.executable, "-c", dbwork.COUNTING + patch + dbwork.COMMAND]
            if opts.profile:
                env["TABLECRON_BENCH_PROFILE"] = str(logs / f"profile-{n}.txt")
                command = [sys.executable, "-c", dbwork.COUNTING + patch + _PROFILED]
            with open(logs / f"scheduler-{n}.log", "wb") as log:
                procs.append(
                    subprocess.Popen(
                        command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
                    )
                )
        if register and not poll(lambda: SchedulerInstance.objects.count() >= count, 60):
            raise RuntimeError(f"the schedulers did not start; see {logs}")
        yield procs
        codes = [proc.poll() for proc in procs]
        if any(code is not None for code in codes):
            print(f"  ! a scheduler exited early ({codes}); see {logs}")
    finally:
        stop(procs)
    if opts.profile:
        print_profile(sorted(logs.glob("profile-*.txt")))


def print_profile(paths: list[Path], top: int = 12) -> None:
    """Where the schedulers' threads spent their wall-clock time, from the stack samples:
    tablecron's functions (with what they called), then where the threads actually were."""
    inclusive: dict[str, Counter[str]] = {}
    leaves: dict[str, Counter[str]] = {}
    totals: Counter[str] = Counter()
    timings: dict[str, list[Any]] = {}
    for path in paths:
        for line in path.read_text().splitlines():
            kind, n, stack = line.split("\t")
            if kind == "timing":
                calls, items, seconds = stack.split()
                timing = timings.setdefault(n, [0, 0, 0.0])
                timing[0] += int(calls)
                timing[1] += int(items)
                timing[2] += float(seconds)
            if kind not in ("MainThread", "worker"):
                continue
            frames = stack.split(";")
            totals[kind] += int(n)
            seen = inclusive.setdefault(kind, Counter())
            for frame in set(frames):
                if frame.startswith("tablecron."):
                    seen[frame.removeprefix("tablecron.")] += int(n)
            leaves.setdefault(kind, Counter())[frames[-1]] += int(n)
    for kind, seen in inclusive.items():
        total = totals[kind]
        print(f"  profile of the {kind} thread(s), {total:,} samples of 5 ms; % of their time")
        shown = [(f, n) for f, n in seen.most_common() if n < 0.995 * total][:top]
        print("    in: " + ", ".join(f"{f} {100 * n / total:.0f}%" for f, n in shown))
        where = leaves[kind].most_common(6)
        print("    at: " + ", ".join(f"{f} {100 * n / total:.0f}%" for f, n in where))
    if "claim" in timings:
        calls, runs, seconds = timings["claim"]
        print(
            f"  Claimer.claim(): {calls:,} transactions, {runs / max(calls, 1):.1f} runs and "
            f"{1000 * seconds / max(calls, 1):.1f} ms each on average ({runs:,} runs)"
        )
    if "record" in timings:
        calls, runs, seconds = timings["record"]
        print(
            f"  outcomes.record(): {calls:,} transactions of outcomes, {runs / max(calls, 1):.1f} "
            f"runs and {1000 * seconds / max(calls, 1):.1f} ms each on average"
        )
    if "start" in timings:  # executors whose claims are not marked running by the claim
        calls, _, seconds = timings["start"]
        print(f"  execution.start(): {calls:,} calls, {1000 * seconds / max(calls, 1):.2f} ms each")


def ms(seconds: float) -> str:
    return "never" if seconds == INF else f"{seconds * 1000:,.0f} ms"


# -- bulk inserts ---------------------------------------------------------------------------

# A daily cron job firing at ``{at}`` (an SQL expression, a whole minute), which is when
# next_run_at says it fires next. PostgreSQL only; other databases go through the ORM.
_DAILY_JOBS_SQL = """
INSERT INTO {job} (name, description, task, args, kwargs, cron, timezone, enabled, coalesce,
    max_instances, max_retries, retry_delay, queue, next_run_at, last_status, version,
    created_at, updated_at)
SELECT %s || g, '', %s, '[]'::jsonb, '{{}}'::jsonb,
    EXTRACT(MINUTE FROM at)::int || ' ' || EXTRACT(HOUR FROM at)::int || ' * * *', 'UTC',
    true, true, 1, 0, INTERVAL '60 seconds', '', at, '', 0, now(), now()
FROM (SELECT g, date_trunc('minute', {at}) AS at FROM generate_series(1, %s) AS g) AS s
"""


def insert_daily_jobs(
    count: int, prefix: str, at: str, fallback: Callable[[int], datetime]
) -> None:
    """``count`` daily cron jobs; ``at`` (SQL over ``g``, 1..count, and ``now()``, UTC) is
    each one's next fire time, ``fallback(n)`` the same for the ORM path."""
    if connection.vendor == "postgresql":
        with transaction.atomic():
            execute("SET LOCAL TIME ZONE 'UTC'")
            execute(_DAILY_JOBS_SQL.format(job=JOB, at=at), [prefix, NOOP, count])
        return
    batch = 10_000  # elsewhere: the next fire written as is, past the ORM's computation
    plain = models.QuerySet(Job)
    for offset in range(0, count, batch):
        jobs = []
        for n in range(offset + 1, min(offset + batch, count) + 1):
            fire = fallback(n).replace(second=0, microsecond=0)
            cron = f"{fire.minute} {fire.hour} * * *"
            jobs.append(
                Job(name=f"{prefix}{n}", task=NOOP, cron=cron, timezone="UTC", next_run_at=fire)
            )
        plain.bulk_create(jobs, batch_size=1000)


WARMUP = 2  # seconds of firing before a sustained window starts


def create_every_second_jobs(count: int) -> datetime:
    """``count`` every-second jobs whose first fire is one whole second, ~2 s from now.

    Made through the ORM's bulk_create; the first fire is set in the same transaction so
    the burst starts on time however long the insert takes. Returns that first fire.
    """
    with transaction.atomic():
        Job.objects.bulk_create(
            (
                Job(
                    name=f"every-second-{n}",
                    task=NOOP,
                    cron="* * * * * *",
                    timezone="UTC",
                    coalesce=False,
                    max_instances=3,
                )
                for n in range(count)
            ),
            batch_size=2000,
        )
        first = db_now().replace(microsecond=0) + timedelta(seconds=2)
        execute(
            f"UPDATE {JOB} SET next_run_at = %s",
            [connection.ops.adapt_datetimefield_value(first)],
        )
    return first


# -- sustained every-second jobs and lateness ----------------------------------------------


@dataclass
class Sustained:
    jobs: int
    duration: int
    expected: int
    started: int
    lateness: list[float]  # seconds, INF for fires that never started
    statuses: Counter[str]
    cpu: Monitor
    commits: int | None
    work: dbwork.Work
    first: datetime  # the window's first fire
    rows: list[tuple[datetime, datetime | None, str]]  # scheduled_for, started_at, status

    @property
    def not_run(self) -> int:
        return self.expected - self.started

    @property
    def p50(self) -> float:
        return percentile(self.lateness, 0.5)

    @property
    def p99(self) -> float:
        return percentile(self.lateness, 0.99)

    @property
    def kept_up(self) -> bool:
        return self.p99 <= 1.0

    @property
    def fires_per_second(self) -> float:
        return self.started / self.duration


def sustain(jobs: int, duration: int, logs: Path, opts: argparse.Namespace) -> Sustained:
    """``jobs`` every-second jobs for ``duration`` s; every fire of the window accounted for."""
    reset()
    with launch(opts.schedulers, logs, opts) as procs:
        # Measured from the WARMUP-th second: the thread executor starts out assuming
        # long runs (so that a first burst of slow jobs is shared between schedulers) and
        # learns within a second how long these take.
        first = create_every_second_jobs(jobs) + timedelta(seconds=WARMUP)
        last = first + timedelta(seconds=duration - 1)
        sleep_until(first.timestamp())
        before = commits()
        work = dbwork.snapshot(logs)
        with Monitor([proc.pid for proc in procs]) as cpu:
            # The last fire of the window is due at ``last``: pausing 1 s later leaves every
            # fire of the window the whole lateness budget.
            sleep_until(last.timestamp() + 1.0)
        Job.objects.update(enabled=False)
        if not poll(lambda: not JobRun.objects.active().exists(), 60, 0.2):
            print("  ! runs still active 60 s after pausing the jobs")
    after = commits()
    work = dbwork.snapshot(logs) - work
    rows = list(
        JobRun.objects.filter(scheduled_for__gte=first, scheduled_for__lte=last).values_list(
            "scheduled_for", "started_at", "status"
        )
    )
    expected = jobs * duration
    lateness = [(s - f).total_seconds() for f, s, _ in rows if s is not None]
    started = len(lateness)
    lateness += [INF] * (expected - started)
    statuses = Counter(status for *_, status in rows)
    made = before is not None and after is not None
    return Sustained(
        jobs,
        duration,
        expected,
        started,
        lateness,
        statuses,
        cpu,
        after - before if made else None,
        work,
        first,
        rows,
    )


def sustained_header() -> None:
    print(
        f"  {'jobs':>6} {'fires/s':>8} {'p50':>9} {'p99':>9} {'not run':>16} "
        f"{'CPU: sched':>10} {'DB':>5} {'other':>5} {'ms/fire':>8} {'commits/run':>11}  kept up"
    )


def sustained_row(result: Sustained) -> None:
    not_run = f"{result.not_run:,} of {result.expected:,}"
    cpu = result.cpu
    per_run = f"{result.commits / result.started:.1f}" if result.commits and result.started else "-"
    print(
        f"  {result.jobs:>6,} {result.fires_per_second:>8,.0f} {ms(result.p50):>9} "
        f"{ms(result.p99):>9} {not_run:>16} {cpu.percent(cpu.procs):>9.0f}% "
        f"{cpu.percent(cpu.database):>4.0f}% {cpu.percent(cpu.others):>4.0f}% "
        f"{1000 * cpu.procs / max(result.started, 1):>8.3f} {per_run:>11}  "
        f"{'yes' if result.kept_up else 'NO'}"
        + (
            f"  statuses {dict(result.statuses)}"
            if set(result.statuses) - {RunStatus.SUCCEEDED}
            else ""
        ),
        flush=True,
    )
    print(
        f"  {'':>6} per fire: {result.work.per(result.started)}; database CPU "
        f"{1000 * cpu.database / max(result.started, 1):.3f} ms",
        flush=True,
    )


def part_sustained(opts: argparse.Namespace) -> None:
    print(
        f"\n== sustained every-second jobs: {opts.schedulers} schedulers, "
        f"{opts.duration} s per step, kept up = lateness p99 <= 1 s (never run = late)"
    )
    print(
        "   (CPU in % of one core of the machine's "
        f"{os.cpu_count()}: sched = the schedulers, DB = the bench database's server "
        "processes (MariaDB: the whole server), other = everything else on the machine, "
        "i.e. noise)"
    )
    sustained_header()
    best, worst = None, None
    for jobs in opts.steps:
        result = sustain(jobs, opts.duration, opts.logs / f"sustained-{jobs}", opts)
        sustained_row(result)
        if not result.kept_up:
            worst = jobs
            break
        best = jobs
    if best and worst and opts.refine:
        low, high = best, worst
        for _ in range(opts.refine):
            middle = (low + high) // 2
            result = sustain(middle, opts.duration, opts.logs / f"sustained-{middle}", opts)
            sustained_row(result)
            low, high = (middle, high) if result.kept_up else (low, middle)
        best, worst = low, high
    print(
        f"  largest N kept up: {best or 'none'} "
        + (f"(failed at {worst})" if worst else "(never failed: raise --steps)")
    )
    # A backlog of ten seconds of the largest step (at most --drain-runs) for the raw loop.
    ceiling = raw_claim_ceiling(opts, min(opts.drain_runs, 10 * max(opts.steps)))
    if best and ceiling:
        print(
            f"  kept up with {best:,} fires/s: {100 * best / ceiling:.0f} % of the raw claim "
            f"loop's {ceiling:,.0f} claims/s measured just now"
        )


def part_lateness(opts: argparse.Namespace) -> None:
    print(
        f"\n== lateness at 100 fires/s: 100 every-second jobs, {opts.schedulers} schedulers, "
        f"{opts.duration} s (target p99 <= 25 ms)"
    )
    sustained_header()
    result = sustain(100, opts.duration, opts.logs / "lateness", opts)
    sustained_row(result)
    finite = sorted(x for x in result.lateness if x != INF)
    if finite:
        print(
            f"  lateness min {ms(finite[0])}, p90 {ms(percentile(finite, 0.9))}, "
            f"p99.9 {ms(percentile(finite, 0.999))}, max {ms(finite[-1])}"
        )
    late = Counter(
        int((fire - result.first).total_seconds())
        for fire, started, _ in result.rows
        if started is not None and (started - fire).total_seconds() > 0.025
    )
    if late:
        where = ", ".join(f"{second} s: {n}" for second, n in sorted(late.items()))
        print(f"  fires later than 25 ms, by second of the window: {where}")


# -- backlog drain --------------------------------------------------------------------------


def insert_backlog(runs: int) -> None:
    """``runs`` daily cron jobs, each with the fire of one minute ago due: one run each."""
    insert_daily_jobs(
        runs,
        "backlog-",
        "now() - INTERVAL '1 minute'",
        lambda n: timezone.now() - timedelta(minutes=1),
    )


def watch_drain(
    procs: list[subprocess.Popen[bytes]], runs: int, opts: argparse.Namespace, every: float
) -> Monitor:
    """The CPU used until ``runs`` runs have ended (or ``--drain-timeout`` has passed)."""
    done = JobRun.objects.exclude(status__in=ACTIVE)
    with Monitor([proc.pid for proc in procs]) as cpu:
        finished = poll(lambda: done.count() >= runs, opts.drain_timeout, every)
    if not finished:
        print(f"  ! not drained within {opts.drain_timeout:.0f} s (--drain-timeout)")
    return cpu


def part_drain(opts: argparse.Namespace) -> None:
    runs = opts.drain_runs
    print(
        f"\n== backlog drain: {runs:,} due runs ({runs:,} daily cron jobs, one due fire "
        f"each), {opts.schedulers} schedulers (target >= 10,000 runs/s)"
    )
    if opts.stale_stats:
        print(
            "   (--stale-stats: the backlog is committed in one go while the schedulers run, "
            "before PostgreSQL has statistics for it; the clock starts at its commit)"
        )
    else:
        print(
            "   (the backlog is inserted and ANALYZEd first, like the raw loop's; the clock "
            "starts when the first scheduler registers)"
        )
    reset()
    logs = opts.logs / "drain"
    done = JobRun.objects.exclude(status__in=ACTIVE)
    inserted = time.perf_counter()
    if not opts.stale_stats:
        insert_backlog(runs)
        analyze()
    before = commits()
    work = dbwork.snapshot(logs)
    with launch(opts.schedulers, logs, opts, register=opts.stale_stats) as procs:
        if opts.stale_stats:
            insert_backlog(runs)
        else:
            poll(SchedulerInstance.objects.exists, 60, 0.01)
        committed = time.time()
        inserted = time.perf_counter() - inserted
        cpu = watch_drain(procs, runs, opts, 0.5)
        elapsed = time.time() - committed
    after = commits()
    rows = list(done.values_list("started_at", "finished_at", "status"))
    ends = sorted(f.timestamp() for _, f, _ in rows if f is not None)
    starts = sorted(s.timestamp() for s, _, _ in rows if s is not None)
    statuses = Counter(status for *_, status in rows)
    if opts.stale_stats:
        print(f"  backlog inserted in one transaction in {inserted:.1f} s")
    if ends:
        total = ends[-1] - committed
        p10, p90 = percentile(ends, 0.1), percentile(ends, 0.9)
        steady = 0.8 * len(ends) / (p90 - p10) if p90 > p10 else INF
        print(
            f"  tablecron: {len(ends):,} runs finished in {total:.1f} s: "
            f"{len(ends) / total:,.0f} runs/s overall, {steady:,.0f} runs/s between the 10th "
            f"and 90th percentile; first start after {starts[0] - committed:.2f} s"
        )
        tenth = len(ends) // 10
        if tenth > 1:
            rates = [
                tenth / max(ends[k + tenth - 1] - ends[k], 1e-6)
                for k in range(0, 10 * tenth, tenth)
            ]
            print("  runs/s by tenth of the backlog: " + ", ".join(f"{r:,.0f}" for r in rates))
    else:
        print(f"  tablecron: no run finished in {elapsed:.0f} s")
    print(f"  CPU while draining: {cpu.summary()}")
    if rows:
        print(
            f"  per run: schedulers {1000 * cpu.procs / len(rows):.2f} ms CPU, database "
            f"{1000 * cpu.database / len(rows):.2f} ms CPU"
            + (
                f", {(after - before - 1) / len(rows):.1f} commits"
                if before is not None and after is not None
                else ""
            )
        )
    if rows:
        print(f"  per run: {(dbwork.snapshot(logs) - work).per(len(rows))}")
    if set(statuses) - {RunStatus.SUCCEEDED}:
        print(f"  statuses: {dict(statuses)}")
    ceiling = raw_claim_ceiling(opts, runs)
    if ends and ceiling:
        rate = len(ends) / total
        print(f"  drained at {100 * rate / ceiling:.0f} % of the raw claim loop's rate")


# The schedulers without capture: each run executes in a bare context, which neither
# captures its output nor has the watcher look for its cancel.
_WITHOUT_CAPTURE = r"""
import contextlib, django
django.setup()
from tablecron import execution
execution.Running = lambda run_id: contextlib.nullcontext(execution.RunContext(run_id))
"""


def part_capture(opts: argparse.Namespace) -> None:
    runs = opts.drain_runs
    print(
        f"\n== capture's cost: {opts.pairs} drains of {runs:,} runs that write nothing with "
        f"capture, each beside one without (a measuring patch), alternating, "
        f"{opts.schedulers} schedulers (target: under 5 % more CPU per run)"
    )
    figures: dict[bool, list[tuple[float, float]]] = {True: [], False: []}
    for pair in range(opts.pairs):
        for capture in (True, False):
            reset()
            insert_backlog(runs)
            analyze()
            logs = opts.logs / f"capture-{pair}-{'with' if capture else 'without'}"
            with launch(
                opts.schedulers, logs, opts, patch="" if capture else _WITHOUT_CAPTURE
            ) as procs:
                poll(SchedulerInstance.objects.exists, 60, 0.01)
                cpu = watch_drain(procs, runs, opts, 0.2)
            figures[capture].append((1000 * cpu.procs / runs, runs / cpu.wall))
            print(
                f"  {'with' if capture else 'without'} capture: {runs / cpu.wall:,.0f} runs/s, "
                f"schedulers {1000 * cpu.procs / runs:.3f} ms CPU a run (load "
                f"{os.getloadavg()[0]:.1f})"
            )
    # Each drain beside its pair's other: the machine's speed drifts between pairs. A drain
    # shorter than the kernel's CPU tick (10 ms) measures no CPU: no figure for its pair.
    pairs = [(w, wo) for w, wo in zip(figures[True], figures[False], strict=True) if w[0] and wo[0]]
    if not pairs:
        print("  capture's cost, pair by pair: no drain long enough to measure (--drain-runs)")
        return
    cpu = [100 * (w / wo - 1) for (w, _), (wo, _) in pairs]
    rate = [100 * (w / wo - 1) for (_, w), (_, wo) in pairs]
    print(
        f"  capture's cost, pair by pair: scheduler CPU a run "
        f"{', '.join(f'{c:+.1f}' for c in cpu)} % (median {statistics.median(cpu):+.1f} %); "
        f"runs/s {', '.join(f'{r:+.1f}' for r in rate)} % (median "
        f"{statistics.median(rate):+.1f} %)"
    )


# A lean claim loop: the ceiling for "claim, record, advance, commit" on this database.
_RAW_SELECT = (
    "SELECT id, name, next_run_at FROM {job} WHERE enabled AND next_run_at <= %s "
    "ORDER BY next_run_at LIMIT 500 FOR UPDATE SKIP LOCKED"
)
_RAW_INSERT = "INSERT INTO {run} ({columns}) VALUES {values}"
_RAW_COLUMNS = [
    "job_id",
    "job_name",
    "scheduled_for",
    "not_before",
    "status",
    "attempt",
    "trigger",
    "error",
    "worker",
]
_RAW_ADVANCE = (
    "UPDATE {job} SET next_run_at = next_run_at + INTERVAL '1' DAY, version = version + 1, "
    "last_run_at = next_run_at, last_status = 'scheduled' WHERE id IN ({ids})"
)


def raw_claim_worker(worker: str, go: Any, ready: Any, results: Any) -> None:
    """One claimer process (forked): claims batches of 500 until nothing is due."""
    from django.db import connection as conn

    adapt = conn.ops.adapt_datetimefield_value
    job, run = conn.ops.quote_name(Job._meta.db_table), conn.ops.quote_name(JobRun._meta.db_table)
    select = _RAW_SELECT.format(job=job)
    columns = ", ".join(conn.ops.quote_name(column) for column in _RAW_COLUMNS)
    with conn.cursor() as cursor:
        cursor.execute("SELECT 1")  # connect before the clock starts
    ready.put(worker)
    go.wait()
    started, claimed, batches = time.perf_counter(), 0, 0
    while True:
        with transaction.atomic(), conn.cursor() as cursor:
            cursor.execute(select, [adapt(datetime.now(UTC))])
            rows = cursor.fetchall()
            if not rows:
                break
            values = ", ".join(["(%s, %s, %s, %s, 'scheduled', 1, 'schedule', '', %s)"] * len(rows))
            params: list[Any] = []
            for pk, name, at in rows:
                params += [pk, name, at, at, worker]
            cursor.execute(_RAW_INSERT.format(run=run, columns=columns, values=values), params)
            ids = ", ".join(["%s"] * len(rows))
            cursor.execute(_RAW_ADVANCE.format(job=job, ids=ids), [pk for pk, *_ in rows])
        claimed += len(rows)
        batches += 1
    results.put((worker, claimed, batches, time.perf_counter() - started))


def collect(results: Any, procs: list[Any], timeout: float) -> Any:
    """The next result of a claimer; an error as soon as one died without one."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            return results.get(timeout=0.5)
        except queue.Empty:
            failed = [proc.exitcode for proc in procs if proc.exitcode not in (None, 0)]
            if failed:
                raise RuntimeError(f"a raw claimer failed (exit codes {failed})") from None
    raise RuntimeError(f"the raw claimers did not finish in {timeout:.0f} s")


def raw_claim_ceiling(opts: argparse.Namespace, runs: int) -> float | None:
    """The raw claim loop's rate on a backlog of ``runs`` (printed and returned)."""
    if not connection.features.has_select_for_update_skip_locked:
        print(f"  raw claim loop: n/a ({connection.vendor} has no SKIP LOCKED)")
        return None
    reset()
    insert_backlog(runs)
    analyze()
    connection.close()  # the forked children open their own
    context = multiprocessing.get_context("fork")
    go, ready, results = context.Event(), context.Queue(), context.Queue()
    procs = [
        context.Process(target=raw_claim_worker, args=(f"raw-{n}", go, ready, results))
        for n in range(opts.schedulers)
    ]
    try:
        for proc in procs:
            proc.start()
        for _ in procs:
            ready.get(timeout=60)
        with Monitor([proc.pid for proc in procs if proc.pid]) as cpu:
            started = time.perf_counter()
            go.set()
            done = [collect(results, procs, opts.drain_timeout) for _ in procs]
            elapsed = time.perf_counter() - started
    finally:
        for proc in procs:
            if proc.is_alive():
                proc.terminate()  # SIGTERM
            proc.join(10)
            if proc.is_alive():
                proc.kill()
                proc.join()
    claimed = sum(n for _, n, _, _ in done)
    recorded = JobRun.objects.count()
    print(
        f"  raw claim loop ({len(procs)} processes, batches of 500, claims only): "
        f"{claimed:,} claimed in {elapsed:.2f} s = {claimed / elapsed:,.0f} claims/s "
        f"({recorded:,} run rows; per process {sorted(n for _, n, _, _ in done)})"
    )
    print(f"  CPU while claiming: {cpu.summary().replace('schedulers', 'claimers')}")
    return claimed / elapsed


# -- change propagation -----------------------------------------------------------------


def wait_started(run: Callable[[], datetime | None], timeout: float = 10) -> datetime | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        started = run()
        if started is not None:
            return started
        time.sleep(0.005)
    return None


def part_propagation(opts: argparse.Namespace) -> None:
    print(
        f"\n== change propagation: {opts.schedulers} idle schedulers; commit here, "
        f"then poll the run's started_at; {opts.repeats} times each (target p99 <= "
        f"{'100 ms' if connection.vendor == 'postgresql' else '1 s'})"
    )
    reset()
    rng = random.Random(1)
    one_off, manual = [], []
    runs = JobRun.objects.filter(started_at__isnull=False)
    with launch(opts.schedulers, opts.logs / "propagation", opts):
        target = Job.objects.create(name="manual", task=NOOP)  # no schedule: manual only
        time.sleep(1.0)
        for n in range(opts.repeats):
            time.sleep(rng.uniform(0.1, 0.6))  # a random phase against the poll loop
            job = Job.objects.create(name=f"one-off-{n}", task=NOOP, run_at=timezone.now())
            committed = time.time()
            started = wait_started(
                lambda job=job: runs.filter(job=job).values_list("started_at", flat=True).first()
            )
            one_off.append(started.timestamp() - committed if started else INF)
            time.sleep(rng.uniform(0.1, 0.6))
            run = target.run_now()
            committed = time.time()
            started = wait_started(
                lambda run=run: runs.filter(pk=run.pk).values_list("started_at", flat=True).first()
            )
            manual.append(started.timestamp() - committed if started else INF)
    for what, values in (("one-off job, run_at = now", one_off), ("job.run_now()", manual)):
        print(
            f"  {what:<26} p50 {ms(percentile(values, 0.5)):>7}, p99 "
            f"{ms(percentile(values, 0.99)):>7}, max {ms(max(values)):>7}"
        )


# -- idle at a million jobs ---------------------------------------------------------------


def part_idle(opts: argparse.Namespace) -> None:
    count = opts.idle_jobs
    print(
        f"\n== idle: one scheduler, {count:,} daily cron jobs none due within the hour, "
        f"{opts.idle_seconds} s (targets: start-up <= 2 s, CPU <= 1 %, RSS <= 150 MB)"
    )
    reset()
    started = time.perf_counter()
    insert_daily_jobs(
        count,
        "daily-",
        "now() + INTERVAL '1 hour' + (g %% 79200) * INTERVAL '1 second'",
        lambda n: timezone.now() + timedelta(hours=1, seconds=n % 79200),
    )
    analyze()
    print(f"  {Job.objects.count():,} jobs inserted in {time.perf_counter() - started:.1f} s")
    logs = opts.logs / "idle"
    logs.mkdir(parents=True, exist_ok=True)
    log = logs / "scheduler-0.log"
    registered = logged = None
    clock = time.perf_counter()
    with launch(1, logs, opts, register=False) as procs:
        pid = procs[0].pid
        deadline = clock + 60
        while (registered is None or logged is None) and time.perf_counter() < deadline:
            if registered is None and SchedulerInstance.objects.filter(pid=pid).exists():
                registered = time.perf_counter() - clock
            if logged is None and log.exists() and b" started" in log.read_bytes():
                logged = time.perf_counter() - clock
            time.sleep(0.01)
        time.sleep(1.0)  # its first loop
        before = commits()
        with Monitor([pid]) as cpu:
            time.sleep(opts.idle_seconds)
        after = commits()
        rss, peak = rss_mb(pid)
        runs = JobRun.objects.count()
    print(
        f"  start-up: SchedulerInstance row after {fmt_s(registered)}, "
        f"'started' logged after {fmt_s(logged)}"
    )
    rate = (
        f", {(after - before - 1) / cpu.wall:.1f} database transactions/s"
        if before is not None and after is not None
        else ""
    )
    print(
        f"  idle over {cpu.wall:.0f} s: CPU {cpu.percent(cpu.procs):.2f}% of a core "
        f"({cpu.procs:.2f} s); RSS {rss:.0f} MB (peak {peak:.0f} MB); its database "
        f"{cpu.percent(cpu.database):.2f}%{rate}; runs fired: {runs}"
    )


def fmt_s(seconds: float | None) -> str:
    return "never (60 s)" if seconds is None else f"{seconds:.2f} s"


# -- main ---------------------------------------------------------------------------------


def options() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", default=",".join(PARTS), help="comma-separated parts")
    parser.add_argument("--quick", action="store_true", help="short durations, small sizes")
    parser.add_argument("--duration", type=int, help="seconds per sustained step (60)")
    parser.add_argument(
        "--steps", help="every-second job counts to try, in order (100,200,400,...,12800)"
    )
    parser.add_argument(
        "--refine", type=int, default=1, help="bisection steps between the last pass and fail"
    )
    parser.add_argument("--drain-runs", type=int, help="due runs in the backlog (100000)")
    parser.add_argument("--drain-timeout", type=float, default=600.0)
    parser.add_argument(
        "--stale-stats",
        action="store_true",
        help="drain: commit the backlog while the schedulers run, without ANALYZE",
    )
    parser.add_argument("--pairs", type=int, default=3, help="capture: drains each way (3)")
    parser.add_argument("--repeats", type=int, help="propagation measurements (50)")
    parser.add_argument("--idle-jobs", type=int, help="jobs in the table (1000000)")
    parser.add_argument("--idle-seconds", type=int, help="idle CPU window (30)")
    parser.add_argument("--schedulers", type=int, default=2)
    parser.add_argument(
        "--settings", default="{}", help='TABLECRON settings for the schedulers, JSON: {"K": v}'
    )
    parser.add_argument("--logs", type=Path, help="where scheduler logs go (a temporary dir)")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="sample the schedulers' thread stacks every 5 ms and print where time goes "
        "(slows them down a little)",
    )
    opts = parser.parse_args()
    quick = opts.quick
    opts.duration = opts.duration or (10 if quick else 60)
    steps = opts.steps or ",".join(str(100 * 2**k) for k in range(8))
    opts.steps = [int(s) for s in steps.split(",")]
    opts.drain_runs = opts.drain_runs or (10_000 if quick else 100_000)
    opts.repeats = opts.repeats or (20 if quick else 50)
    opts.idle_jobs = opts.idle_jobs or (100_000 if quick else 1_000_000)
    opts.idle_seconds = opts.idle_seconds or (10 if quick else 30)
    opts.settings = json.loads(opts.settings)
    opts.only = [part.strip() for part in opts.only.split(",") if part.strip()]
    unknown = set(opts.only) - set(PARTS)
    if unknown:
        parser.error(f"unknown parts {sorted(unknown)}; choose from {', '.join(PARTS)}")
    opts.logs = opts.logs or Path(tempfile.mkdtemp(prefix="tablecron-bench-"))
    return opts


def describe() -> str:
    try:
        commit = (
            subprocess.run(
                ["git", "describe", "--always", "--dirty"],
                cwd=ROOT,
                capture_output=True,
                text=True,
                check=False,
            ).stdout.strip()
            or "(not a git checkout)"
        )
    except OSError:
        commit = "?"
    with connection.cursor() as cursor:
        cursor.execute("SELECT version()" if connection.vendor != "sqlite" else "SELECT 1")
        version = cursor.fetchone()[0] if connection.vendor != "sqlite" else "sqlite"
    return (
        f"{str(version).split(' on ')[0]}, {os.cpu_count()} cores, load "
        f"{os.getloadavg()[0]:.2f}, python {sys.version.split()[0]}, django "
        f"{django.get_version()}, tablecron at {commit} ({Path(tablecron.__file__).parent})"
    )


@contextmanager
def throwaway_database(name: str) -> Iterator[str]:
    """A new database for the bench, the schedulers' too, dropped on the way out; named
    for this process, as bench/throwaway.py's."""
    name = f"{name}_{os.getpid()}"
    if connection.vendor == "sqlite":
        name = os.path.join(tempfile.gettempdir(), f"{name}.sqlite3")
    connection.settings_dict["TEST"]["NAME"] = name
    test_db = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    assert child_env()["TABLECRON_DB_NAME"] == test_db, "the schedulers would use another DB"
    clock = time.perf_counter()
    try:
        print(f"database: {connection.vendor} ({test_db}); {describe()}")
        yield test_db
    finally:
        connection.close()
        connection.creation.destroy_test_db(test_db, verbosity=0)
        print(f"\ntotal {time.perf_counter() - clock:.0f} s; load {os.getloadavg()[0]:.2f}")


def main() -> None:
    opts = options()
    with throwaway_database("tablecron_bench"):
        print(f"scheduler settings: {opts.settings or 'defaults'}; logs in {opts.logs}")
        for part in PARTS:
            if part in opts.only:
                globals()[f"part_{part}"](opts)


if __name__ == "__main__":
    main()
