"""The scheduler processes, and the worker processes of queue executors (Celery, Django
Tasks), as their heartbeats report them: read-only."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.safestring import SafeString
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from tablecron.admin.display import time_with_relative
from tablecron.conf import settings
from tablecron.models import SchedulerInstance

COLUMNS = ("id", "role", "host", "pid", "started_column", "heartbeat_column", "alive")


@admin.register(SchedulerInstance)
class SchedulerInstanceAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = COLUMNS
    list_filter = ["role"]
    ordering = ["-heartbeat_at"]
    search_fields = ["id", "host"]
    fields = COLUMNS
    readonly_fields = COLUMNS

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(
        self, request: HttpRequest, obj: SchedulerInstance | None = None
    ) -> bool:
        return False

    def has_delete_permission(
        self, request: HttpRequest, obj: SchedulerInstance | None = None
    ) -> bool:
        # A scheduler keeps its own row; a stopped one's row is cleaned up by the others.
        return False

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        # The model's name says "schedulers"; the list holds the workers too.
        title = gettext("Schedulers and workers")
        return super().changelist_view(request, {"title": title, **(extra_context or {})})

    def render_change_form(
        self,
        request: HttpRequest,
        context: dict[str, Any],
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: SchedulerInstance | None = None,
    ) -> HttpResponse:
        if obj is not None:  # "View worker" for a worker
            context["title"] = gettext("View %s") % obj.get_role_display()
        return super().render_change_form(request, context, add, change, form_url, obj)

    @admin.display(description=_("alive"), boolean=True)
    def alive(self, instance: SchedulerInstance) -> bool:
        lost_after = timedelta(seconds=settings.LOST_AFTER)
        return instance.heartbeat_at >= timezone.now() - lost_after

    @admin.display(description=_("started"), ordering="started_at")
    def started_column(self, instance: SchedulerInstance) -> SafeString:
        return time_with_relative(instance.started_at)

    @admin.display(description=_("last heartbeat"), ordering="heartbeat_at")
    def heartbeat_column(self, instance: SchedulerInstance) -> SafeString:
        return time_with_relative(instance.heartbeat_at)
