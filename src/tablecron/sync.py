"""Writing the jobs declared in code (``tablecron.code_jobs``) into the table.

``sync()`` makes the missing rows, updates the fields code owns on the rows it declared,
disables (never deletes) the rows whose declaration is gone, and leaves alone a row of
the same name that people made in the table. It is idempotent, and safe to run from many
processes at once: the name is unique in the database, so a row another process made
first turns this process's insert into an update of that row.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction

from tablecron.code_jobs import OWNED_FIELDS, CodeJob, declared
from tablecron.conf import settings
from tablecron.models import CodeStatus, Job
from tablecron.models.job_queryset import JobQuerySet
from tablecron.validators import error_text


class Action(enum.StrEnum):
    CREATE = "create"
    UPDATE = "update"
    UNCHANGED = "unchanged"
    DISABLE = "disable"
    SKIP = "skip"  # a row of that name that people made in the table
    INVALID = "invalid"  # the declaration does not make a valid row


@dataclass(frozen=True)
class Change:
    name: str
    action: Action
    detail: str = ""  # the fields changed, or why nothing was written


def sync(jobs: Iterable[CodeJob] | None = None, *, dry_run: bool = False) -> list[Change]:
    """Make the table hold ``jobs`` (default: every declared job); what was (or, with
    ``dry_run``, would be) done, one ``Change`` per job."""
    jobs = list(declared if jobs is None else jobs)
    changes = [_sync_one(job, dry_run) for job in jobs]
    return changes + _disable_removed({job.name for job in jobs}, dry_run)


def _sync_one(job: CodeJob, dry_run: bool) -> Change:
    if not _rows().filter(name=job.name).exists():
        # Inserted without a lock: a locking read of a missing row takes a gap lock on
        # MariaDB, on which two processes inserting the same name deadlock.
        try:
            with transaction.atomic(using=settings.DATABASE):
                return _apply(job, None, dry_run)
        except IntegrityError:
            pass  # another process made the row since we looked: update it instead
    with transaction.atomic(using=settings.DATABASE):
        return _apply(job, _rows().select_for_update().filter(name=job.name).first(), dry_run)


def _rows() -> JobQuerySet:
    return Job.objects.using(settings.DATABASE)


def _apply(job: CodeJob, row: Job | None, dry_run: bool) -> Change:
    if row is None:
        row = Job(name=job.name, enabled=job.enabled, code_status=CodeStatus.DECLARED)
        changed = _set_owned(row, job)
        action = Action.CREATE
    elif row.code_status == CodeStatus.TABLE:
        return Change(job.name, Action.SKIP, "a job of this name was made in the table")
    else:
        changed = _set_owned(row, job)
        if row.code_status == CodeStatus.REMOVED:  # declared again: code takes it back
            row.code_status, row.enabled = CodeStatus.DECLARED, job.enabled
            changed += ["code_status", "enabled"]
        action = Action.UPDATE if changed else Action.UNCHANGED
    try:
        row.full_clean(validate_unique=False)  # the database's unique name decides
    except ValidationError as exc:
        return Change(job.name, Action.INVALID, error_text(exc))
    if not dry_run and action != Action.UNCHANGED:
        row.save(using=settings.DATABASE, update_fields=None if row._state.adding else changed)
    detail = ", ".join(changed) if action == Action.UPDATE else ""
    return Change(job.name, action, detail)


def _set_owned(row: Job, job: CodeJob) -> list[str]:
    """Give ``row`` the owned fields' values of ``job``; the names of those that differed."""
    changed = []
    for name in OWNED_FIELDS:
        value = job.fields[name] if name in job.fields else _default(name)
        if getattr(row, name) != value:
            setattr(row, name, value)
            changed.append(name)
    return changed


def _default(name: str) -> Any:
    field = Job._meta.get_field(name)
    assert isinstance(field, models.Field)
    return field.get_default()


def _disable_removed(names: set[str], dry_run: bool) -> list[Change]:
    removed = _rows().filter(code_status=CodeStatus.DECLARED)
    gone = sorted(removed.exclude(name__in=names).values_list("name", flat=True))
    if gone and not dry_run:
        removed.filter(name__in=gone).update(enabled=False, code_status=CodeStatus.REMOVED)
    return [Change(name, Action.DISABLE, "no longer declared in code") for name in gone]
