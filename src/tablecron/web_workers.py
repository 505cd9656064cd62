"""The scheduler in web workers: a scheduler thread inside each web worker process
(``TABLECRON["SCHEDULER_IN_WEB_WORKERS"]``).

It is as safe as separate ``tablecron scheduler`` processes, since exactly-once firing
rests on the database, not on there being one scheduler. The thread starts when a
process starts serving (gunicorn, uvicorn, daphne, hypercorn, uWSGI workers and
``runserver``), or at its first request under any other server; a process forked from
one that runs a scheduler starts its own, since threads do not survive ``fork()``.

A process that forks web workers runs none: under ``gunicorn --preload`` the master
loads the app, then forks (and, with ``--max-requests``, re-forks) the workers. Threads
running jobs in a process that forks are how forked children inherit locks held for
ever, and the master would fire jobs beside its workers. There the app only arranges
that each forked worker starts its own scheduler (``os.register_at_fork``): no gunicorn
hook for users to add.
"""

from __future__ import annotations

import atexit
import logging
import os
import sys
import threading
from types import FrameType
from typing import Any

from django.apps import apps
from django.core.signals import request_started

from tablecron.conf import settings

logger = logging.getLogger("tablecron")

SERVERS = ("gunicorn", "uvicorn", "daphne", "hypercorn", "uwsgi")
ARBITER = os.path.join("gunicorn", "arbiter.py")
_lock = threading.Lock()
_running: dict[int, Any] = {}  # pid -> Scheduler
_start_in_children = False  # this process forks web workers: each starts its own


def install() -> None:
    """Called from ``AppConfig.ready()`` when SCHEDULER_IN_WEB_WORKERS is on."""
    request_started.connect(_on_request, dispatch_uid="tablecron-web-workers")
    os.register_at_fork(after_in_child=_after_fork)
    if not _serving():
        return
    if _forks_web_workers():
        global _start_in_children
        _start_in_children = True
        logger.info("tablecron: no scheduler in the gunicorn master; each worker starts one")
    else:
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


def _forks_web_workers() -> bool:
    """Whether this process loads the app in order to fork web workers from it: gunicorn's
    master with ``--preload``, which loads it from ``Arbiter.setup()`` (a worker loads it
    after its fork, from ``Worker.init_process()``, when ``setup()`` has long returned)."""
    frame: FrameType | None = sys._getframe()
    while frame is not None:
        code = frame.f_code
        if code.co_name == "setup" and code.co_filename.endswith(ARBITER):
            return True
        frame = frame.f_back
    return False


def _on_request(**kwargs: Any) -> None:
    if os.getpid() not in _running:
        start()


def _after_fork() -> None:
    if _running or _start_in_children:  # the parent ran a scheduler, or forks web workers
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
