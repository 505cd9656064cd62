"""tablecron side by side with django-celery-beat and django-apscheduler, in one run.

    bash bench/compare/run.sh [--quick] [--only sustained,drain,restart] [--sides beat,...]

Two pairs, each measured the same way (docs/benchmarks.md says how, and the figures):

- django-celery-beat (``celery beat -S django``) and tablecron with ``EXECUTOR: "celery"``,
  both sending to the same ``celery worker`` processes, started once for the run;
- django-apscheduler (a BlockingScheduler over its DjangoJobStore, in a management
  command) and tablecron's default thread executor, both running the task in-process.

Measures: sustained every-second jobs (kept up: lateness p99 <= 1 s and no fire missing),
a backlog drain, a restart with a full table (and its RSS), change -> first fire. Every
task call is recorded (benchapp/recording.py) and matched to the fires that were due
(calls.py). PostgreSQL at 127.0.0.1:5432 (database ``bench_compare``, recreated), Redis
at 127.0.0.1:6379 (the bench's own database number, flushed); both servers are the
machine's, the bench starts none.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

DATABASE = "bench_compare"
REDIS_DB = "13"
MEASURES = ("sustained", "drain", "restart")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, to try it out")
    parser.add_argument("--only", default=",".join(MEASURES), help="measures, comma-separated")
    parser.add_argument("--sides", default="", help="sides, comma-separated (default: all)")
    parser.add_argument("--ramp", default="", help="every-second job counts, e.g. 100,200,500")
    parser.add_argument("--seconds", type=float, help="measured seconds per sustained step")
    parser.add_argument("--drain-runs", type=int, help="due runs in the backlog")
    parser.add_argument("--drain-timeout", type=float, default=300.0)
    parser.add_argument("--restart-jobs", type=int, help="jobs in the table at restart")
    parser.add_argument("--changes", type=int, help="change -> first fire samples")
    parser.add_argument("--concurrency", type=int, default=0, help="Celery worker processes")
    parser.add_argument(
        "--db-worker-interval", type=float, default=1.0, help="db_worker --interval (s)"
    )
    parser.add_argument(
        "--celery-runs-per-message", type=int, default=1,
        help="tablecron's CELERY_RUNS_PER_MESSAGE (its Celery side: runs a message)",
    )  # fmt: skip
    parser.add_argument("--logs", type=Path, help="where process logs go (default: a temp dir)")
    return parser.parse_args()


def prepare_environment(logs: Path) -> Path:
    calls = logs / "calls"
    calls.mkdir(parents=True)
    here = Path(__file__).resolve().parent
    sys.path.insert(0, str(here))
    os.environ.update(
        DJANGO_SETTINGS_MODULE="benchcompare.settings",
        BENCH_DATABASE=DATABASE,
        BENCH_REDIS_DB=REDIS_DB,
        BENCH_CALLS_DIR=str(calls),
    )
    return calls


def recreate_database() -> None:
    """A fresh bench_compare on every run, then every app's migrations."""
    import psycopg

    with psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=postgres") as admin:
        admin.autocommit = True
        admin.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        admin.execute(f"CREATE DATABASE {DATABASE}")
    from procs import child_env, django_argv

    subprocess.run(django_argv("migrate", "-v0"), env=child_env(), check=True)


def main() -> int:
    args = parse_args()
    logs = args.logs or Path(tempfile.mkdtemp(prefix="bench-compare-"))
    calls_dir = prepare_environment(logs)
    os.environ["BENCH_CELERY_RUNS_PER_MESSAGE"] = str(args.celery_runs_per_message)
    # SIGTERM unwinds like Ctrl-C, so every `finally` stops what the bench started.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    recreate_database()
    import django

    django.setup()
    import report
    from calls import CallLog
    from measures import Context
    from procs import scheduler_command
    from sides import SIDES, Broker, Tablecron

    Tablecron.command = scheduler_command()
    wanted = [s for s in args.sides.split(",") if s] or list(SIDES)
    sides = {key: SIDES[key](logs) for key in SIDES if key in wanted}
    broker = Broker()
    broker.flush()
    ctx = Context(CallLog(calls_dir), broker)
    print(report.header(args, logs, Tablecron.command))
    started = time.monotonic()
    with ExitStack() as stack:
        results = report.run_all(args, sides, ctx, stack)
    print(report.summary(results, ctx.ceiling))
    print(f"\ntotal {time.monotonic() - started:.0f} s; load {report.load()}; logs in {logs}")
    shutil.rmtree(calls_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
