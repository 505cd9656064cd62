"""The job list's actions. Each goes through the model's ORM paths, so ``next_run_at`` is
right when it commits; Django's own "delete selected" unschedules too (the rows are gone,
their runs stay with ``job`` set to null).

Running now needs ``run_job``; pausing and resuming ``pause_job`` or ``change_job``
(``JobAdmin.has_run_permission()``, ``has_pause_permission()``); duplicating ``add_job``,
and ``run_job`` too for a copy that would be due at once.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

from django.contrib import admin, messages
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from tablecron import audit
from tablecron.exceptions import TooManyRuns
from tablecron.models import Job

NAME_LENGTH = Job._meta.get_field("name").max_length or 200


def copy_names(name: str) -> Iterator[str]:
    """ "name (copy)", "name (copy 2)", "name (copy 3)" … : the names a copy may take.

    The suffix is not translated: names are identifiers that code and commands look up.
    """
    for number in itertools.count(1):
        suffix = " (copy)" if number == 1 else f" (copy {number})"
        yield name[: NAME_LENGTH - len(suffix)] + suffix


def copy_of(job: Job) -> Job:
    """An unsaved copy of the job's editable fields: a new row once saved."""
    return Job(
        **{
            field.attname: getattr(job, field.attname)
            for field in Job._meta.concrete_fields
            if field.editable and not field.primary_key
        }
    )


def duplicate_job(job: Job) -> Job:
    """A copy of the job under a new name, saved like any new row (so it is scheduled)."""
    # Looked up by name (the unique key), a hundred at a time: no index serves a search
    # by prefix (migration 0019 drops PostgreSQL's, written to at every claim).
    candidates = copy_names(job.name)
    while True:
        names = list(itertools.islice(candidates, 100))
        taken = set(Job.objects.filter(name__in=names).values_list("name", flat=True))
        if not taken.issuperset(names):
            break
    copy = copy_of(job)
    copy.name = next(name for name in names if name not in taken)
    copy.save()
    return copy


@admin.action(description=_("Run selected jobs now"), permissions=["run"])
def run_now(
    modeladmin: admin.ModelAdmin[Job], request: HttpRequest, queryset: QuerySet[Job]
) -> None:
    """A manual run of each job; each waits while its job's max_instances runs run."""
    _run_now(modeladmin, request, queryset, ignore_max_instances=False)


@admin.action(description=_("Run selected jobs now, beside running ones"), permissions=["run"])
def run_now_beside_running(
    modeladmin: admin.ModelAdmin[Job], request: HttpRequest, queryset: QuerySet[Job]
) -> None:
    """A manual run of each job that starts even while max_instances runs run."""
    _run_now(modeladmin, request, queryset, ignore_max_instances=True)


def _run_now(
    modeladmin: admin.ModelAdmin[Job],
    request: HttpRequest,
    queryset: QuerySet[Job],
    *,
    ignore_max_instances: bool,
) -> None:
    started, refused = 0, []
    with audit.action("run_now"):
        for job in queryset:
            try:
                job.run_now(ignore_max_instances=ignore_max_instances)
            except TooManyRuns as exc:
                refused.append(exc.message)
            else:
                started += 1
    if started:
        modeladmin.message_user(
            request,
            ngettext(
                "%(count)d job will run shortly.",
                "%(count)d jobs will run shortly.",
                started,
            )
            % {"count": started},
            messages.SUCCESS,
        )
    for message in refused:
        modeladmin.message_user(request, message, messages.ERROR)


@admin.action(description=_("Pause selected jobs"), permissions=["pause"])
def pause(modeladmin: admin.ModelAdmin[Job], request: HttpRequest, queryset: QuerySet[Job]) -> None:
    with audit.action("pause"):
        count = queryset.update(enabled=False)
    modeladmin.message_user(
        request,
        ngettext("%(count)d job paused.", "%(count)d jobs paused.", count) % {"count": count},
        messages.SUCCESS,
    )


@admin.action(description=_("Resume selected jobs"), permissions=["pause"])
def resume(
    modeladmin: admin.ModelAdmin[Job], request: HttpRequest, queryset: QuerySet[Job]
) -> None:
    with audit.action("resume"):
        count = queryset.update(enabled=True)
    modeladmin.message_user(
        request,
        ngettext("%(count)d job resumed.", "%(count)d jobs resumed.", count) % {"count": count},
        messages.SUCCESS,
    )


@admin.action(description=_("Duplicate selected jobs"), permissions=["add"])
def duplicate(
    modeladmin: admin.ModelAdmin[Job], request: HttpRequest, queryset: QuerySet[Job]
) -> None:
    jobs = list(queryset.order_by("name"))
    # A copy of a one-off whose time has passed is due at once: it would run now.
    firing = [job.name for job in jobs if copy_of(job).fires_at_once()]
    if firing and not modeladmin.has_run_permission(request):  # type: ignore[attr-defined]
        modeladmin.message_user(
            request,
            _(
                "Nothing was duplicated: a copy of %(names)s would run now (its run time has "
                "come), and you may not run jobs now."
            )
            % {"names": ", ".join(f"“{name}”" for name in firing)},
            messages.ERROR,
        )
        return
    with transaction.atomic(), audit.action("duplicate"):
        copies = [duplicate_job(job) for job in jobs]
    modeladmin.message_user(
        request,
        ngettext(
            "%(count)d job duplicated: %(names)s.",
            "%(count)d jobs duplicated: %(names)s.",
            len(copies),
        )
        % {"count": len(copies), "names": ", ".join(f"“{copy.name}”" for copy in copies)},
        messages.SUCCESS,
    )
