"""The scheduler in web workers: a scheduler thread inside each web worker process
(``TABLECRON["SCHEDULER_IN_WEB_WORKERS"]``).

It is as safe as separate ``tablecron scheduler`` processes, since exactly-once firing
rests on the database, not on there being one scheduler. The thread starts when a
process starts serving (gunicorn, uvicorn, daphne, hypercorn, uWSGI workers and
``runserver``), or at its first request under any other server; a process forked from
one that runs a scheduler starts its own, since threads do not survive ``fork()``.
"""

from __future__ import annotations

import atexit
import logging
import os
import sys
import threading
from typing import Any

from django.apps import apps
from django.core.signals import request_started

from tablecron.conf import settings

logger = logging.getLogger("tablecron")

SERVERS = ("gunicorn", "uvicorn", "daphne", "hypercorn", "uwsgi")
_lock = threading.Lock()
_running: dict[int, Any] = {}  # pid -> Scheduler


def install() -> None:
    """Called from ``AppConfig.ready()`` when SCHEDULER_IN_WEB_WORKERS is on."""
    request_started.connect(_on_request, dispatch_uid="tablecron-web-workers")
    os.register_at_fork(after_in_child=_after_fork)
    if _serving():
        start()


def _serving() -> bool:
    program = os.path.basename(sys.argv[0]) if sys.argv else ""
    if program == "__main__.py":  # python -m gunicorn: argv[0] is gunicorn/__main__.py
        program = os.path.basename(os.path.dirname(sys.argv[0]))
    if any(server in program for server in SERVERS):
        return True
    # runserver's autoreloader runs the server in a child marked RUN_MAIN.
    return "runserver" in sys.argv and (
        os.environ.get("RUN_MAIN") == "true" or "--noreload" in sys.argv
    )


def _on_request(**kwargs: Any) -> None:
    if os.getpid() not in _running:
        start()


def _after_fork() -> None:
    if _running:  # the parent ran a scheduler; this child gets its own
        _running.clear()
        start()


def start() -> Any:
    """Start this process's scheduler thread, once."""
    from tablecron.scheduler import Scheduler

    with _lock:
        pid = os.getpid()
        if pid in _running:
            return _running[pid]
        scheduler = Scheduler()
        _running[pid] = scheduler
    thread = threading.Thread(
        target=_run, args=(scheduler,), name="tablecron-scheduler", daemon=True
    )
    thread.start()
    atexit.register(_stop, scheduler, thread)
    logger.info("tablecron: scheduler started in web worker process %d", pid)
    return scheduler


def _run(scheduler: Any) -> None:
    # Started from AppConfig.ready(): let every app finish loading (and registering its
    # tasks) before the first query.
    apps.ready_event.wait()
    scheduler.run()


def _stop(scheduler: Any, thread: threading.Thread) -> None:
    scheduler.stop()
    thread.join(settings.SHUTDOWN_GRACE)
