"""What a write to jobs changed, field by field, for ``signals.jobs_written`` (the audit
trail listens). Nobody listening, nothing is computed: every function here is called only
when ``watched()``."""

from __future__ import annotations

import copy
import functools
from collections.abc import Collection
from typing import Any, NamedTuple

from django.db import models

from tablecron.signals import jobs_written

_CHUNK = 500


class JobWrite(NamedTuple):
    """One job's write, as ``signals.jobs_written`` reports it to the audit trail."""

    pk: Any
    name: str
    kind: str  # "added", "changed", "deleted", or of one run: "run_now", "rerun", "cancel"
    changes: dict[str, tuple[Any, Any]]  # field name -> (before, after)
    run: Any = None  # of one run: the run's pk


def watched(model: type[models.Model]) -> bool:
    """Whether anyone listens for writes (the audit trail): if not, nothing is computed."""
    return jobs_written.has_listeners(model)


def report(model: type[models.Model], using: str | None, writes: list[JobWrite]) -> None:
    if writes:
        jobs_written.send(sender=model, writes=writes, using=using)


@functools.cache
def audited_fields(model: type[models.Model]) -> tuple[str, ...]:
    """The fields a person edits: what the audit trail records changes of."""
    return tuple(
        field.attname
        for field in model._meta.concrete_fields
        if field.editable and not field.primary_key
    )


def loaded_values(job: models.Model) -> dict[str, Any]:
    """The audited values of a row as read: what its next write is compared with."""
    deferred = job.get_deferred_fields()
    names = [name for name in audited_fields(type(job)) if name not in deferred]
    return copy.deepcopy({name: getattr(job, name) for name in names})


def write_of(
    job: Any, loaded: dict[str, Any] | None, fields: Collection[str] | None = None
) -> JobWrite | None:
    """What writing ``fields`` (all of them if None) of ``job`` changes, against the values
    ``loaded``: None if nothing a person edits. A row not read from the database had no
    values before."""
    deferred = job.get_deferred_fields()
    model: type[models.Model] = type(job)
    names = [
        name
        for name in audited_fields(model)
        if (fields is None or name in fields) and name not in deferred
    ]
    if job._state.adding:
        return JobWrite(job.pk, job.name, "added", {n: (None, getattr(job, n)) for n in names})
    loaded = loaded or {}
    changes = {
        name: (loaded.get(name), getattr(job, name))
        for name in names
        if name not in loaded or loaded[name] != getattr(job, name)
    }
    return JobWrite(job.pk, job.name, "changed", changes) if changes else None


def run_write(job: Any, run: Any, action: str) -> JobWrite:
    """A run of ``job`` asked for (``action``): the run's arguments, where they differ
    from the job's."""
    changes = {
        name: (getattr(job, name), value)
        for name, value in (("args", run.args), ("kwargs", run.kwargs))
        if value is not None and value != getattr(job, name)
    }
    return JobWrite(job.pk, job.name, action, changes, run.pk)


def updated_writes(
    rows: models.QuerySet[Any], before: dict[Any, list[Any]], fields: list[str], watched: list[str]
) -> list[JobWrite]:
    """What an ``update()`` changed, row by row: ``before`` holds the rows read before it
    (pk -> values of ``fields``), ``rows`` reads them after it."""
    pks, writes = list(before), []
    for start in range(0, len(pks), _CHUNK):
        after = rows.filter(pk__in=pks[start : start + _CHUNK]).values_list("pk", *fields)
        for pk, *values in after:
            old, new = (
                dict(zip(fields, before[pk], strict=True)),
                dict(zip(fields, values, strict=True)),
            )
            changes = {n: (old[n], new[n]) for n in watched if old[n] != new[n]}
            if changes:
                writes.append(JobWrite(pk, new["name"], "changed", changes))
    return writes
