"""The rows the batch statements read and write. Each is a ``NamedTuple`` whose fields
*are* the column list: the statement, the code that builds the rows and the code that
reads them all go by name, and no one counts positions."""

from __future__ import annotations

import typing
from datetime import datetime
from typing import NamedTuple, NewType

JSONText = NewType("JSONText", str)  # a JSON document as text, stored in a JSON column


class NewRun(NamedTuple):
    """A run recorded by a claim (its first attempt)."""

    job_id: int
    job_name: str
    scheduled_for: datetime
    started_at: datetime | None
    finished_at: datetime | None
    status: str
    trigger: str
    error: str
    worker: str
    claimed_by: str
    not_before: datetime
    executor: str
    queue: str
    queued_at: datetime | None


class Inserted(NamedTuple):
    """A run that ``insert_runs`` inserted (not already recorded)."""

    id: int
    job_id: int
    scheduled_for: datetime


class Advance(NamedTuple):
    """A claimed job moved on: written only while its ``version`` still matches. The
    newest run claimed (if any) speaks for the job in list views."""

    id: int
    version: int
    next_run_at: datetime | None
    last_run_at: datetime | None
    last_status: str | None


class Finished(NamedTuple):
    """How a run ended; ``started_at`` None keeps the one recorded when it started. It is
    written only while the run is still in status ``was`` and, unless ``held_by`` is
    empty, held by that worker. ``succeeded_at`` is ``finished_at`` for a success (the
    job's last success), else None."""

    id: int
    status: str
    started_at: datetime | None
    finished_at: datetime
    result: JSONText | None
    error: str
    was: str
    held_by: str
    succeeded_at: datetime | None


Row = NewRun | Advance | Finished


def columns(row_type: type[Row]) -> tuple[tuple[str, str], ...]:
    """The (name, kind) of each column of ``row_type``: kind is ``int``, ``text``,
    ``time`` or ``json``."""
    return _COLUMNS[row_type]


def _columns(row_type: type[Row]) -> tuple[tuple[str, str], ...]:
    """Read off the fields' annotations."""
    hints = typing.get_type_hints(row_type)
    result = []
    for name in row_type._fields:
        types = typing.get_args(hints[name]) or (hints[name],)
        kind = (
            "json"
            if JSONText in types
            else "time"
            if datetime in types
            else "int"
            if int in types
            else "text"
        )
        result.append((name, kind))
    return tuple(result)


_COLUMNS = {row_type: _columns(row_type) for row_type in (NewRun, Advance, Finished)}
