"""The audit trail's pages: every change to jobs (``audit/``) and one job's history, both
filterable by who, through which door, what kind of change and which field."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from django.contrib import admin
from django.contrib.admin.models import ADDITION, DELETION, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from tablecron.audit import VIA, verbose_name
from tablecron.describe import format_time
from tablecron.models import Job

PAGE_SIZE = 50
KINDS = {
    "added": _("added"),
    "changed": _("changed"),
    "deleted": _("deleted"),
    "run_now": _("run now"),
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
        Change(verbose_name(name), _shown(before), _shown(after))
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
    }
    return TemplateResponse(request, "admin/tablecron/audit.html", context)
