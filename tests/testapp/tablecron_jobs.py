"""Tasks the tests schedule; discovered like any app's tablecron_jobs.py."""

import asyncio
import contextlib
import logging
import os
import signal
import sys
import time
from datetime import timedelta
from typing import Any

import tablecron
from tablecron.execution import cancel_requested, current_claim


@tablecron.register
def add(a: int, b: int = 0) -> int:
    """Add two numbers."""
    return a + b


@tablecron.register(name="testapp.greet", description="Say hello.")
def greet(*, who: str, punctuation: str = "!") -> str:
    return f"Hello, {who}{punctuation}"


@tablecron.register
async def async_noop(**options: Any) -> None:
    """Do nothing, asynchronously."""


@tablecron.register(schedule="*/5 * * * *")  # and a job of its name, declared in code
def noop() -> None:
    """Do nothing."""


# Jobs declared in code, which "manage.py tablecron sync" writes (tests/test_sync.py).
tablecron.declare(
    "code-add",
    task="tests.testapp.tablecron_jobs.add",
    args=(1, 2),  # a tuple: stored, and compared, as a list
    cron="0 3 * * *",
    timezone="Europe/Paris",
    description="Declared in code.",
)
tablecron.declare(
    "code-greet",
    task="testapp.greet",
    kwargs={"who": "code"},
    interval=timedelta(hours=1),
    enabled=False,
)


def not_registered(x: int) -> int:
    return x


try:  # Django 6's built-in Tasks, else the django-tasks backport (Django 5.2)
    from django.tasks import task
except ImportError:  # pragma: no cover - depends on the Django version
    from django_tasks import task


@tablecron.register
@task()
def send_digest(user_id: int, *, full: bool = False) -> str:
    """Send the weekly digest (a Django Task)."""
    return f"digest for {user_id}"


@tablecron.register
def typed(
    days: int,
    ratio: float = 1.0,
    tags: list[str] | None = None,
    options: dict[str, Any] | None = None,
    when: "Any" = None,
) -> None:
    """Annotated with JSON types, so the values are checked too."""


@tablecron.register
def fail(message: str = "boom") -> None:
    """Raise, always."""
    raise RuntimeError(message)


@tablecron.register
def sleep(seconds: float) -> float:
    """Block for a while."""
    time.sleep(seconds)
    return seconds


@tablecron.register
async def async_sleep(seconds: float) -> float:
    """Wait for a while, asynchronously."""
    await asyncio.sleep(seconds)
    return seconds


@tablecron.register
def unserialisable() -> object:
    """Return something JSON cannot hold."""
    return object()


@tablecron.register
def big(size: int) -> str:
    """Return a long string."""
    return "x" * size


@tablecron.register
def record(path: str, label: str) -> None:
    """Append one line per call to a file: label, the run's scheduled time, the call time.

    The exactly-once tests read it back; O_APPEND keeps lines whole across processes.
    """
    claim = current_claim()
    scheduled_for = claim.scheduled_for.isoformat() if claim else "-"
    line = f"{label} {scheduled_for} {time.time():.6f} {os.getpid()}\n"
    descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(descriptor, line.encode())
    finally:
        os.close(descriptor)


@tablecron.register
def record_and_sleep(path: str, label: str, seconds: float) -> None:
    """Record the call, then take a while: a run in flight."""
    record(path, label)
    time.sleep(seconds)


@tablecron.register
def record_and_sleep_once(path: str, label: str, seconds: float) -> None:
    """Record the call; the first attempt then takes a while, a retry does not."""
    record(path, label)
    claim = current_claim()
    if claim is None or claim.attempt == 1:
        time.sleep(seconds)


@tablecron.register
def stubborn(seconds: float) -> None:
    """Block, ignoring every exception meant to stop it (a soft time limit, say)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with contextlib.suppress(BaseException):
            time.sleep(0.05)


@tablecron.register
def chatty(label: str, lines: int = 3, pause: float = 0.0) -> int:
    """Print, log and write to stderr, each line naming ``label``; ``pause`` s between."""
    log = logging.getLogger("tests.chatty")
    for n in range(lines):
        print(f"{label} out {n}")
        log.warning("%s log %d", label, n)
        sys.stderr.write(f"{label} err {n}\n")
        time.sleep(pause)
    return lines


@tablecron.register
def until_cancelled(seconds: float) -> str:
    """Say it started, then wait until someone asks to cancel (or ``seconds`` pass)."""
    print("started", flush=True)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if cancel_requested():
            print("asked to stop")
            return "stopped"
        time.sleep(0.02)
    return "not stopped"


@tablecron.register
async def async_until_cancelled(seconds: float) -> str:
    """Say it started, then sleep (cancelled with its run)."""
    print("started", flush=True)
    await asyncio.sleep(seconds)
    return "not stopped"


@tablecron.register
def print_numbers(path: str, count: int, pause: float) -> None:
    """Print numbered lines, each also appended to the file at ``path`` once printed."""
    with open(path, "a") as done:
        for n in range(count):
            print(f"n {n}")
            done.write(f"{n}\n")
            done.flush()
            time.sleep(pause)


@tablecron.register
def print_then_sleep(seconds: float) -> None:
    """Say it started, then block, deaf to cancel_requested()."""
    print("started", flush=True)
    time.sleep(seconds)


@tablecron.register
def print_then_ignore(seconds: float) -> None:
    """Say it started, then block with SIGTERM ignored (in a process's main thread)."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    print("started", flush=True)
    time.sleep(seconds)


@tablecron.register
def fail_loudly(lines: int) -> None:
    """Print ``lines`` numbered lines, then raise."""
    for n in range(lines):
        print(f"line {n}")
    raise RuntimeError("after the lines")
