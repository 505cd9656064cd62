"""Importing jobs from other schedulers (``manage.py tablecron import``).

Each source module (``celery_beat``, ``apscheduler``) reads the other scheduler's rows
with that scheduler's own classes and turns each into a ``Candidate`` (the fields of a
``Job``, with notes on what did not carry over) or a ``Refused`` (and why). ``create()``
then validates every candidate as a person's input would be, and saves it unless it is a
dry run. Nothing here runs the other scheduler's code beyond its schedule classes.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from tablecron.conf import settings
from tablecron.exceptions import NotImportable
from tablecron.models import Job
from tablecron.validators import error_text


@dataclass
class Candidate:
    source: str  # where the row came from, for the report: "PeriodicTask 'nightly'"
    fields: dict[str, Any]  # Job fields, name included
    notes: list[str] = field(default_factory=list)  # what was approximated or left out

    @property
    def name(self) -> str:
        return str(self.fields["name"])


@dataclass(frozen=True)
class Refused:
    source: str
    name: str
    reason: str


@dataclass(frozen=True)
class Outcome:
    """What became of one row: the job made (or, on a dry run, that would be), or why not."""

    source: str
    name: str
    created: bool
    detail: str  # the schedule made, or the reason for refusing
    notes: tuple[str, ...] = ()


def create(
    rows: Iterable[Candidate | Refused],
    *,
    dry_run: bool = False,
    renames: Mapping[str, str] | None = None,
) -> list[Outcome]:
    """Validate each candidate as a ``Job`` and save it (unless ``dry_run``); one outcome
    per row. ``renames`` maps the other scheduler's task names to tablecron's."""
    outcomes = []
    for row in rows:
        if isinstance(row, Refused):
            outcomes.append(Outcome(row.source, row.name, False, row.reason))
            continue
        fields = dict(row.fields)
        fields["task"] = (renames or {}).get(fields["task"], fields["task"])
        outcomes.append(_create_one(row, Job(**fields), dry_run))
    return outcomes


def _create_one(row: Candidate, job: Job, dry_run: bool) -> Outcome:
    def refuse(reason: str) -> Outcome:
        return Outcome(row.source, row.name, False, reason, tuple(row.notes))

    try:
        job.full_clean()
    except ValidationError as exc:
        return refuse(error_text(exc))
    if not dry_run:
        try:
            with transaction.atomic(using=settings.DATABASE):
                job.save(using=settings.DATABASE)
        except IntegrityError:  # made by someone else since full_clean() looked
            return refuse("a job of this name exists")
    return Outcome(row.source, row.name, True, describe(job), tuple(row.notes))


def describe(job: Job) -> str:
    """The schedule made, in the terms of ``Job``'s fields: what the report prints."""
    if job.cron:
        text = f"cron {job.cron!r} in {job.timezone}"
    elif job.interval:
        text = f"every {job.interval}"
    elif job.run_at:
        text = f"once at {job.run_at.isoformat()}"
    else:
        text = "manual only"
    if job.start_at:
        text += f", from {job.start_at.isoformat()}"
    if job.end_at:
        text += f", until {job.end_at.isoformat()}"
    return text + ("" if job.enabled else ", paused")


def cron_field(values: Iterable[int], low: int, high: int) -> str:
    """A set of values of one cron field as cron text: ``*``, ``*/15``, ``1-5,7``."""
    chosen = sorted(set(values))
    if chosen == list(range(low, high + 1)):
        return "*"
    step = chosen[1] - chosen[0] if len(chosen) > 1 else 0
    if step and 2 * step <= high - low + 1 and chosen == list(range(low, high + 1, step)):
        return f"*/{step}"
    parts: list[str] = []
    start = previous = chosen[0]
    for value in [*chosen[1:], None]:
        if value is not None and value == previous + 1:
            previous = value
            continue
        parts.append(str(start) if start == previous else f"{start}-{previous}")
        if value is not None:
            start = previous = value
    return ",".join(parts)


def day_fields(days_of_month: set[int], days_of_week: set[int]) -> tuple[str, str]:
    """Cron's day-of-month and day-of-week fields (0 = Sunday); ``NotImportable`` when both
    are restricted: the other schedulers then run on days matching both, cron on days
    matching either."""
    dom, dow = cron_field(days_of_month, 1, 31), cron_field(days_of_week, 0, 6)
    if dom != "*" and dow != "*":
        raise NotImportable(
            f"it runs on days that are both day {dom} of the month and weekday {dow}; a cron "
            "expression runs on days that are either"
        )
    return dom, dow


def json_value(value: Any, empty: list[Any] | dict[str, Any], name: str) -> Any:
    """``value`` as JSON of ``empty``'s type (a list or an object), parsed if it is text;
    ``empty`` when there is none."""
    if value in (None, ""):
        return empty
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise NotImportable(f"its {name} are not JSON ({exc})") from None
    if type(value) is not type(empty):
        raise NotImportable(f"its {name} are not a JSON {'list' if empty == [] else 'object'}")
    return value
