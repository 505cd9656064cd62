"""Django admin for jobs and their runs. Actions go through the model's ORM paths."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from tablecron.models import Job, JobRun


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = [
        "name",
        "task",
        "schedule_text",
        "enabled",
        "next_run_at",
        "last_run_at",
        "last_status",
        "created_at",
        "updated_at",
    ]
    list_filter = ["enabled", "last_status", "task"]
    search_fields = ["name", "task", "description"]
    readonly_fields = ["next_run_at", "last_run_at", "last_status", "created_at", "updated_at"]
    actions = ["run_now", "pause", "resume"]
    fieldsets = [
        (None, {"fields": ["name", "description", "task", "args", "kwargs", "enabled"]}),
        (
            _("Schedule"),
            {"fields": ["cron", "interval", "run_at", "timezone", "start_at", "end_at", "jitter"]},
        ),
        (
            _("Execution"),
            {
                "fields": [
                    "misfire_grace",
                    "coalesce",
                    "max_instances",
                    "timeout",
                    "max_retries",
                    "retry_delay",
                ]
            },
        ),
        (
            _("State"),
            {"fields": ["next_run_at", "last_run_at", "last_status", "created_at", "updated_at"]},
        ),
    ]

    @admin.display(description=_("schedule"))
    def schedule_text(self, job: Job) -> str:
        if job.cron:
            return f"{job.cron} ({job.timezone})"
        if job.interval:
            return str(_("every %(interval)s") % {"interval": job.interval})
        if job.run_at:
            return str(_("once at %(time)s") % {"time": job.run_at})
        return str(_("manual only"))

    @admin.action(description=_("Run selected jobs now"))
    def run_now(self, request: HttpRequest, queryset: QuerySet[Job]) -> None:
        jobs = list(queryset)
        for job in jobs:
            job.run_now()
        self.message_user(
            request,
            ngettext(
                "%(count)d job will run shortly.",
                "%(count)d jobs will run shortly.",
                len(jobs),
            )
            % {"count": len(jobs)},
            messages.SUCCESS,
        )

    @admin.action(description=_("Pause selected jobs"))
    def pause(self, request: HttpRequest, queryset: QuerySet[Job]) -> None:
        count = queryset.update(enabled=False)
        self.message_user(
            request,
            ngettext("%(count)d job paused.", "%(count)d jobs paused.", count) % {"count": count},
        )

    @admin.action(description=_("Resume selected jobs"))
    def resume(self, request: HttpRequest, queryset: QuerySet[Job]) -> None:
        count = queryset.update(enabled=True)
        self.message_user(
            request,
            ngettext("%(count)d job resumed.", "%(count)d jobs resumed.", count) % {"count": count},
        )


@admin.register(JobRun)
class JobRunAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = [
        "job_name",
        "scheduled_for",
        "status",
        "trigger",
        "attempt",
        "started_at",
        "finished_at",
        "worker",
    ]
    list_filter = ["status", "trigger"]
    search_fields = ["job_name", "error"]
    date_hierarchy = "scheduled_for"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: JobRun | None = None) -> bool:
        return False
