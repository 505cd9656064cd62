"""Does a long-running scheduler's memory stay flat, and where does it go if not?

One scheduler runs in this process (``Scheduler().run()``, as ``manage.py tablecron
scheduler`` does) with ``--jobs`` every-second jobs (300) of the no-op task, on a
throwaway database (PostgreSQL unless TABLECRON_TEST_DB says otherwise), for
``--seconds`` (600). Every ``--every`` seconds (60) it prints, from inside the process:

rss       resident memory (/proc/self/status), what an operator's monitoring sees
objects   Python objects the garbage collector tracks, after a collection
blocks    blocks held by Python's small-object allocator (``sys.getallocatedblocks``)
in use    bytes the C library's malloc has handed out and not had back (glibc's
          ``mallinfo2``: every arena, and mmapped chunks); the drivers' memory is here
free      bytes malloc holds free in its arenas: fragmentation, not a leak

At the end ``malloc_trim(0)`` gives malloc's free pages back to the system, and RSS is
printed again: what it drops by was held, not leaked. A leak shows as objects, blocks or
in use growing; fragmentation as free growing while they stay flat.

    .venv/bin/python bench/memory.py
    TABLECRON_TEST_DB=mariadb .venv/bin/python bench/memory.py --seconds 1800
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import gc
import os
import sys
import threading
import time
from collections import Counter

# bench/scheduler.py sets up Django on the bench database's settings and holds the helpers.
from scheduler import create_every_second_jobs, rss_mb, throwaway_database

from tablecron.models import JobRun
from tablecron.scheduler import Scheduler


class MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
                     "uordblks", "fordblks", "keepcost")
    ]  # fmt: skip


def glibc() -> ctypes.CDLL | None:
    """The C library, where it is glibc 2.33+ (``mallinfo2``); else None."""
    name = ctypes.util.find_library("c")
    libc = ctypes.CDLL(name) if name else None
    if libc is None or not hasattr(libc, "mallinfo2"):
        return None
    libc.mallinfo2.restype = MallInfo2
    return libc


def rss() -> float:
    return rss_mb(os.getpid())[0]


def sample(libc: ctypes.CDLL | None) -> tuple[dict[str, float], Counter[str]]:
    """The figures now, and the count of objects of each type."""
    gc.collect()
    types = Counter(type(thing).__qualname__ for thing in gc.get_objects())
    figures = {"rss": rss(), "objects": types.total(), "blocks": sys.getallocatedblocks()}
    if libc is not None:
        info = libc.mallinfo2()
        figures["in use"] = (info.uordblks + info.hblkhd) / 2**20
        figures["free"] = info.fordblks / 2**20
    return figures, types


Sample = tuple[float, dict[str, float], Counter[str]]  # (seconds, figures, objects by type)


def row(elapsed: float, figures: dict[str, float], runs: int) -> str:
    malloc = "{:8.1f} {:6.1f}".format(*(figures.get(k, float("nan")) for k in ("in use", "free")))
    return (
        f"{elapsed:5.0f} s {figures['rss']:8.1f} {figures['objects']:9,.0f} "
        f"{figures['blocks']:9,.0f} {malloc} {runs:10,}"
    )


def per_minute(first: Sample, last: Sample, key: str) -> str:
    minutes = (last[0] - first[0]) / 60
    return f"{(last[1][key] - first[1][key]) / minutes:+.2f}" if minutes > 0 else "-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=300)
    parser.add_argument("--seconds", type=int, default=600)
    parser.add_argument("--every", type=int, default=60)
    opts = parser.parse_args()
    libc = glibc()
    with throwaway_database("tablecron_bench_memory"):
        create_every_second_jobs(opts.jobs)
        scheduler = Scheduler()
        loop = threading.Thread(target=scheduler.run, name="scheduler")
        print(f"{opts.jobs} every-second jobs, one scheduler in this process, {opts.seconds} s")
        print("    time   rss MB   objects    blocks  in use MB   free  runs")
        started = time.monotonic()
        loop.start()
        samples: list[Sample] = []
        try:
            while (elapsed := time.monotonic() - started) < opts.seconds:
                time.sleep(min(opts.every, opts.seconds - elapsed))
                elapsed = time.monotonic() - started
                samples.append((elapsed, *sample(libc)))
                print(row(elapsed, samples[-1][1], JobRun.objects.count()), flush=True)
        finally:
            scheduler.stop()
            loop.join()
        half = samples[len(samples) // 2]
        print(f"\nper minute over the second half ({half[0]:.0f} s to the end):")
        for key in samples[-1][1]:
            print(f"  {key:8} {per_minute(half, samples[-1], key)}")
        grown = (samples[-1][2] - half[2]).most_common(8)
        print("objects that grew in number over it:", ", ".join(f"{n} +{k}" for n, k in grown))
        if libc is not None:
            before = rss()
            libc.malloc_trim(0)
            print(f"malloc_trim(0): RSS {before:.1f} -> {rss():.1f} MB")


if __name__ == "__main__":
    main()
