"""Custom working-day calendars: a base country or none, with days off and working days
of their own as inline rows. Saving one reschedules the jobs that use it (the models do
it, whatever path writes); one that jobs use cannot be deleted."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.http import urlencode
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from tablecron.models import Calendar, CalendarDay, Job
from tablecron.models.calendar import jobs_using


class CalendarDayInline(admin.TabularInline):  # type: ignore[type-arg]
    model = CalendarDay
    extra = 1
    fields = ["day", "kind", "note"]


@admin.register(Calendar)
class CalendarAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["name", "country", "days_column", "jobs_column", "updated_at"]
    search_fields = ["name", "country"]
    fields = ["name", "country"]
    inlines = [CalendarDayInline]

    @admin.display(description=_("own days"))
    def days_column(self, calendar: Calendar) -> int:
        return calendar.days.count()

    @admin.display(description=_("jobs"))
    def jobs_column(self, calendar: Calendar) -> SafeString:
        count = jobs_using(calendar.name).count()
        url = reverse(f"{self.admin_site.name}:tablecron_job_changelist")
        return format_html(
            '<a href="{}?{}">{}</a>',
            url,
            urlencode({"calendar": calendar.name}),
            ngettext("%(count)d job", "%(count)d jobs", count) % {"count": count},
        )

    def get_deleted_objects(
        self, objs: Any, request: HttpRequest
    ) -> tuple[list[Any], dict[str, int], set[str], list[Any]]:
        """Django's confirmation page lists the jobs that keep a calendar from going, as
        it does for a protected foreign key."""
        deleted, counts, perms, protected = super().get_deleted_objects(objs, request)
        names = [calendar.name for calendar in objs]
        jobs: QuerySet[Job] = jobs_using(*names)
        protected = [*protected, *(f"{Job._meta.verbose_name}: {job}" for job in jobs[:100])]
        return deleted, counts, perms, protected
