"""The audit trail in the admin: its pages, every change to jobs (``audit/``) and one job's
history, both filterable by who, through which door, what kind of change and which field;
and ``AuditedAdmin``, what the job admin adds so that its writes are the user's."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from django.contrib import admin
from django.contrib.admin.models import ADDITION, DELETION, LogEntry
from django.contrib.admin.utils import quote
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.text import Truncator, capfirst
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from tablecron import audit
from tablecron.admin.display import breadcrumbs
from tablecron.audit import VIA, verbose_name
from tablecron.conf import settings
from tablecron.describe import format_time
from tablecron.models import Job
from tablecron.secrets import mask_field

PAGE_SIZE = 50
KINDS = {
    "added": _("added"),
    "changed": _("changed"),
    "deleted": _("deleted"),
    "run_now": _("run now"),
    "rerun": _("run again"),
    "cancel": _("run cancelled"),
    "pause": _("paused"),
    "resume": _("resumed"),
    "duplicate": _("duplicated"),
}
VIA_LABELS = {"admin": _("admin"), "api": _("API"), "code": _("code")}


@dataclass(frozen=True)
class Change:
    field: str
    before: str
    after: str


@dataclass(frozen=True)
class Entry:
    """One LogEntry of a job, read back."""

    log: LogEntry
    time: str
    who: str
    via: str
    what: str
    changes: list[Change]
    run: Any


def _shown(value: Any) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return gettext("yes") if value else gettext("no")
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def read(log: LogEntry) -> Entry:
    """What an entry says: ours carry who, through which door, and the values."""
    try:
        message = json.loads(log.change_message or "[]")
    except ValueError:
        message = []
    ours: dict[str, Any] = next((item["tablecron"] for item in message if "tablecron" in item), {})
    via = ours.get("via", "admin")  # Django's own entries, from before the audit trail
    kind = ours.get("action") or {ADDITION: "added", DELETION: "deleted"}.get(
        log.action_flag, "changed"
    )
    changes = [
        # Masked when stored; masked again as the rules are now (SENSITIVE_KEYS may have
        # grown since).
        Change(
            verbose_name(name), _shown(mask_field(name, before)), _shown(mask_field(name, after))
        )
        for name, (before, after) in ours.get("changes", {}).items()
        if kind != "added" or after not in (None, "", [], {})
    ]
    who = gettext("code") if via == "code" else str(log.user)
    what = str(KINDS.get(kind, kind))
    if not ours:
        what = log.get_change_message() or what
    return Entry(
        log,
        format_time(log.action_time),
        who,
        str(VIA_LABELS.get(via, via)),
        what,
        changes,
        ours.get("run"),
    )


def entries(params: dict[str, str], job_id: str | None = None) -> QuerySet[LogEntry]:
    """The jobs' log entries, newest first, narrowed by the page's filters."""
    logs = LogEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(Job)
    ).select_related("user")
    if job_id is not None:
        logs = logs.filter(object_id=job_id)
    if params.get("job"):
        logs = logs.filter(object_repr__icontains=params["job"])
    if params.get("user"):
        logs = logs.filter(user__username=params["user"])
    if params.get("via") in VIA:
        logs = logs.filter(change_message__contains=f'"via": "{params["via"]}"')
    kind = params.get("kind", "")
    if kind in ("added", "deleted"):
        logs = logs.filter(action_flag=ADDITION if kind == "added" else DELETION)
    elif kind == "changed":
        logs = logs.exclude(action_flag__in=(ADDITION, DELETION))
    elif kind in KINDS:
        logs = logs.filter(change_message__contains=f'"action": "{kind}"')
    if params.get("field") in [f.name for f in Job._meta.concrete_fields]:
        logs = logs.filter(change_message__contains=f'"{params["field"]}": [')
    return logs.order_by("-action_time", "-id")


def audit_view(
    model_admin: admin.ModelAdmin[Job], request: HttpRequest, job: Job | None = None
) -> HttpResponse:
    params = {key: str(value) for key, value in request.GET.items() if value}
    logs = entries(params, str(job.pk) if job is not None else None)
    page = Paginator(logs, PAGE_SIZE).get_page(request.GET.get("page"))
    title = (
        gettext("Change history: %s") % job if job is not None else gettext("Audit trail of jobs")
    )
    fields = [
        (field.name, verbose_name(field.name))
        for field in Job._meta.concrete_fields
        if field.editable and not field.primary_key
    ]
    query = request.GET.copy()
    query.pop("page", None)
    opts = model_admin.opts
    trail: list[tuple[str, str | None]] = [
        (capfirst(str(opts.verbose_name_plural)), _admin_url(model_admin, "changelist"))
    ]
    if job is not None:
        trail.append((Truncator(job).words(18), _admin_url(model_admin, "change", quote(job.pk))))
    trail.append((gettext("History") if job is not None else gettext("Audit trail"), None))
    context = {
        **model_admin.admin_site.each_context(request),
        "title": title,
        "opts": model_admin.opts,
        "object": job,
        "page": page,
        "entries": [read(log) for log in page],
        "params": params,
        "query": query.urlencode(),
        "kinds": list(KINDS.items()),
        "vias": list(VIA_LABELS.items()),
        "fields": fields,
        **breadcrumbs(model_admin, *trail),
    }
    return TemplateResponse(request, "admin/tablecron/audit.html", context)


def _admin_url(model_admin: admin.ModelAdmin[Job], view: str, *args: Any) -> str:
    opts = model_admin.opts
    name = f"admin:{opts.app_label}_{opts.model_name}_{view}"
    return reverse(name, args=args, current_app=model_admin.admin_site.name)


class AuditedAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """What the job admin adds for the audit trail: every write within its views is the
    signed-in user's, through the admin; *History* is the trail of the job; and Django's
    own log entries are left to the trail while it is on."""

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        with audit.acting(request.user, "admin"):
            return super().changeform_view(request, object_id, form_url, extra_context)

    def delete_view(
        self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        with audit.acting(request.user, "admin"):
            return super().delete_view(request, object_id, extra_context)

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        with audit.acting(request.user, "admin"):  # the actions, "delete selected" too
            return super().changelist_view(request, extra_context)

    def history_view(
        self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        job = self.get_object(request, object_id)
        if job is None or not settings.AUDIT_TRAIL:
            return super().history_view(request, object_id, extra_context)
        if not self.has_view_or_change_permission(request, job):
            raise PermissionDenied
        return audit_view(self, request, job)

    def audit_trail_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        return audit_view(self, request)

    def log_addition(self, request: HttpRequest, obj: Any, message: Any) -> Any:
        if not settings.AUDIT_TRAIL:
            return super().log_addition(request, obj, message)

    def log_change(self, request: HttpRequest, obj: Any, message: Any) -> Any:
        if not settings.AUDIT_TRAIL:
            return super().log_change(request, obj, message)

    def log_deletions(self, request: HttpRequest, queryset: Any) -> Any:
        if not settings.AUDIT_TRAIL:
            return super().log_deletions(request, queryset)
