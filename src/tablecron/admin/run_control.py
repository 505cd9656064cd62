"""A run in the operator's hands, in the admin: following its output, stopping it,
running it again, and running a job once with other arguments ("Run now with…").

Each calls the model (``JobRun.cancel()``, ``JobRun.rerun()``, ``Job.run_now()``) as the
signed-in user through the admin (``audit.acting``), so the audit trail says who did it.
Stopping needs ``tablecron.cancel_jobrun``; running again and "Run now with…" need
``tablecron.run_job``; the output needs ``tablecron.view_output``.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseNotAllowed,
    HttpResponseRedirect,
    JsonResponse,
)
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.text import capfirst
from django.utils.translation import gettext, ngettext, ngettext_lazy
from django.utils.translation import gettext_lazy as _

from tablecron import audit
from tablecron.admin.display import breadcrumbs, run_url, status_label
from tablecron.admin.forms import RunNowForm, task_info
from tablecron.admin.output import may_read_output, output_json
from tablecron.admin.story import RERUNNABLE
from tablecron.exceptions import TooManyRuns
from tablecron.models import Job, JobRun
from tablecron.models.run import ACTIVE
from tablecron.secrets import mask_field, reveals

CANCEL = "tablecron.cancel_jobrun"
RUN = "tablecron.run_job"


def may_cancel(request: HttpRequest, run: JobRun) -> bool:
    """Whether the page offers to stop the run: it is active, nobody asked yet, and the
    user may."""
    return (
        run.status in ACTIVE and run.cancel_requested_at is None and request.user.has_perm(CANCEL)
    )


def may_rerun(request: HttpRequest, run: JobRun) -> bool:
    """Whether the page offers to run it again: it failed, timed out, was lost or missed,
    its job still exists, and the user may run jobs."""
    return run.status in RERUNNABLE and run.job_id is not None and request.user.has_perm(RUN)


def _run_or_404(
    model_admin: admin.ModelAdmin[JobRun], request: HttpRequest, object_id: str
) -> JobRun:
    if not model_admin.has_view_permission(request):  # before saying whether it exists
        raise PermissionDenied
    run = model_admin.get_object(request, unquote(object_id))
    if run is None:
        raise Http404
    return run


# -- following the output ----------------------------------------------------------


def output_view(
    model_admin: admin.ModelAdmin[JobRun], request: HttpRequest, object_id: str
) -> HttpResponse:
    """JSON: the run's output from ``?offset=`` on (``text``, ``next_offset``), its
    ``status``, whether it has ``finished`` and then the page's ``fields`` its end changed
    (``output.output_json()``). 403 without ``view_output``."""
    if request.method != "GET":
        return HttpResponseNotAllowed(["GET"])
    run = _run_or_404(model_admin, request, object_id)
    if not may_read_output(request):
        raise PermissionDenied
    offset = request.GET.get("offset", "0")
    start = int(offset) if offset.isdecimal() else 0  # isdigit() takes "²", int() not
    response = JsonResponse(output_json(run, start))
    response["Cache-Control"] = "no-store"
    return response


# -- stopping a run ----------------------------------------------------------------


def cancel(run: JobRun, request: HttpRequest) -> str:
    """Ask the run to stop, as the user: ``cancelled`` (it had not started), ``stopping``
    (its process stops it within about a second), ``asked`` (someone asked before) or
    ``ended``."""
    with audit.acting(request.user, "admin", "cancel"):
        asked = run.cancel(by=request.user.get_username())
    if asked:
        return "stopping" if run.status in ACTIVE else "cancelled"
    return "asked" if run.status in ACTIVE else "ended"


# What the cancel action says, per outcome of ``cancel()``: its level, and the words.
CANCEL_MESSAGES = {
    "cancelled": (
        messages.SUCCESS,
        ngettext_lazy(
            "%(count)d run cancelled: it had not started.",
            "%(count)d runs cancelled: they had not started.",
            "count",
        ),
    ),
    "stopping": (
        messages.SUCCESS,
        ngettext_lazy(
            "%(count)d run asked to stop: it ends within about a second.",
            "%(count)d runs asked to stop: they end within about a second.",
            "count",
        ),
    ),
    "asked": (
        messages.WARNING,
        ngettext_lazy(
            "%(count)d run was already being stopped.",
            "%(count)d runs were already being stopped.",
            "count",
        ),
    ),
    "ended": (
        messages.WARNING,
        ngettext_lazy(
            "%(count)d run had already ended: nothing to stop.",
            "%(count)d runs had already ended: nothing to stop.",
            "count",
        ),
    ),
}


@admin.action(description=_("Cancel selected runs"), permissions=["cancel"])
def cancel_runs(
    modeladmin: admin.ModelAdmin[JobRun], request: HttpRequest, queryset: QuerySet[JobRun]
) -> None:
    outcomes = Counter(cancel(run, request) for run in queryset.order_by("pk"))
    for outcome, (level, message) in CANCEL_MESSAGES.items():
        if outcomes[outcome]:
            modeladmin.message_user(request, message % {"count": outcomes[outcome]}, level)


def cancel_view(
    model_admin: admin.ModelAdmin[JobRun], request: HttpRequest, object_id: str
) -> HttpResponse:
    """The run page's *Cancel run* button: POST, then back to the run's page."""
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    run = _run_or_404(model_admin, request, object_id)
    if not request.user.has_perm(CANCEL):
        raise PermissionDenied
    outcome = cancel(run, request)
    level, message = {
        "cancelled": (messages.SUCCESS, gettext("The run is cancelled: it had not started.")),
        "stopping": (
            messages.SUCCESS,
            gettext("The run was asked to stop: it ends within about a second."),
        ),
        "asked": (messages.WARNING, gettext("Someone had already asked the run to stop.")),
        "ended": (
            messages.WARNING,
            gettext("The run had already ended (%(status)s): nothing to stop.")
            % {"status": status_label(run.status)},
        ),
    }[outcome]
    model_admin.message_user(request, message, level)
    return HttpResponseRedirect(run_url(run.pk, model_admin.admin_site.name))


# -- running a run again -----------------------------------------------------------


def rerun(run: JobRun, request: HttpRequest) -> JobRun | str:
    """The new run, or why there is none (``TooManyRuns``: MANUAL_RUNS_PER_JOB)."""
    try:
        with audit.acting(request.user, "admin", "rerun"):
            return run.rerun()
    except TooManyRuns as exc:
        return exc.message


@admin.action(description=_("Run selected runs again"), permissions=["rerun"])
def rerun_runs(
    modeladmin: admin.ModelAdmin[JobRun], request: HttpRequest, queryset: QuerySet[JobRun]
) -> None:
    """A new run of each failed, timed-out, lost or missed run's job, with its arguments;
    the others are left, and the message says how many."""
    runs = list(queryset.select_related("job").order_by("pk"))
    outcomes = [rerun(run, request) for run in runs if run.status in RERUNNABLE and run.job_id]
    again = [outcome for outcome in outcomes if isinstance(outcome, JobRun)]
    for refused in dict.fromkeys(o for o in outcomes if isinstance(o, str)):
        modeladmin.message_user(request, refused, messages.ERROR)
    if again:
        modeladmin.message_user(
            request,
            ngettext(
                "%(count)d run will run again shortly.",
                "%(count)d runs will run again shortly.",
                len(again),
            )
            % {"count": len(again)},
            messages.SUCCESS,
        )
    skipped = len(runs) - len(outcomes)
    if skipped:
        modeladmin.message_user(
            request,
            ngettext(
                "%(count)d run skipped: only failed, timed-out, lost and missed runs of "
                "jobs that still exist are run again.",
                "%(count)d runs skipped: only failed, timed-out, lost and missed runs of "
                "jobs that still exist are run again.",
                skipped,
            )
            % {"count": skipped},
            messages.WARNING,
        )


def rerun_view(
    model_admin: admin.ModelAdmin[JobRun], request: HttpRequest, object_id: str
) -> HttpResponse:
    """The run page's *Run again* button: POST, then to the new run's page."""
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    run = _run_or_404(model_admin, request, object_id)
    if not request.user.has_perm(RUN):
        raise PermissionDenied
    site = model_admin.admin_site.name
    if run.status not in RERUNNABLE or run.job_id is None:
        model_admin.message_user(
            request,
            gettext(
                "Only a failed, timed-out, lost or missed run of a job that still exists is "
                "run again; use “Run now” on its job."
            ),
            messages.WARNING,
        )
        return HttpResponseRedirect(run_url(run.pk, site))
    again = rerun(run, request)
    if isinstance(again, str):  # MANUAL_RUNS_PER_JOB
        model_admin.message_user(request, again, messages.ERROR)
        return HttpResponseRedirect(run_url(run.pk, site))
    model_admin.message_user(
        request, gettext("It will run again shortly, with the same arguments."), messages.SUCCESS
    )
    return HttpResponseRedirect(run_url(again.pk, site))


# -- running a job once with other arguments ---------------------------------------


def run_now_view(
    model_admin: admin.ModelAdmin[Job], request: HttpRequest, object_id: str
) -> HttpResponse:
    """*Run now with…*: a form of the job's arguments, filled in with its own, beside
    the task's signature; on a valid submit, a run with those arguments, and its page."""
    job = model_admin.get_object(request, unquote(object_id))
    if job is None or not model_admin.has_view_permission(request, job):
        raise PermissionDenied
    if not request.user.has_perm(RUN):
        raise PermissionDenied
    shown = {name: getattr(job, name) for name in ("args", "kwargs")}
    if not reveals(request.user):  # secrets masked; sent back masked, they are the job's
        shown = {name: mask_field(name, value) for name, value in shown.items()}
    form = RunNowForm(request.POST or None, initial=shown)
    if request.method == "POST" and form.is_valid():
        with audit.acting(request.user, "admin", "run_now"):
            run = form.run(job)
        if run is not None:
            model_admin.message_user(
                request, gettext("It will run shortly, with these arguments."), messages.SUCCESS
            )
            return HttpResponseRedirect(run_url(run.pk, model_admin.admin_site.name))
    return TemplateResponse(
        request, "admin/tablecron/job/run_now.html", _context(model_admin, request, job, form)
    )


def _context(
    model_admin: admin.ModelAdmin[Job], request: HttpRequest, job: Job, form: RunNowForm
) -> dict[str, Any]:
    opts = model_admin.opts
    site = model_admin.admin_site.name
    title = gettext("Run now with…")
    task = job.registered_task
    return {
        **model_admin.admin_site.each_context(request),
        "title": title,
        "subtitle": str(job),
        "opts": opts,
        "job": job,
        "form": form,
        "task": task_info(task) if task is not None else None,
        "media": model_admin.media,
        **breadcrumbs(
            model_admin,
            (capfirst(str(opts.verbose_name_plural)), reverse(f"{site}:tablecron_job_changelist")),
            (str(job), reverse(f"{site}:tablecron_job_change", args=[job.pk])),
            (title, None),
        ),
    }
