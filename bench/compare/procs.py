"""The processes the bench starts: each in its own process group, logged to a file, and
stopped by the bench itself (SIGTERM, then SIGKILL) on every way out."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent  # the bench's virtualenv
CLK_TCK = os.sysconf("SC_CLK_TCK")


def child_env(**extra: str) -> dict[str, str]:
    """The environment of every process the bench starts: its Django project on the path."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE), env.get("PYTHONPATH")]))
    env["DJANGO_SETTINGS_MODULE"] = "benchcompare.settings"
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


class Proc:
    """A started process (and its group: Celery's pool children go with it)."""

    def __init__(self, name: str, argv: list[str], log: Path, env: dict[str, str]) -> None:
        self.name = name
        self.log = log
        self.started = time.time()
        with open(log, "ab") as out:
            self.popen = subprocess.Popen(
                argv,
                cwd=log.parent,  # stray files (celerybeat-schedule, ...) land beside the logs
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.pid = self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self, grace: float = 15.0) -> None:
        """SIGTERM to the group; SIGKILL to what is left after ``grace`` seconds."""
        if self.popen.poll() is None:
            _signal_group(self.pid, signal.SIGTERM)
            try:
                self.popen.wait(grace)
            except subprocess.TimeoutExpired:
                print(f"  ({self.name} did not stop within {grace:.0f} s: SIGKILL)")
        _signal_group(self.pid, signal.SIGKILL)  # pool children that outlived their parent
        self.popen.wait()

    def cpu_seconds(self) -> float:
        """User + system CPU of the processes of its group (Celery's pool children too)."""
        total = 0.0
        for entry in os.scandir("/proc"):
            if entry.name.isdigit():
                fields = _stat(entry.name)
                if fields and int(fields[2]) == self.pid:
                    total += (int(fields[11]) + int(fields[12])) / CLK_TCK
        return total

    def rss_mb(self) -> float:
        with open(f"/proc/{self.pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        return 0.0

    def tail(self, lines: int = 5) -> str:
        text = self.log.read_text(errors="replace").strip().splitlines()
        return "\n".join(f"    | {line}" for line in text[-lines:])


def _stat(pid: str) -> list[str]:
    """/proc/<pid>/stat's fields after the command name ([2] is the process group)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return []


def _signal_group(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signum)


def django_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "django", *args]


def celery_argv(*args: str) -> list[str]:
    return [str(BIN / "celery"), "-A", "benchcompare", *args]


def wait_for(condition: Callable[[], object], timeout: float, every: float = 0.02) -> bool:
    """Poll ``condition()`` until it holds; False if ``timeout`` seconds passed first."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(every)
    return True


def sleep_until(wall: float) -> None:
    time.sleep(max(0.0, wall - time.time()))


def scheduler_command() -> list[str]:
    """tablecron's scheduler command: ``tablecron scheduler``, or ``runscheduler`` before the
    rename lands, whichever ``django help`` lists."""
    listed = subprocess.run(
        django_argv("help"), env=child_env(), capture_output=True, text=True, check=True
    ).stdout.split()
    return ["tablecron", "scheduler"] if "tablecron" in listed else ["runscheduler"]
