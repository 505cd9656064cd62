"""The scheduler processes, as their heartbeats report them: read-only."""

from __future__ import annotations

from datetime import timedelta

from django.contrib import admin
from django.http import HttpRequest
from django.utils import timezone
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _

from tablecron.admin.display import time_with_relative
from tablecron.conf import settings
from tablecron.models import SchedulerInstance


@admin.register(SchedulerInstance)
class SchedulerInstanceAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["id", "host", "pid", "started_column", "heartbeat_column", "alive"]
    ordering = ["-heartbeat_at"]
    search_fields = ["id", "host"]
    fields = ["id", "host", "pid", "started_column", "heartbeat_column", "alive"]
    readonly_fields = ["id", "host", "pid", "started_column", "heartbeat_column", "alive"]

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
