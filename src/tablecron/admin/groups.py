"""Concurrency groups: the limit of each, and how many of its runs hold a slot or wait
now. A group appears here once a job names it (with limit 1); raise its limit here."""

from __future__ import annotations

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html
from django.utils.http import urlencode
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from tablecron.models import ConcurrencyGroup, Job, JobRun
from tablecron.models.group import taken_slots


@admin.register(ConcurrencyGroup)
class ConcurrencyGroupAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["name", "limit", "running_column", "waiting_column", "jobs_column"]
    list_editable = ["limit"]
    search_fields = ["name", "description"]
    fields = ["name", "limit", "description"]

    @admin.display(description=_("running"))
    def running_column(self, group: ConcurrencyGroup) -> int:
        """Runs holding a slot: running, or claimed and not started yet (queued)."""
        return taken_slots([group.name]).get(group.name, 0)

    @admin.display(description=_("waiting"))
    def waiting_column(self, group: ConcurrencyGroup) -> int:
        return JobRun.objects.pending_for_group(group.name).count()

    @admin.display(description=_("jobs"))
    def jobs_column(self, group: ConcurrencyGroup) -> SafeString:
        count = Job.objects.filter(concurrency_group=group.name).count()
        url = reverse(f"{self.admin_site.name}:tablecron_job_changelist")
        return format_html(
            '<a href="{}?{}">{}</a>',
            url,
            urlencode({"concurrency_group": group.name}),
            ngettext("%(count)d job", "%(count)d jobs", count) % {"count": count},
        )
