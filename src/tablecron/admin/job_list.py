"""The job list's parts: its columns (``JobColumns``, mixed into ``JobAdmin``), the task
filter, and the change list that fetches the page's recent runs in one query."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.admin.views.main import ChangeList
from django.db.models import Prefetch, QuerySet, prefetch_related_objects
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import conditional_escape, format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from tablecron.admin.display import (
    EMPTY,
    RECENT_RUNS,
    duration_text,
    relative_time,
    run_badge,
    run_strip,
    status_badge,
    time_with_relative,
)
from tablecron.admin.forms import ScheduleKind, kind_of
from tablecron.admin.output import denied, tail_html
from tablecron.admin.story import durations_html
from tablecron.describe import describe_schedule
from tablecron.models import CodeStatus, Job, JobRun
from tablecron.registry import tasks


def recent_runs() -> Prefetch[Any]:
    """The newest runs of each job, in one query for a whole page: Django renders a sliced
    prefetch as a window function over the unique key (job, scheduled_for, attempt)."""
    runs = JobRun.objects.only(
        "id",
        "job_id",
        "scheduled_for",
        "attempt",
        "status",
        "started_at",
        "finished_at",
        "executor",
        "queued_at",
    ).order_by("-scheduled_for", "-attempt")
    return Prefetch("runs", queryset=runs[:RECENT_RUNS], to_attr="recent_runs")


class TaskFilter(admin.SimpleListFilter):
    """The registered tasks, from the registry rather than a DISTINCT over the table."""

    title = _("task")
    parameter_name = "task"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        names = [task.name for task in tasks]
        value = self.value()
        if value and value not in names:  # a task that is not registered (any more)
            names.append(value)
        return [(name, name) for name in names]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        return queryset.filter(task=value) if value else queryset


class JobChangeList(ChangeList):
    def get_results(self, request: HttpRequest) -> None:
        super().get_results(request)
        # Only the page's jobs, not the action querysets built from get_queryset().
        jobs = list(self.result_list)
        prefetch_related_objects(jobs, recent_runs())
        self.result_list = jobs


class JobColumns:
    """The job list's columns (and the change page's read-only ones): ``JobAdmin``'s."""

    admin_site: admin.AdminSite

    @admin.display(description=_("task"), ordering="task")
    def task_column(self, job: Job) -> SafeString:
        # Dotted names may break after a dot, so long ones do not widen the list.
        name = mark_safe(".<wbr>".join(conditional_escape(part) for part in job.task.split(".")))
        task = job.registered_task
        if task is None:
            shown = format_html(
                '<code>{}</code> <span class="tablecron-badge tablecron-bad">{}</span>',
                name,
                gettext("not registered"),
            )
        else:
            shown = format_html('<code title="{}">{}</code>', task.description, name)
        if not job.queue:
            return shown
        queue = gettext("queue: %(queue)s") % {"queue": job.queue}
        return format_html('{}<br><span class="tablecron-quiet">{}</span>', shown, queue)

    @admin.display(description=_("schedule"))
    def schedule_column(self, job: Job) -> str:
        return describe_schedule(job)

    @admin.display(description=_("next run"), ordering="next_run_at")
    def next_run_column(self, job: Job) -> SafeString:
        if job.next_run_at is not None:
            return time_with_relative(job.next_run_at)
        if not job.enabled:
            reason = gettext("paused")
        elif kind_of(job) == ScheduleKind.MANUAL:
            reason = gettext("manual only")
        else:
            reason = gettext("finished")
        return format_html('<span class="tablecron-quiet">{}</span>', reason)

    @admin.display(description=_("last run"), ordering="last_run_at")
    def last_run_column(self, job: Job) -> SafeString:
        if job.last_run_at is None:
            return EMPTY
        runs = getattr(job, "recent_runs", None)
        if runs is None:  # the change page: one query for the one job
            runs = list(job.runs.filter(scheduled_for=job.last_run_at).order_by("-attempt")[:1])
        last = next((run for run in runs if run.scheduled_for == job.last_run_at), None)
        if last is None:
            badge, duration = status_badge(job.last_status), ""
        else:
            badge, duration = run_badge(last), duration_text(last.duration)
        return format_html(
            '{} <span class="tablecron-quiet">{}</span><br>{}',
            badge,
            duration,
            relative_time(job.last_run_at),
        )

    @admin.display(description=_("recent runs"))
    def recent_runs_column(self, job: Job) -> SafeString:
        return run_strip(getattr(job, "recent_runs", []), self.admin_site.name)

    @admin.display(description=_("created / updated"), ordering="updated_at")
    def changed_column(self, job: Job) -> SafeString:
        # One column for both keeps the list within a laptop's width.
        return format_html(
            '{}<br><span class="tablecron-quiet">{}</span>',
            relative_time(job.created_at),
            relative_time(job.updated_at),
        )

    @admin.display(description=_("in code"), boolean=True, ordering="code_status")
    def code_column(self, job: Job) -> bool:
        return job.code_status == CodeStatus.DECLARED

    @admin.display(description=_("recent durations"))
    def durations_column(self, job: Job) -> SafeString:
        return durations_html(job)

    @admin.display(description=_("last run's output"))
    def last_output_column(self, job: Job) -> SafeString:
        return tail_html(job, self.admin_site.name)

    @admin.display(description=_("last run's output"))
    def last_output_denied_column(self, job: Job) -> SafeString:
        return denied()

    @admin.display(description=_("runs"))
    def runs_link(self, job: Job) -> SafeString:
        count = job.runs.count()
        url = reverse(f"{self.admin_site.name}:tablecron_jobrun_changelist")
        return format_html(
            '<a href="{}?job={}">{}</a>',
            url,
            job.pk,
            gettext("All %(count)d runs of this job") % {"count": count},
        )
