"""Runs, read-only: the newest on each job's page, all of them in their own list, each
with its traceback and its result readable."""

from __future__ import annotations

from functools import partial
from typing import Any

from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.db.models import QuerySet
from django.forms import BaseInlineFormSet, Media
from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.text import capfirst
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from tablecron.admin import run_control, story
from tablecron.admin.display import (
    EMPTY,
    duration_text,
    last_line,
    pretty_json,
    run_badge,
    traceback_block,
)
from tablecron.admin.output import denied, may_read_output, output_block
from tablecron.conf import EXECUTOR_ALIASES
from tablecron.describe import format_time
from tablecron.models import Job, JobRun
from tablecron.secrets import mask_field, reveals

# Runs shown on a job's page; the rest are one click away in the run list.
INLINE_RUNS = 20
INLINE_COLUMNS = (
    "run_link",
    "status_column",
    "trigger",
    "attempt",
    "started_column",
    "executor_column",
    "host_column",
    "queued_column",
    "running_column",
    "error_line",
)
# Engine ids (Celery's are UUIDs) are cut to this many characters in the list.
SHORT_ID = 8


class RunColumns:
    """Columns shared by the run list and the runs on a job's page."""

    admin_site: admin.AdminSite

    @admin.display(description=_("scheduled for"), ordering="scheduled_for")
    def scheduled_column(self, run: JobRun) -> str:
        return format_time(run.scheduled_for)

    @admin.display(description=_("status"), ordering="status")
    def status_column(self, run: JobRun) -> SafeString:
        return run_badge(run)

    @admin.display(description=_("started"), ordering="started_at")
    def started_column(self, run: JobRun) -> str:
        return format_time(run.started_at) if run.started_at else "—"

    @admin.display(description=_("finished"), ordering="finished_at")
    def finished_column(self, run: JobRun) -> str:
        return format_time(run.finished_at) if run.finished_at else "—"

    @admin.display(description=_("not before"))
    def not_before_column(self, run: JobRun) -> str:
        return format_time(run.not_before) if run.not_before else "—"

    @admin.display(description=_("queued"), ordering="queued_at")
    def queued_at_column(self, run: JobRun) -> str:
        return format_time(run.queued_at) if run.queued_at else "—"

    @admin.display(description=_("time queued"))
    def queued_column(self, run: JobRun) -> str:
        """From being handed to its executor until it started, or until now."""
        return duration_text(run.time_queued) or "—"

    @admin.display(description=_("time running"))
    def running_column(self, run: JobRun) -> str:
        return duration_text(run.time_running) or "—"

    @admin.display(description=_("executor"), ordering="executor")
    def executor_column(self, run: JobRun) -> SafeString:
        """The executor, and the queue below it where the run names one."""
        if not run.executor:
            return EMPTY
        if not run.queue:
            return format_html("{}", run.executor)
        return format_html(
            '{}<br><span class="tablecron-quiet" title="{}">{}</span>',
            run.executor,
            gettext("queue"),
            run.queue,
        )

    @admin.display(description=_("worker host"), ordering="worker")
    def host_column(self, run: JobRun) -> SafeString:
        """The host (the whole worker id on hover), and below it the engine's id of the run,
        cut short (whole on hover): Celery's are UUIDs."""
        if not run.worker:
            return EMPTY
        host = format_html('<span title="{}">{}</span>', run.worker, run.worker_host)
        if not run.engine_id:
            return host
        short = run.engine_id[:SHORT_ID] + ("…" if len(run.engine_id) > SHORT_ID else "")
        return format_html(
            '{}<br><code class="tablecron-quiet" title="{}">{}</code>',
            host,
            f"{capfirst(JobRun._meta.get_field('engine_id').verbose_name)}: {run.engine_id}",
            short,
        )

    @admin.display(description=_("error"))
    def error_line(self, run: JobRun) -> str:
        return last_line(run.error)

    @admin.display(description=_("run"))
    def run_link(self, run: JobRun) -> SafeString:
        url = reverse(f"{self.admin_site.name}:tablecron_jobrun_change", args=[run.pk])
        return format_html('<a href="{}">{}</a>', url, format_time(run.scheduled_for))


class NewestRunsFormSet(BaseInlineFormSet):  # type: ignore[type-arg]
    def get_queryset(self) -> QuerySet[JobRun]:
        # Sliced here, after the formset has filtered the runs by job.
        queryset: QuerySet[JobRun] = super().get_queryset()
        return queryset[:INLINE_RUNS]


class JobRunInline(RunColumns, admin.TabularInline):  # type: ignore[type-arg]
    model = JobRun
    formset = NewestRunsFormSet
    fields = INLINE_COLUMNS
    readonly_fields = INLINE_COLUMNS
    ordering = ["-scheduled_for", "-attempt"]
    extra = 0
    can_delete = False
    verbose_name = _("run")
    verbose_name_plural = _("latest runs")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class JobFilter(admin.SimpleListFilter):
    """Runs of one job, by id: reached from the job's page. Listing every job here would
    not scale to a large table, so only the chosen one is shown (search finds the rest)."""

    title = _("job")
    parameter_name = "job"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        value = self.value()
        if not value or not value.isdigit():
            return []
        name = Job.objects.filter(pk=value).values_list("name", flat=True).first()
        return [(value, name or gettext("deleted job #%(id)s") % {"id": value})]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        if value and value.isdigit():
            return queryset.filter(job_id=value)
        return queryset


class ExecutorFilter(admin.SimpleListFilter):
    """The executors tablecron has, rather than a DISTINCT over the run table."""

    title = _("executor")
    parameter_name = "executor"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        names = list(EXECUTOR_ALIASES)
        value = self.value()
        if value and value not in names:  # one of the project's own executors
            names.append(value)
        return [(name, name) for name in names]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        return queryset.filter(executor=value) if value else queryset


class QueueFilter(admin.SimpleListFilter):
    """The queues jobs name: the job table is far smaller than the run table."""

    title = _("queue")
    parameter_name = "queue"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        names = set(Job.objects.exclude(queue="").values_list("queue", flat=True).distinct())
        value = self.value()
        if value:  # a queue no job names any more
            names.add(value)
        return [(name, name) for name in sorted(names)]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        return queryset.filter(queue=value) if value else queryset


@admin.register(JobRun)
class JobRunAdmin(RunColumns, admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = [
        "scheduled_column",
        "job_column",
        "status_column",
        "trigger",
        "attempt",
        "executor_column",
        "host_column",
        "queued_column",
        "running_column",
    ]
    list_display_links = ["scheduled_column"]
    list_filter = [
        "status",
        "trigger",
        ExecutorFilter,
        QueueFilter,
        ("scheduled_for", admin.DateFieldListFilter),
        JobFilter,
    ]
    search_fields = ["job_name", "error", "engine_id", "worker"]
    # No date_hierarchy: its date lists convert time zones in SQL, which MySQL and MariaDB
    # cannot do without their time zone tables. The date filter works with plain ranges.
    actions = [run_control.cancel_runs, run_control.rerun_runs]
    fieldsets = [
        (None, {"fields": ["job_column", "status_column", ("trigger", "attempt")]}),
        (_("Story"), {"fields": ["story_column", "related_column"]}),
        (_("Arguments"), {"fields": ["args_column", "kwargs_column"]}),
    ]
    # For users who may not change jobs: arguments that look secret, masked (secrets.py).
    masked_arguments_fieldset = (
        _("Arguments"),
        {"fields": ["masked_args_column", "masked_kwargs_column"]},
    )
    # Shown to users who may read it (``view_output``); the others read that they may not.
    output_fieldset = (_("Output"), {"fields": ["output_column"]})
    no_output_fieldset = (_("Output"), {"fields": ["output_denied_column"]})
    end_fieldsets = [
        (_("Outcome"), {"fields": ["result_pretty", "error_traceback"]}),
        (
            _("Execution"),
            {"fields": [("executor", "queue"), ("claimed_by", "worker"), "engine_id"]},
        ),
    ]
    readonly_fields = [
        "job_column",
        "status_column",
        "trigger",
        "attempt",
        "story_column",
        "related_column",
        "args_column",
        "kwargs_column",
        "masked_args_column",
        "masked_kwargs_column",
        "output_column",
        "output_denied_column",
        "result_pretty",
        "error_traceback",
        "executor",
        "queue",
        "claimed_by",
        "worker",
        "engine_id",
    ]

    @property
    def media(self) -> Media:
        return super().media + Media(
            css={"all": ["tablecron/admin.css"]}, js=["tablecron/run_output.js"]
        )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: JobRun | None = None) -> bool:
        return False

    # -- permissions of the actions (admin.action(permissions=[...])) -------------------

    def has_cancel_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(run_control.CANCEL)

    def has_rerun_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(run_control.RUN)

    def get_fieldsets(self, request: HttpRequest, obj: JobRun | None = None) -> Any:
        output = self.output_fieldset if may_read_output(request) else self.no_output_fieldset
        fieldsets: list[Any] = list(self.fieldsets)
        if not reveals(request.user):  # arguments that look secret, masked (secrets.py)
            fieldsets[-1] = self.masked_arguments_fieldset
        return [*fieldsets, output, *self.end_fieldsets]

    def get_urls(self) -> list[URLPattern]:
        views = {
            "output": run_control.output_view,
            "cancel": run_control.cancel_view,
            "rerun": run_control.rerun_view,
        }
        return [
            path(
                f"<path:object_id>/{name}/",
                self.admin_site.admin_view(partial(view, self)),
                name=f"{self.opts.app_label}_{self.opts.model_name}_{name}",
            )
            for name, view in views.items()
        ] + super().get_urls()

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        run = self.get_object(request, unquote(object_id))
        context = dict(extra_context or {})
        if run is not None:
            context["can_cancel"] = run_control.may_cancel(request, run)
            context["can_rerun"] = run_control.may_rerun(request, run)
        return super().change_view(request, object_id, form_url, context)

    @admin.display(description=_("job"), ordering="job_name")
    def job_column(self, run: JobRun) -> SafeString:
        if run.job_id is None:
            return format_html(
                '{} <span class="tablecron-quiet">({})</span>', run.job_name, gettext("deleted")
            )
        url = reverse(f"{self.admin_site.name}:tablecron_job_change", args=[run.job_id])
        return format_html('<a href="{}">{}</a>', url, run.job_name)

    @admin.display(description=_("result"))
    def result_pretty(self, run: JobRun) -> SafeString:
        return pretty_json(run.result)

    @admin.display(description=_("error"))
    def error_traceback(self, run: JobRun) -> SafeString:
        return traceback_block(run.error) if run.error else EMPTY

    @admin.display(description=_("steps"))
    def story_column(self, run: JobRun) -> SafeString:
        return story.story_html(run, timezone.now())

    @admin.display(description=_("related runs"))
    def related_column(self, run: JobRun) -> SafeString:
        return story.related_html(run, self.admin_site.name)

    @admin.display(description=_("positional arguments"))
    def args_column(self, run: JobRun) -> SafeString:
        return story.arguments_html(run, run.args)

    @admin.display(description=_("keyword arguments"))
    def kwargs_column(self, run: JobRun) -> SafeString:
        return story.arguments_html(run, run.kwargs)

    @admin.display(description=_("positional arguments"))
    def masked_args_column(self, run: JobRun) -> SafeString:
        return story.arguments_html(run, mask_field("args", run.args))

    @admin.display(description=_("keyword arguments"))
    def masked_kwargs_column(self, run: JobRun) -> SafeString:
        return story.arguments_html(run, mask_field("kwargs", run.kwargs))

    @admin.display(description=_("output"))
    def output_column(self, run: JobRun) -> SafeString:
        url = reverse(f"{self.admin_site.name}:tablecron_jobrun_output", args=[run.pk])
        return output_block(run, url)

    @admin.display(description=_("output"))
    def output_denied_column(self, run: JobRun) -> SafeString:
        return denied()
