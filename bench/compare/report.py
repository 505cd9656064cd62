"""Running every measure for every side in pairs, and the side-by-side summary."""

from __future__ import annotations

import argparse
import math
import os
import platform
import shlex
import traceback
from contextlib import ExitStack
from importlib.metadata import version
from pathlib import Path
from typing import Any

from measures import Context, Drain, Restart, Step, drain, kept_up, ramp_sizes, restart, sustained
from procs import Proc, celery_argv, child_env, django_argv, wait_for
from sides import PAIRS, Side

Results = dict[tuple[str, str], Any]  # (side, measure) -> result, or a str saying why none


def load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def header(args: argparse.Namespace, logs: Path, command: list[str]) -> str:
    packages = ("django-tablecron", "django-celery-beat", "django-apscheduler", "celery", "django")
    versions = ", ".join(f"{name} {version(name)}" for name in packages)
    return (
        f"bench/compare: {os.cpu_count()} cores, load {load()}, "
        f"{'quick' if args.quick else 'full'} run; logs in {logs}\n"
        f"{versions}, python {platform.python_version()}\n"
        f"tablecron's scheduler: python -m django {' '.join(command)}; through Celery, "
        f"CELERY_RUNS_PER_MESSAGE {args.celery_runs_per_message}"
    )


def celery_worker(ctx: Context, logs: Path, concurrency: int, ceiling: int) -> Proc:
    """The Celery workers that both django-celery-beat's and tablecron's runs go to.

    First their own ceiling: ``ceiling`` calls of beat's task (the cheapest task there
    is: one line appended to a file) are queued before they start, and the rate at which
    they run them is the most any scheduler could send through them."""
    from benchapp.tasks import record

    with record.app.producer_or_acquire() as producer:
        for _ in range(ceiling):
            record.apply_async(("ceiling",), producer=producer)
    record.delay("worker.ready")
    argv = celery_argv("worker", "--loglevel=WARNING", "-n", "bench@%h")
    if concurrency:
        argv.append(f"--concurrency={concurrency}")
    worker = Proc(
        "celery worker", argv, logs / "celery-worker.log", child_env(BENCH_EXECUTOR="celery")
    )
    if not wait_for(lambda: ctx.log.first("worker.ready") or not worker.alive(), 120):
        worker.stop()
        raise RuntimeError(f"the Celery worker did not run a task within 120 s:\n{worker.tail()}")
    print(f"Celery worker up (pid {worker.pid})")
    if ceiling:
        called = sorted(call.called for call in ctx.log.calls("ceiling"))
        rate = (len(called) - 1) / (called[-1] - called[0])
        print(f"  its own ceiling: {len(called):,} calls of a no-op task at {rate:,.0f}/s")
        ctx.ceiling = rate
        ctx.log.forget("ceiling")
    return worker


def db_workers(logs: Path, count: int, interval: float) -> Proc:
    """``count`` django-tasks-db ``db_worker`` processes, in one process group: each polls
    the queue every ``interval`` seconds while it finds nothing to run."""
    options = ["--queue-name", "*", "--interval", str(interval), "--no-startup-delay"]
    command = shlex.join(django_argv("db_worker", *options, "--no-reload"))
    script = f"for n in $(seq {count}); do {command} & done; wait"
    env = child_env(BENCH_EXECUTOR="django_tasks")
    workers = Proc("db_worker", ["sh", "-c", script], logs / "db-worker.log", env)
    print(f"{count} db_worker processes up (group {workers.pid}), --interval {interval}")
    return workers


def sizes(args: argparse.Namespace) -> dict[str, Any]:
    quick = args.quick
    return {
        "ramp": [int(n) for n in args.ramp.split(",")] if args.ramp else ramp_sizes(quick),
        "seconds": args.seconds or (8.0 if quick else 20.0),
        "warmup": 3.0 if quick else 5.0,
        "drain": args.drain_runs or (1000 if quick else 20000),
        "restart": args.restart_jobs or (1000 if quick else 10000),
        "changes": args.changes or (3 if quick else 5),
        "ceiling": 1000 if quick else 10000,
        "change_timeout": 15.0 if quick else 30.0,
    }


def run_measure(
    measure: str, side: Side, ctx: Context, size: dict[str, Any], args: argparse.Namespace
) -> Any:
    if measure == "sustained":
        return sustained(side, ctx, size["ramp"], size["warmup"], size["seconds"])
    if measure == "drain":
        return drain(side, ctx, size["drain"], args.drain_timeout)
    return restart(side, ctx, size["restart"], size["changes"], size["change_timeout"])


def run_all(
    args: argparse.Namespace, sides: dict[str, Side], ctx: Context, stack: ExitStack
) -> Results:
    results: Results = {}
    size = sizes(args)
    measures = [m for m in args.only.split(",") if m]
    for key, side in list(sides.items()):
        why = side.unavailable()
        if why:
            print(f"{side.label}: not available ({why})")
            results.update({(key, m): f"not available: {why}" for m in measures})
            del sides[key]
    if any(side.via_celery for side in sides.values()):
        ctx.worker = celery_worker(ctx, ctx.log.directory.parent, args.concurrency, size["ceiling"])
        stack.callback(ctx.worker.stop)
    if any(side.own_workers for side in sides.values()):
        ctx.db_workers = db_workers(
            ctx.log.directory.parent, args.concurrency or 2, args.db_worker_interval
        )
        stack.callback(ctx.db_workers.stop)
    in_pairs = [key for pair in PAIRS for key in pair]
    order = [key for i, key in enumerate(in_pairs) if key in sides and key not in in_pairs[:i]]
    for measure in measures:
        print(f"\n== {measure} (load {load()})")
        for key in order:  # each side once, beside the peer of its pair
            results[(key, measure)] = _guarded(measure, sides[key], ctx, size, args)
    return results


def _guarded(
    measure: str, side: Side, ctx: Context, size: dict[str, Any], args: argparse.Namespace
) -> Any:
    """One side's measure; a failure is reported and the run goes on."""
    try:
        return run_measure(measure, side, ctx, size, args)
    except Exception as exc:
        traceback.print_exc()
        side.clear()
        return f"failed: {exc!r}"[:200]


# -- summary -----------------------------------------------------------------------------


def summary(results: Results, ceiling: float = math.nan) -> str:
    from sides import SIDES

    lines = [
        "\n== side by side. kept up: lateness p99 <= 1 s and no fire missing; "
        "ratio: how many times better tablecron's figure is"
    ]
    for peer, ours in PAIRS:
        if not _any(results, peer, ours):
            continue
        left, right = SIDES[peer].label, SIDES[ours].label
        lines.append(f"\n{left} vs {right}")
        lines.append(f"  {'':38} {left[:22]:>22} {right[:28]:>28} {'ratio':>8}")
        for label, measure, figure, higher in ROWS:
            a, b = results.get((peer, measure)), results.get((ours, measure))
            if a is None and b is None:
                continue
            va, vb = _value(a, figure), _value(b, figure)
            lines.append(
                f"  {label:38} {_text(a, va, figure)[:22]:>22} {_text(b, vb, figure)[:28]:>28}"
                f" {_ratio(va, vb, higher):>8}"
            )
        if SIDES[ours].via_celery and not math.isnan(ceiling):
            lines.append(f"  {"the workers' own no-op ceiling":38} {ceiling:>19,.0f}/s")
    return "\n".join(lines)


def _any(results: Results, *keys: str) -> bool:
    return any(key in keys for key, _ in results)


def _value(result: Any, figure: str) -> float | None:
    if isinstance(result, str) or result is None:
        return None
    if isinstance(result, list):  # sustained steps
        steps: list[Step] = result
        if figure == "kept_up":
            return kept_up(steps)
        if figure in ("worker_ms", "commits_per_run"):
            top = [s for s in steps if s.tally.kept_up and s.jobs == kept_up(steps)]
            return getattr(top[0], figure) if top else None
        return sum(s.tally.silent for s in steps)
    if isinstance(result, Drain):
        return result.rate
    restart_: Restart = result
    if figure in ("change_p50", "change_max"):
        done = sorted(s if s is not None else math.inf for s in restart_.change)
        if not done:
            return None
        return done[(len(done) - 1) // 2] if figure == "change_p50" else done[-1]
    return getattr(restart_, figure)


def _text(result: Any, value: float | None, figure: str) -> str:
    if isinstance(result, str):
        return result.split(":")[0]
    if result is None:
        return "-"
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if math.isinf(value):
        return "never"
    text = UNITS[figure].format(value)
    if isinstance(result, Drain) and result.ran < result.due:
        return f"{text} ({result.ran:,} ran)"  # stopped at --drain-timeout
    return text


def _ratio(peer: float | None, ours: float | None, higher: bool | None) -> str:
    if peer is None or ours is None or math.isnan(peer) or math.isnan(ours):
        return "-"
    if higher is None:
        return ""
    better, worse = (ours, peer) if higher else (peer, ours)
    if math.isinf(better) and not math.isinf(worse):
        return "inf"
    if worse == 0 or math.isinf(worse):
        return "-"
    return f"{better / worse:,.1f}x"


# (label, measure, figure, higher is better; None: no ratio)
ROWS = [
    ("every-second jobs kept up", "sustained", "kept_up", True),
    ("  fires silently dropped, all steps", "sustained", "silent", None),
    ("  worker CPU ms a run, top step kept up", "sustained", "worker_ms", False),
    ("  commits a run (all processes), same", "sustained", "commits_per_run", False),
    ("backlog drain (from scheduler start)", "drain", "rate", True),
    ("restart: start -> registered", "restart", "registered", False),
    ("restart: start -> first fire", "restart", "first_fire", False),
    ("restart: RSS", "restart", "rss_mb", False),
    ("change -> first fire: p50", "restart", "change_p50", False),
    ("change -> first fire: max", "restart", "change_max", False),
]
UNITS = {
    "kept_up": "{:,.0f} jobs",
    "silent": "{:,.0f}",
    "worker_ms": "{:.2f} ms",
    "commits_per_run": "{:.2f}",
    "rate": "{:,.0f} runs/s",
    "registered": "{:.2f} s",
    "first_fire": "{:.2f} s",
    "rss_mb": "{:.0f} MB",
    "change_p50": "{:.3f} s",
    "change_max": "{:.3f} s",
}
