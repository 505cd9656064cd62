"""The rows the batch statements read and write. Each is a ``NamedTuple`` whose fields
*are* the column list: the statement, the code that builds the rows and the code that
reads them all go by name, and no one counts positions."""

from __future__ import annotations

import typing
from datetime import datetime
from typing import NamedTuple, NewType

JSONText = NewType("JSONText", str)  # a JSON document as text, stored in a JSON column


class NewRun(NamedTuple):
    """A run recorded by a claim (its first attempt). Its job's name comes from the job's
    row; a ``held`` run is held by the claim's ``Holder`` (sent once for the whole batch),
    with its job's queue."""

    job_id: int
    scheduled_for: datetime
    started_at: datetime | None
    finished_at: datetime | None
    status: str
    error: str
    worker: str
    not_before: datetime
    held: bool


class Holder(NamedTuple):
    """What the runs of one claim share, sent once rather than with each row: their
    trigger, and for those it holds (``NewRun.held``), the scheduler that claimed them,
    its executor, and when they were in the executor's hands (None: not yet)."""

    trigger: str
    claimed_by: str
    executor: str
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
    """The (name, kind) of each column of ``row_type``: kind is ``int``, ``bool``,
    ``text``, ``time`` or ``json``."""
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
            else "bool"
            if bool in types
            else "int"
            if int in types
            else "text"
        )
        result.append((name, kind))
    return tuple(result)


_COLUMNS = {row_type: _columns(row_type) for row_type in (NewRun, Advance, Finished)}
