"""Small HTML pieces the admin pages share: status badges, the strip of recent runs,
times with "in 5 minutes" beside them. Everything is escaped through ``format_html``."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import django
from django.contrib.admin import ModelAdmin
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.timesince import timesince, timeuntil
from django.utils.translation import gettext, ngettext

from tablecron.conf import settings
from tablecron.describe import format_time
from tablecron.models import JobRun, RunStatus

# Runs shown in the job list's strip, oldest on the left.
RECENT_RUNS = 10

# How each status reads at a glance; the CSS gives each tone its colour.
TONES = {
    RunStatus.SCHEDULED: "waiting",
    RunStatus.RUNNING: "running",
    RunStatus.SUCCEEDED: "ok",
    RunStatus.FAILED: "bad",
    RunStatus.TIMED_OUT: "bad",
    RunStatus.LOST: "bad",
    RunStatus.MISSED: "warn",
    RunStatus.CANCELLED: "waiting",
}
EMPTY = format_html('<span class="tablecron-quiet">{}</span>', "—")
# Django 6.1 made the admin's breadcrumb bar a list, <ol class="breadcrumbs">, and styles
# only that; before, a <div class="breadcrumbs"> of links between "&rsaquo;".
BREADCRUMBS_AS_LIST = django.VERSION >= (6, 1)


def status_label(status: str) -> str:
    try:
        return str(RunStatus(status).label)
    except ValueError:  # a status written by a newer version of the package
        return status


def status_badge(status: str) -> SafeString:
    if not status:
        return EMPTY
    return format_html(
        '<span class="tablecron-badge tablecron-{}">{}</span>',
        TONES.get(status, "waiting"),  # type: ignore[call-overload]
        status_label(status),
    )


def is_queued(run: JobRun) -> bool:
    """Handed to its executor, and not started by any worker yet."""
    return run.status == RunStatus.SCHEDULED and run.queued_at is not None


def run_label(run: JobRun) -> str:
    """A run's status in words; one waiting in its executor's queue reads "queued for 3 min"."""
    if not is_queued(run):
        return status_label(run.status)
    return gettext("queued for %(age)s") % {"age": duration_text(run.time_queued)}


def run_badge(run: JobRun) -> SafeString:
    """A run's status badge; a queued run's says so with its age, and on hover when it
    becomes missed."""
    if reason := run.waiting_reason:
        return format_html(
            '{}<br><span class="tablecron-quiet">{}</span>', status_badge(run.status), reason
        )
    if not is_queued(run):
        return status_badge(run.status)
    assert run.queued_at is not None
    title = gettext(
        "Sent to %(executor)s at %(time)s; no worker has started it yet. It is recorded as "
        "missed if none starts it within %(limit)s (QUEUED_LIMIT)."
    ) % {
        "executor": run.executor,
        "time": format_time(run.queued_at),
        "limit": duration_text(timedelta(seconds=settings.QUEUED_LIMIT)),
    }
    return format_html(
        '<span class="tablecron-badge tablecron-waiting" title="{}">{}</span>',
        title,
        run_label(run),
    )


def relative(moment: datetime, now: datetime | None = None) -> str:
    """ "in 5 minutes" or "5 minutes ago", to the largest unit; seconds under a minute."""
    now = now or timezone.now()
    seconds = int(abs((moment - now).total_seconds()))
    if seconds == 0:
        return gettext("now")
    if seconds < 60:
        if moment >= now:
            return ngettext("in %(count)d second", "in %(count)d seconds", seconds) % {
                "count": seconds
            }
        return ngettext("%(count)d second ago", "%(count)d seconds ago", seconds) % {
            "count": seconds
        }
    if moment >= now:
        return gettext("in %(time)s") % {"time": timeuntil(moment, now, depth=1)}
    return gettext("%(time)s ago") % {"time": timesince(moment, now, depth=1)}


def time_with_relative(moment: datetime | None, now: datetime | None = None) -> SafeString:
    """The absolute time, and below it how far from now it is."""
    if moment is None:
        return EMPTY
    return format_html(
        '<time datetime="{}">{}</time><br><span class="tablecron-quiet">{}</span>',
        moment.isoformat(),
        format_time(moment),
        relative(moment, now),
    )


def relative_time(moment: datetime | None) -> SafeString:
    """How far from now, with the absolute time on hover: for columns that must stay narrow."""
    if moment is None:
        return EMPTY
    return format_html(
        '<time datetime="{}" title="{}">{}</time>',
        moment.isoformat(),
        format_time(moment),
        relative(moment),
    )


def duration_text(duration: timedelta | None) -> str:
    """A run's duration for people: "12 ms", "2.50 s", "42 s", "3 min 5 s", "2 h 1 min"."""
    if duration is None:
        return ""
    seconds = duration.total_seconds()
    if seconds < 1:
        return gettext("%(milliseconds)d ms") % {"milliseconds": round(seconds * 1000)}
    if seconds < 10:
        return gettext("%(seconds)s s") % {"seconds": f"{seconds:.2f}"}
    whole = int(seconds)
    if whole < 60:
        return gettext("%(seconds)d s") % {"seconds": whole}
    if whole < 3600:
        return gettext("%(minutes)d min %(seconds)d s") % {
            "minutes": whole // 60,
            "seconds": whole % 60,
        }
    return gettext("%(hours)d h %(minutes)d min") % {
        "hours": whole // 3600,
        "minutes": whole % 3600 // 60,
    }


def run_url(run_id: int, site: str = "admin") -> str:
    return reverse(f"{site}:tablecron_jobrun_change", args=[run_id])


def run_strip(runs: Sequence[JobRun], site: str = "admin") -> SafeString:
    """One coloured mark per run, oldest first, each linking to its run."""
    if not runs:
        return EMPTY
    marks = format_html_join(
        "",
        '<a class="tablecron-mark tablecron-{}" href="{}" title="{}"></a>',
        (
            (
                TONES.get(run.status, "waiting"),  # type: ignore[call-overload]
                run_url(run.pk, site),
                f"{format_time(run.scheduled_for)} · {run_label(run)}",
            )
            for run in reversed(runs)
        ),
    )
    return format_html('<span class="tablecron-strip">{}</span>', marks)


def pretty_json(value: Any) -> SafeString:
    if value is None:
        return EMPTY
    text = json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True)
    return format_html('<pre class="tablecron-pre">{}</pre>', text)


def last_line(error: str) -> str:
    """A traceback's last line: the exception and its message."""
    lines = error.strip().splitlines()
    return lines[-1][:200] if lines else ""


def traceback_block(text: str) -> SafeString:
    if not text:
        return EMPTY
    return format_html('<pre class="tablecron-pre tablecron-traceback">{}</pre>', text)


def upcoming_list(times: Iterable[datetime], zone: str | None = None) -> SafeString:
    """The upcoming fire times, each with "in 5 minutes" and, when the job's time zone is not
    the one the admin shows, the wall time in the job's zone."""
    now = timezone.now()
    items = []
    for moment in times:
        local = ""
        if zone and zone != timezone.get_current_timezone_name():
            local = format_html(
                '<span class="tablecron-quiet">({} {})</span>',
                f"{moment.astimezone(ZoneInfo(zone)):%Y-%m-%d %H:%M}",
                zone,
            )
        items.append((moment.isoformat(), format_time(moment), relative(moment, now), local))
    if not items:
        return EMPTY
    return format_html(
        '<ol class="tablecron-upcoming-list">{}</ol>',
        format_html_join(
            "",
            '<li><time datetime="{}">{}</time> <span class="tablecron-quiet">{}</span> {}</li>',
            items,
        ),
    )


def breadcrumbs(model_admin: ModelAdmin[Any], *trail: tuple[str, str | None]) -> dict[str, Any]:
    """The context of ``includes/breadcrumbs.html``: Home, the app, then ``trail``, each
    crumb a label and its link (None for the page itself), in this Django's markup."""
    site, opts = model_admin.admin_site.name, model_admin.opts
    app_list = reverse("admin:app_list", kwargs={"app_label": opts.app_label}, current_app=site)
    crumbs = [
        (gettext("Home"), reverse("admin:index", current_app=site)),
        (str(opts.app_config.verbose_name), app_list),
        *trail,
    ]
    return {"breadcrumbs": crumbs, "breadcrumbs_as_list": BREADCRUMBS_AS_LIST}
