"""Every bench under ``bench/`` runs once, at its smallest size, so that none rots unseen: a
bench that a change of the schema or of a helper breaks cannot bisect a regression. For
correctness only: each exits 0, prints no traceback and no warning (``  ! …``), and prints
its results; no figure is judged, rates are the benches' own business.

On PostgreSQL, the benches' database, so once per ``scripts/test``, in its PostgreSQL
suite. Each bench makes and drops a database of its own beside the tests'. They run side
by side: at this size they mostly wait (on their schedulers, on the clock).
"""

import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection

from tests.support import ROOT
from tests.support.processes import stop, wait_for

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the benches' database: once, on PostgreSQL"
)

# (bench, its smallest options, what its output must say)
BENCHES = [
    # Its six parts, in two runs side by side (each on a database of its own).
    (
        "scheduler.py",
        ["--only", "sustained,lateness", "--schedulers", "1", "--steps", "10", "--refine", "0",
         "--duration", "1"],
        ["largest N kept up", "per fire: ", "of the raw claim loop's",
         "== lateness at 100 fires/s"],
    ),
    (
        "scheduler.py",
        ["--only", "drain,capture,propagation,idle", "--schedulers", "1", "--drain-runs",
         "100", "--pairs", "1", "--repeats", "1", "--idle-jobs", "100", "--idle-seconds", "1"],
        ["tablecron: 100 runs finished", "raw claim loop", "index entries written",
         "drained at", "capture's cost, pair by pair", "one-off job, run_at = now",
         "start-up: SchedulerInstance row after"],
    ),
    (
        "retention.py",
        ["--schedulers", "1", "--runs", "200", "--duration", "1", "--steady", "0",
         "--feed", "10", "--soak", "0"],
        ["by age  : 200 deleted", "by count: 0 deleted", "feeder, pruning (10 s)", "t =   0 s"],
    ),
    ("metrics.py", ["--runs", "100", "--jobs", "10", "--repeats", "1"],
     ["counting:", "scrape on postgresql, 10 jobs"]),
    ("dashboard.py", ["--jobs", "10", "--runs", "1", "--repeat", "1"], ["queries per page"]),
    ("due_query.py", ["--rows", "100"], ["due() first 100 of 1 due jobs", "plan:"]),
    ("notifications.py", ["--jobs", "10", "--runs", "1", "--repeat", "2"],
     ["first look: 3 failures told", "a look with no news:"]),
    ("memory.py", ["--jobs", "10", "--seconds", "2", "--every", "1"], ["malloc_trim(0)"]),
    ("output.py", ["--lines", "100", "--rounds", "1"], ["print(), a line:", "a round writing"]),
    ("worker_side.py", ["--runs", "20", "--rounds", "1"], ["a run: CPU"]),
    # tablecron's side of the comparison, every measure at ten jobs; the peers' sides
    # (django-celery-beat, django-apscheduler) change with them, not with tablecron, and
    # would take minutes more.
    (
        "compare/compare.py",
        ["--quick", "--sides", "tablecron-thread", "--ramp", "10", "--seconds", "1",
         "--drain-runs", "10", "--restart-jobs", "10", "--changes", "1"],
        ["10 of 10 ran", "change 1: first fire after", "side by side"],
    ),
    # These two need root and a PostgreSQL cluster of their own, for minutes: only that
    # they still load.
    ("chaos.py", ["--help"], ["--seconds"]),
    ("partition.py", ["--help"], ["--cut"]),
]  # fmt: skip


KEEP_LOGS = {"scheduler.py", "retention.py", "compare/compare.py"}  # --logs: their processes'


def test_every_bench_runs_at_its_smallest_size(tmp_path: Path) -> None:
    # The benches' own settings: none of this run's (a second database, a test database).
    env = {key: value for key, value in os.environ.items() if not key.startswith("TABLECRON_")}
    env["TABLECRON_TEST_DB"] = "postgres"
    started = []
    for n, (bench, options, says) in enumerate(BENCHES):
        log = tmp_path / f"{n}-{bench.replace('/', '-')}.log"
        with open(log, "wb") as out:
            args = [sys.executable, str(ROOT / "bench" / bench), *options]
            if bench in KEEP_LOGS:  # in pytest's temporary directory, not in /tmp
                args += ["--logs", str(tmp_path / f"{n}-logs")]
            proc = subprocess.Popen(
                args, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,  # to stop what it started if it hangs
            )  # fmt: skip
        part = f" --only {options[1]}" if options[0] == "--only" else ""
        started.append((bench + part, proc, log, says))
    began, took = time.monotonic(), {}

    def finished() -> bool:
        for bench, proc, *_ in started:
            if bench not in took and proc.poll() is not None:
                took[bench] = time.monotonic() - began
        return len(took) == len(started)

    with contextlib.suppress(AssertionError):  # those still running fail below
        wait_for(finished, 300, "the benches")
    stop([proc for _, proc, *_ in started])  # SIGTERM: each stops what it started
    print("\n" + ", ".join(f"{bench} {seconds:.0f} s" for bench, seconds in took.items()))
    failed = []
    for bench, proc, log, says in started:
        output = log.read_text()
        warnings = [line for line in output.splitlines() if line.lstrip().startswith("! ")]
        missing = [text for text in says if text not in output]
        if proc.returncode or "Traceback" in output or warnings or missing:
            how = f"exit {proc.returncode}" if bench in took else "still running after 300 s"
            failed.append(f"== bench/{bench}: {how}, missing {missing}\n{output}")
    assert failed == [], "\n".join(failed)
