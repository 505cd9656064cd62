"""The four measures, the same for every side: sustained every-second jobs, backlog drain,
scheduler restart with a full table, and change -> first fire. Each is bounded in time and
stops every process it started."""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from calls import Call, CallLog, Tally, tally
from django.db import connection
from procs import Proc, sleep_until, wait_for
from sides import Broker, Side

START_TIMEOUT = 120.0  # seconds for a scheduler to fire its first run


@dataclass
class Context:
    log: CallLog
    broker: Broker
    worker: Proc | None = None  # the Celery workers, while they run
    ceiling: float = math.nan  # no-op tasks a second the Celery workers ran
    db_workers: Proc | None = None  # the db_worker processes, while they run

    def workers_of(self, side: Side) -> Proc | None:
        """The processes that run ``side``'s tasks, where they are not its scheduler."""
        if side.own_workers:
            return self.db_workers
        return self.worker if side.via_celery else None


def names(prefix: str, count: int) -> list[str]:
    return [f"{prefix}{i:05d}" for i in range(count)]


def settle(side: Side, ctx: Context, prefix: str) -> None:
    """Let work already handed out finish: Celery's queue empty, and no new call for 2 s.
    What is still queued after 120 s is purged, lest the next measures share the workers
    with it."""
    if side.via_celery and not ctx.broker.wait_empty(120):
        print(f"  ({ctx.broker.queued():,} messages still queued after 120 s: purged)")
        ctx.broker.flush()
    last, quiet_since = -1, time.monotonic()
    deadline = time.monotonic() + 120
    while time.monotonic() - quiet_since < 2 and time.monotonic() < deadline:
        count = ctx.log.count(prefix)
        if count != last:
            last, quiet_since = count, time.monotonic()
        time.sleep(0.2)


# -- sustained ---------------------------------------------------------------------------


@dataclass
class Step:
    jobs: int
    tally: Tally
    cpu: list[float]  # % of one core over the window: the scheduler, the workers
    note: str = ""
    commits: float = math.nan  # the database's commits over the window (every process)
    seconds: float = math.nan  # the window's length

    @property
    def ran(self) -> int:
        return len(self.tally.lateness)

    @property
    def worker_ms(self) -> float:
        """CPU ms of the workers (Celery's, db_worker) per run that ran in the window."""
        if not self.ran or not self.cpu or math.isnan(self.cpu[1]):
            return math.nan
        return self.cpu[1] / 100 * self.seconds / self.ran * 1000

    @property
    def commits_per_run(self) -> float:
        return self.commits / self.ran if self.ran else math.nan


def sustained_step(side: Side, ctx: Context, jobs: int, warmup: float, seconds: float) -> Step:
    prefix = f"{side.key[:4]}.s{jobs}."
    side.clear()
    side.every_second(names(prefix, jobs))
    proc = side.start(f"sustained-{jobs}")
    try:
        if not wait_for(lambda: ctx.log.count(prefix) > 0 or not proc.alive(), START_TIMEOUT):
            return Step(jobs, Tally(), [], f"no call within {START_TIMEOUT:.0f} s")
        if not proc.alive():
            return Step(jobs, Tally(), [], f"scheduler exited:\n{proc.tail()}")
        start = math.ceil(time.time() + warmup)
        end = start + seconds
        sleep_until(start)
        workers = ctx.workers_of(side)
        cpu = [proc.cpu_seconds(), workers.cpu_seconds() if workers else 0.0]
        commits = database_commits()
        sleep_until(end)
        cpu[0] = (proc.cpu_seconds() - cpu[0]) / seconds * 100
        cpu[1] = (workers.cpu_seconds() - cpu[1]) / seconds * 100 if workers else math.nan
        commits = database_commits() - commits
        sleep_until(end + 2)  # the last fires of the window are sent before it stops
    finally:
        proc.stop()
    settle(side, ctx, prefix)
    note = side.detail(prefix, start)
    result = tally(
        ctx.log.by_job,
        names(prefix, jobs),
        start,
        end,
        anchored=side.anchored,
        reported=side.reported(prefix, start, end),
    )
    ctx.log.forget(prefix)
    side.clear()
    return Step(jobs, result, cpu, f"\n{' ' * 10}{note}" if note else "", commits, seconds)


def database_commits() -> float:
    """Transactions committed in the bench's database so far, by every process. A
    backend reports its counts within about a second of going idle: over a window of
    many seconds the error is small."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
        )
        return float(cursor.fetchone()[0])


def ramp_sizes(quick: bool) -> list[int]:
    return [20, 50, 100] if quick else [100, 200, 500, 1000, 2000, 5000, 10000]


def sustained(
    side: Side, ctx: Context, sizes: list[int], warmup: float, seconds: float
) -> list[Step]:
    """Step up through ``sizes`` until a step does not keep up, then one step halfway back
    (down by halves, at most three times, if the first step did not keep up)."""
    print(f"\n-- {side.label}: every-second jobs, {seconds:.0f} s a step after {warmup:.0f} s")
    print(
        f"  {'jobs':>6} {'p50':>9} {'p99':>9} {'max':>9} {'missing':>17} {'silent':>7}"
        f" {'extra':>6}  CPU sched/workers  worker ms/run  commits/run  kept up"
    )

    def step(jobs: int) -> Step:
        return _print_step(sustained_step(side, ctx, jobs, warmup, seconds))

    steps: list[Step] = []
    for jobs in sizes:
        steps.append(step(jobs))
        if not steps[-1].tally.kept_up:
            break
    if not steps[0].tally.kept_up:
        for halving in range(1, 4):
            if steps[0].jobs >> halving:
                steps.append(step(steps[0].jobs >> halving))
                if steps[-1].tally.kept_up:
                    break
    elif not steps[-1].tally.kept_up:
        middle = (steps[-2].jobs + steps[-1].jobs) // 2
        if middle != steps[-2].jobs:
            steps.append(step(middle))
    return steps


def kept_up(steps: list[Step]) -> int:
    return max((s.jobs for s in steps if s.tally.kept_up), default=0)


def _print_step(step: Step) -> Step:
    t = step.tally
    missing = f"{t.missing:,} of {t.expected:,}"
    print(
        f"  {step.jobs:>6,} {_ms(t.percentile(50)):>9} {_ms(t.percentile(99)):>9}"
        f" {_ms(t.percentile(100)):>9} {missing:>17} {t.silent:>7,} {t.extra:>6,}"
        f" {_cpu(step.cpu):>18}  {_per_run(step.worker_ms):>13}"
        f"  {_per_run(step.commits_per_run):>11}"
        f"  {'yes' if t.kept_up else 'NO'} {step.note}"
    )
    return step


def _cpu(cpu: list[float]) -> str:
    return " / ".join("-" if math.isnan(c) else f"{c:.0f}%" for c in cpu)


def _per_run(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.2f}"


def _ms(seconds: float) -> str:
    if math.isnan(seconds):
        return "-"
    return "never" if math.isinf(seconds) else f"{seconds * 1000:,.0f} ms"


# -- drain -------------------------------------------------------------------------------


@dataclass
class Drain:
    due: int
    ran: int = 0
    first: float = math.nan  # seconds from the scheduler's start to the first call
    last: float = math.nan  # ... to the call that completed the backlog (or the last one)
    extra: int = 0

    @property
    def rate(self) -> float:
        return self.ran / self.last if self.ran else 0.0


def drain(side: Side, ctx: Context, due: int, timeout: float) -> Drain:
    prefix = f"{side.key[:4]}.d."
    print(f"\n-- {side.label}: backlog drain of {due:,} due runs (at most {timeout:.0f} s)")
    side.clear()
    side.due_now(names(prefix, due), datetime.now(UTC) - timedelta(minutes=1))
    proc = side.start("drain")
    try:
        wait_for(lambda: ctx.log.count(prefix) >= due or not proc.alive(), timeout, every=0.2)
        died = not proc.alive()
    finally:
        proc.stop()
    settle(side, ctx, prefix)
    calls = sorted(ctx.log.calls(prefix), key=lambda c: c.called)
    ran = len({c.job for c in calls})
    result = Drain(due, ran, extra=len(calls) - ran)
    if calls:
        done = calls[min(due, len(calls)) - 1]
        result.first, result.last = calls[0].called - proc.started, done.called - proc.started
    print(
        f"  {result.ran:,} of {due:,} ran; first after {result.first:.2f} s, "
        f"{'all' if ran == due else 'the last'} after {result.last:.1f} s: "
        f"{result.rate:,.0f} runs/s from the scheduler's start; {result.extra} ran twice"
    )
    if died:
        print(f"  the scheduler exited:\n{proc.tail()}")
    if detail := side.detail(prefix, proc.started):
        print(f"  {detail}")
    ctx.log.forget(prefix)
    side.clear()
    return result


# -- restart and change ------------------------------------------------------------------


@dataclass
class Restart:
    jobs: int
    registered: float = math.nan  # seconds from process start; nan: no such notion
    first_fire: float = math.nan
    rss_mb: float = math.nan
    change: list[float | None] = field(default_factory=list)  # seconds; None: never


def restart(side: Side, ctx: Context, jobs: int, samples: int, timeout: float) -> Restart:
    """``jobs`` in the table (daily ones, none due, and one one-off due a minute ago):
    scheduler start until it registers and until the due job's call; then, with that job
    gone and the scheduler restarted idle, change -> first fire ``samples`` times."""
    prefix = f"{side.key[:4]}.r."
    print(f"\n-- {side.label}: restart with {jobs:,} jobs in the table; change -> first fire")
    side.clear()
    side.idle(names(prefix, jobs - 1))
    canary = f"{prefix}due"
    side.due_now([canary], datetime.now(UTC) - timedelta(minutes=1))
    result = Restart(jobs)
    proc = side.start("restart")
    try:
        if side.registers and wait_for(lambda: side.registered(proc), START_TIMEOUT):
            result.registered = time.time() - proc.started
        first = first_call(ctx, canary, proc, START_TIMEOUT)
        if first is not None:
            result.first_fire = first.called - proc.started
        time.sleep(2)
        if proc.alive():
            result.rss_mb = proc.rss_mb()
    finally:
        proc.stop()
    side.remove(canary)
    registered = f"registered {result.registered:.2f} s, " if side.registers else ""
    print(
        f"  start -> {registered}first fire {result.first_fire:.2f} s; RSS {result.rss_mb:.0f} MB"
    )
    proc = side.start("change")
    try:
        time.sleep(5)  # started and idle
        result.change = change_samples(side, ctx, prefix, samples, timeout, proc)
    finally:
        proc.stop()
    settle(side, ctx, prefix)
    ctx.log.forget(prefix)
    side.clear()
    return result


def first_call(ctx: Context, job: str, proc: Proc, timeout: float) -> Call | None:
    """The job's first call, waiting up to ``timeout`` s while the scheduler lives."""
    wait_for(lambda: ctx.log.first(job) or not proc.alive(), timeout)
    return ctx.log.first(job)


def change_samples(
    side: Side, ctx: Context, prefix: str, samples: int, timeout: float, proc: Proc
) -> list[float | None]:
    """Create a one-off job due now, time until its task is called; at random phases."""
    seconds: list[float | None] = []
    for sample in range(samples):
        time.sleep(random.uniform(0.5, 2.5))
        name = f"{prefix}change{sample}"
        created = time.time()
        side.one_off_now(name)
        call = first_call(ctx, name, proc, timeout)
        if call is not None:
            seconds.append(call.called - created)
            print(f"  change {sample + 1}: first fire after {seconds[-1] * 1000:,.0f} ms")
        else:
            seconds.append(None)
            print(f"  change {sample + 1}: not called within {timeout:.0f} s; no more samples")
            break
    return seconds
