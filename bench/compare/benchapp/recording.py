"""Every task call of every side lands here: one line appended to this process's file.

A line is ``job <TAB> fire <TAB> called <TAB> pid``: the job's name, the fire time it
belongs to when the caller knows it (epoch seconds; empty for django-celery-beat and
django-apscheduler, whose tasks are not told), the wall time of the call and the pid.
One file per process, opened with O_APPEND, so that no call waits for another; the
bench reads the files in ``BENCH_CALLS_DIR``.
"""

import os
import time

_file: tuple[int, int] | None = None  # (pid, fd): a forked Celery child opens its own


def _fd() -> int:
    global _file
    pid = os.getpid()
    if _file is None or _file[0] != pid:
        path = os.path.join(os.environ["BENCH_CALLS_DIR"], f"calls-{pid}.tsv")
        _file = (pid, os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644))
    return _file[1]


def record(job: str, fire: float | None = None) -> None:
    called = time.time()
    fire_text = "" if fire is None else f"{fire:.6f}"
    os.write(_fd(), f"{job}\t{fire_text}\t{called:.6f}\t{os.getpid()}\n".encode())
