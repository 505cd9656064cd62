"""Jobs declared in code: the rows ``manage.py tablecron sync`` keeps in the table.

A declaration names a job and gives the fields of its row. Code owns every field that
says what the job does and when (``OWNED_FIELDS``): those it gives, and the model's
defaults for the rest. People own ``enabled``: a declaration only sets it when the row
is made. Declarations are plain data, kept here until a sync writes them
(``tablecron.sync``); nothing in this module touches the database.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from tablecron.exceptions import JobAlreadyDeclared

# The Job fields a declaration sets, and so the fields the admin shows read-only on its row.
OWNED_FIELDS = (
    "description",
    "task",
    "args",
    "kwargs",
    "cron",
    "interval",
    "run_at",
    "timezone",
    "start_at",
    "end_at",
    "calendar",
    "calendar_rule",
    "calendar_day",
    "jitter",
    "misfire_grace",
    "coalesce",
    "max_instances",
    "timeout",
    "max_retries",
    "retry_delay",
    "queue",
    "concurrency_group",
)


@dataclass(frozen=True)
class CodeJob:
    """One job as code declares it: its name, the owned fields it gives, and whether its
    row starts enabled."""

    name: str
    fields: dict[str, Any] = field(hash=False)
    enabled: bool = True


class CodeJobs:
    """The declared jobs by name. Thread-safe; filled as each app's ``tablecron_jobs.py``
    is imported."""

    def __init__(self) -> None:
        self._jobs: dict[str, CodeJob] = {}
        self._lock = threading.Lock()

    def add(self, job: CodeJob) -> CodeJob:
        unknown = set(job.fields).difference(OWNED_FIELDS)
        if unknown:
            raise TypeError(
                f"declare() got fields a job declared in code cannot set: {sorted(unknown)}; "
                f"it sets {', '.join(OWNED_FIELDS)} (and enabled)."
            )
        with self._lock:
            existing = self._jobs.get(job.name)
            if existing is not None and existing != job:
                raise JobAlreadyDeclared(
                    f"The job {job.name!r} is declared twice, differently: {existing} and "
                    f"{job}. Give one of them another name."
                )
            self._jobs[job.name] = job
        return job

    def remove(self, name: str) -> None:
        with self._lock:
            self._jobs.pop(name, None)

    def __iter__(self) -> Iterator[CodeJob]:
        return iter(sorted(self._jobs.values(), key=lambda job: job.name))


declared = CodeJobs()


def declare(name: str, *, task: str, enabled: bool = True, **fields: Any) -> CodeJob:
    """Declare the job ``name`` running ``task``, with any of ``OWNED_FIELDS`` (``cron``,
    ``interval``, ``kwargs``, ``timezone`` ...); ``manage.py tablecron sync`` writes it."""
    if "args" in fields:  # a tuple would never equal the list the row reads back
        fields["args"] = list(fields["args"])
    return declared.add(CodeJob(name=name, fields={"task": task, **fields}, enabled=enabled))


def schedule_fields(schedule: str | timedelta | datetime) -> dict[str, Any]:
    """The Job fields of ``register(schedule=...)``'s shorthand: a cron expression, an
    interval, or a single run time."""
    if isinstance(schedule, str):
        return {"cron": schedule}
    if isinstance(schedule, timedelta):
        return {"interval": schedule}
    if isinstance(schedule, datetime):
        return {"run_at": schedule}
    raise TypeError(
        f"schedule= takes a cron expression, a timedelta or a datetime, not {schedule!r}"
    )
