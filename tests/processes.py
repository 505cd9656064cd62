"""Starting real ``runscheduler`` processes against the test database, and reading back
what the ``record`` task wrote."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from django.db import connection

ROOT = Path(__file__).resolve().parent.parent
SOAK_SECONDS = float(os.environ.get("TABLECRON_SOAK_SECONDS", "30"))


def child_env(**tablecron: Any) -> dict[str, str]:
    """The environment of a process that works on this test run's database."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "TABLECRON_TEST_DB": os.environ.get("TABLECRON_TEST_DB", "sqlite"),
        "TABLECRON_DB_NAME": str(connection.settings_dict["NAME"]),
        "TABLECRON_SETTINGS": json.dumps(tablecron),
        "PYTHONPATH": str(ROOT),
    }
    return env


@contextmanager
def schedulers(count: int, logs: Path, **tablecron: Any) -> Iterator[list[subprocess.Popen[bytes]]]:
    """``count`` runscheduler processes; stopped with SIGTERM (then SIGKILL) on exit."""
    env = child_env(**tablecron)
    procs = []
    for n in range(count):
        log = open(logs / f"scheduler-{n}.log", "wb")  # noqa: SIM115 - closed below
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "django", "runscheduler"],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
        log.close()
    try:
        yield procs
    finally:
        stop(procs)


def stop(procs: list[subprocess.Popen[bytes]], timeout: float = 60) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for proc in procs:
        try:
            proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wait_for(condition: Callable[[], object], timeout: float, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.1)


@dataclass(frozen=True)
class Call:
    label: str
    scheduled_for: datetime
    called_at: float
    pid: int

    @property
    def lateness(self) -> float:
        return self.called_at - self.scheduled_for.timestamp()


def calls(path: Path) -> list[Call]:
    if not path.exists():
        return []
    result = []
    for line in path.read_text().splitlines():
        label, scheduled_for, called_at, pid = line.split()
        result.append(
            Call(label, datetime.fromisoformat(scheduled_for), float(called_at), int(pid))
        )
    return result


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")
