"""The job admin: the list an operator watches, and the form that schedules a job.

The list costs a constant number of queries per page whatever the size of the table: the
last runs of the page's jobs come in one windowed query (``job_list.JobChangeList``), the schedule
words and the task filter need none, and the "no scheduler" banner is one ``EXISTS``.
"""

from __future__ import annotations

from datetime import timedelta
from functools import partial
from typing import Any

from django.contrib import admin
from django.contrib.admin.options import InlineModelAdmin
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied, ValidationError
from django.forms import Media
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, JsonResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from tablecron.admin import actions, chains, dashboard, run_control
from tablecron.admin.audit import AuditedAdmin
from tablecron.admin.display import (
    EMPTY,
    breadcrumbs,
    pretty_json,
    upcoming_list,
)
from tablecron.admin.forms import PREVIEW_FIELDS, JobForm, ScheduleKind, kind_of
from tablecron.admin.job_list import JobChangeList, JobColumns, TaskFilter
from tablecron.admin.output import may_read_output
from tablecron.admin.runs import JobRunInline
from tablecron.code_jobs import OWNED_FIELDS
from tablecron.conf import settings
from tablecron.describe import describe_schedule
from tablecron.models import CodeStatus, Job, SchedulerInstance
from tablecron.models.scheduler import Role
from tablecron.secrets import mask_field

UPCOMING_COUNT = 5
# The fields that may hold secrets, and what a person who may not change jobs sees instead.
MASKED = {
    "args": "masked_args",
    "kwargs": "masked_kwargs",
    "notify_webhook": "masked_notify_webhook",
}


def _masked(field: Any) -> Any:
    """A fieldset's entry (a name, or names side by side) with ``MASKED``'s in place."""
    if isinstance(field, (list, tuple)):
        return tuple(MASKED.get(name, name) for name in field)
    return MASKED.get(field, field)


def upcoming_content(job: Job) -> SafeString:
    """The schedule in words and its upcoming fire times, or why there are none."""
    try:
        times = job.upcoming(UPCOMING_COUNT)
    except ValidationError:
        return EMPTY
    words = format_html('<p class="tablecron-words">{}</p>', describe_schedule(job))
    if times:
        zone = job.timezone if job.cron else None
        return format_html("{}{}", words, upcoming_list(times, zone))
    if kind_of(job) == ScheduleKind.MANUAL:
        reason = gettext("It runs only when someone starts it with “Run now”.")
    elif kind_of(job) == ScheduleKind.AFTER:
        reason = gettext("It runs each time the job it runs after succeeds.")
    elif not job.enabled:
        reason = gettext("Paused: no runs until it is resumed.")
    else:
        reason = gettext("No more runs: the schedule has no fire time left.")
    return format_html('{}<p class="tablecron-quiet">{}</p>', words, reason)


@admin.register(Job)
class JobAdmin(JobColumns, AuditedAdmin, admin.ModelAdmin):  # type: ignore[type-arg]
    form = JobForm
    list_display = [
        "name",
        "task_column",
        "schedule_column",
        "enabled",
        "next_run_column",
        "last_run_column",
        "recent_runs_column",
        "changed_column",
        "code_column",
    ]
    list_filter = ["enabled", "last_status", TaskFilter, "code_status"]
    search_fields = ["name", "task", "description"]
    autocomplete_fields = ["after"]
    list_select_related = ["after"]  # the schedule in words names it
    # Django counts the whole table a second time for "N results (M total)"; one count
    # is enough, and on InnoDB each costs a scan.
    show_full_result_count = False
    actions = [
        actions.run_now,
        actions.run_now_beside_running,
        actions.pause,
        actions.resume,
        actions.duplicate,
    ]
    readonly_fields = [
        "upcoming",
        "chain",
        "next_run_column",
        "last_run_column",
        "runs_link",
        "code_status",
        "last_success_at",
        "alert_state",
        "created_at",
        "updated_at",
        "durations_column",
        "last_output_column",
        "last_output_denied_column",
    ]
    fieldsets = [
        (None, {"fields": ["name", "description", "task", "args", "kwargs", "enabled"]}),
        (
            _("Schedule"),
            {
                "fields": [
                    "schedule_kind",
                    ("cron", "timezone"),
                    "interval",
                    ("calendar", "calendar_rule", "calendar_day"),
                    "run_at",
                    "after",
                    ("start_at", "end_at"),
                    "jitter",
                    "upcoming",
                ]
            },
        ),
        (
            _("Execution"),
            {
                "classes": ["collapse"],
                "fields": [
                    "queue",
                    "concurrency_group",
                    "misfire_grace",
                    "coalesce",
                    "max_instances",
                    "timeout",
                    "max_retries",
                    "retry_delay",
                ],
            },
        ),
        (
            _("Notifications"),
            {
                "classes": ["collapse"],
                "fields": ["notify", "notify_emails", "notify_webhook", "alert_after"],
            },
        ),
    ]
    state_fields = [
        "chain",
        "next_run_column",
        "last_run_column",
        "durations_column",
        "runs_link",
        "code_status",
        "last_success_at",
        "alert_state",
        "created_at",
        "updated_at",
    ]

    @property
    def media(self) -> Media:
        return super().media + Media(css={"all": ["tablecron/admin.css"]})

    # -- permissions of the actions (admin.action(permissions=[...])) -------------------

    def has_run_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(f"{self.opts.app_label}.run_job")

    def has_pause_permission(self, request: HttpRequest) -> bool:
        pause = f"{self.opts.app_label}.pause_job"
        return request.user.has_perm(pause) or self.has_change_permission(request)

    def get_form(
        self, request: HttpRequest, obj: Job | None = None, change: bool = False, **kwargs: Any
    ) -> Any:
        form = super().get_form(request, obj, change, **kwargs)
        if issubclass(form, JobForm):  # a class made for this request
            form.may_run = self.has_run_permission(request)
        return form

    def get_fieldsets(self, request: HttpRequest, obj: Job | None = None) -> Any:
        fieldsets = list(super().get_fieldsets(request, obj))
        if obj is None:
            return fieldsets
        if not self.has_change_permission(request, obj):
            # Shown, not edited: the fields that may hold secrets, masked (tablecron.secrets).
            fieldsets = [
                (name, {**options, "fields": [_masked(f) for f in options["fields"]]})
                for name, options in fieldsets
            ]
        # The last run's output only for those who may read output (view_output).
        output = "last_output_column" if may_read_output(request) else "last_output_denied_column"
        return [*fieldsets, (_("State"), {"fields": [*self.state_fields, output]})]

    def get_readonly_fields(self, request: HttpRequest, obj: Job | None = None) -> Any:
        readonly = list(super().get_readonly_fields(request, obj))
        if obj is not None and obj.code_status == CodeStatus.DECLARED:
            # Code owns these (tablecron.declare): an edit here would be undone by the next
            # "manage.py tablecron sync". Pausing and resuming stay people's.
            # The name is its key; "after" is when it runs, which code declares (without it).
            readonly += ["name", "schedule_kind", "after", *OWNED_FIELDS]
        return [*readonly, *MASKED.values()]

    @admin.display(description=Job._meta.get_field("args").verbose_name)
    def masked_args(self, job: Job) -> SafeString:
        return pretty_json(mask_field("args", job.args))

    @admin.display(description=Job._meta.get_field("kwargs").verbose_name)
    def masked_kwargs(self, job: Job) -> SafeString:
        return pretty_json(mask_field("kwargs", job.kwargs))

    @admin.display(description=Job._meta.get_field("notify_webhook").verbose_name)
    def masked_notify_webhook(self, job: Job) -> str:
        return str(mask_field("notify_webhook", job.notify_webhook))

    def get_inlines(self, request: HttpRequest, obj: Job | None) -> list[type[InlineModelAdmin]]:  # type: ignore[type-arg]
        return [JobRunInline] if obj is not None else []  # a new job has no runs

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return JobChangeList

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        lost_after = timedelta(seconds=settings.LOST_AFTER)
        # Workers of a queue executor beat too, but fire nothing: only a scheduler counts.
        schedulers = SchedulerInstance.objects.filter(role=Role.SCHEDULER)
        alive = schedulers.alive(timezone.now(), lost_after).exists()
        context = {
            "schedulers_alive": alive,
            "schedulers_url": reverse(
                f"{self.admin_site.name}:tablecron_schedulerinstance_changelist"
            ),
            **(extra_context or {}),
        }
        return super().changelist_view(request, context)

    def get_urls(self) -> list[URLPattern]:
        upcoming = path(
            "upcoming/",
            self.admin_site.admin_view(self.upcoming_view),
            name=f"{self.opts.app_label}_{self.opts.model_name}_upcoming",
        )
        board = path(
            "dashboard/",
            self.admin_site.admin_view(self.dashboard_view),
            name=f"{self.opts.app_label}_dashboard",
        )
        trail = path(
            "audit/",
            self.admin_site.admin_view(self.audit_trail_view),
            name=f"{self.opts.app_label}_{self.opts.model_name}_audit",
        )
        run_now_with = path(
            "<path:object_id>/run/",
            self.admin_site.admin_view(partial(run_control.run_now_view, self)),
            name=f"{self.opts.app_label}_{self.opts.model_name}_run",
        )
        return [upcoming, board, trail, run_now_with, *super().get_urls()]

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        context = {"can_run_now_with": self.has_run_permission(request), **(extra_context or {})}
        return super().change_view(request, object_id, form_url, context)

    def dashboard_view(self, request: HttpRequest) -> HttpResponse:
        """The next day's fires and the last day's runs (see ``dashboard``)."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Dashboard"),
            "opts": self.opts,
            "app_label": self.opts.app_label,
            **breadcrumbs(self, (gettext("Dashboard"), None)),
            **dashboard.context(timezone.now()),
        }
        return TemplateResponse(request, "admin/tablecron/dashboard.html", context)

    # -- the upcoming fire times ------------------------------------------------------

    def upcoming_view(self, request: HttpRequest) -> HttpResponse:
        """The upcoming fire times of the schedule in the posted form, or its field errors.

        JSON: ``times`` (ISO 8601, UTC), ``errors`` (field name → messages), ``description``
        (the schedule in words) and ``html`` (what the form shows). Stores nothing.
        """
        if not (self.has_add_permission(request) or self.has_change_permission(request)):
            raise PermissionDenied
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        return _upcoming(self, request)

    @admin.display(description=_("Kind of schedule"))
    def schedule_kind(self, job: Job) -> str:
        """For people who may only view jobs; editors get the form's radio buttons."""
        return str(ScheduleKind(kind_of(job)).label)

    @admin.display(description=_("upcoming"))
    def upcoming(self, job: Job) -> SafeString:
        """The job's upcoming fire times, kept up to date by job_form.js as the schedule
        fields (``data-fields``) are edited."""
        url = reverse(f"{self.admin_site.name}:tablecron_job_upcoming")
        return format_html(
            '<div class="tablecron-upcoming" data-url="{}" data-fields="{}" aria-live="polite">'
            "{}</div>",
            url,
            " ".join(PREVIEW_FIELDS),
            upcoming_content(job),
        )

    @admin.display(description=_("chain"))
    def chain(self, job: Job) -> SafeString:
        return chains.chain_html(job, self.admin_site.name)


def _upcoming(admin: JobAdmin, request: HttpRequest) -> HttpResponse:
    form = admin.get_form(request)(data=request.POST)
    assert isinstance(form, JobForm)  # JobAdmin.form, possibly subclassed
    values, errors = form.schedule_values()
    times = []
    if not errors:
        try:
            times = Job.upcoming_for(UPCOMING_COUNT, **values)
        except ValidationError as exc:
            errors = exc.message_dict
    html = upcoming_content(Job(**values)) if not errors else EMPTY
    return JsonResponse(
        {
            "times": [moment.isoformat() for moment in times],
            "errors": errors,
            "description": describe_schedule(Job(**values)) if not errors else "",
            "html": str(html),
        }
    )
