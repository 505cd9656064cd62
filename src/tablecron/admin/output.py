"""A run's output in the admin: whole on the run's page, followed while the run runs
(``run_output.js`` polls ``output_json()`` about once a second), and the tail of a job's
last run on the job's page.

Output can hold secrets, so it is shown only to users with ``tablecron.view_output``;
others see a line saying they may not read it, and the JSON endpoint answers them 403.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext

from tablecron.admin.display import (
    EMPTY,
    pretty_json,
    run_badge,
    run_url,
    status_label,
    traceback_block,
)
from tablecron.admin.story import story_html
from tablecron.describe import format_time
from tablecron.models import Job, JobRun, RunOutput
from tablecron.models.run import ACTIVE

VIEW_OUTPUT = "tablecron.view_output"
# Lines of a job's last run shown on the job's page.
TAIL_LINES = 40


def may_read_output(request: HttpRequest) -> bool:
    return request.user.has_perm(VIEW_OUTPUT)


def denied() -> SafeString:
    return format_html(
        '<p class="tablecron-quiet tablecron-output-denied">{}</p>',
        gettext("You may not read the output of runs (it needs the “view output” permission)."),
    )


def output_block(run: JobRun, url: str) -> SafeString:
    """The output so far in a ``<pre>``; while the run is active, the script follows it
    from ``data-offset`` through ``data-url``."""
    read = RunOutput.objects.read(run.pk)
    active = run.status in ACTIVE
    if active:
        state = gettext("Following the output as the run writes it…")
    elif not read.text:
        state = gettext("The run wrote no output.")
    else:
        state = ""
    return format_html(
        '<div class="tablecron-output" data-url="{}" data-offset="{}" data-active="{}" '
        'data-ended="{}" data-lost="{}">'
        '<pre class="tablecron-pre tablecron-output-text">{}</pre>'
        '<p class="tablecron-quiet tablecron-output-state" aria-live="polite">{}</p></div>',
        url,
        read.next_offset,
        "true" if active else "false",
        gettext("The run has ended: %(status)s."),
        gettext("The output cannot be read just now; trying again…"),
        read.text,
        state,
    )


def output_json(run: JobRun, offset: int) -> dict[str, Any]:
    """What the follower asks for: the output from ``offset`` on, where to read next, the
    run's status (in words too) and whether it has ended; once it has, ``fields``: the
    HTML of the page's fields that its end changed (status, story, result, error), by
    name, to replace theirs."""
    read = RunOutput.objects.read(run.pk, offset)
    finished = run.status not in ACTIVE
    fields = {}
    if finished:
        fields = {
            "status_column": run_badge(run),
            "story_column": story_html(run, timezone.now()),
            "result_pretty": pretty_json(run.result),
            "error_traceback": traceback_block(run.error) if run.error else EMPTY,
        }
    return {
        "text": read.text,
        "next_offset": read.next_offset,
        "status": run.status,
        "status_label": status_label(run.status),
        "finished": finished,
        "fields": {name: str(html) for name, html in fields.items()},
    }


def last_run_started(job: Job) -> JobRun | None:
    """The job's newest run that started: the one with output to show."""
    return job.runs.filter(started_at__isnull=False).order_by("-scheduled_for", "-attempt").first()


def tail_html(job: Job, site: str) -> SafeString:
    """The last ``TAIL_LINES`` lines of the job's last run's output, and a link to it."""
    run = last_run_started(job)
    if run is None:
        return format_html('<p class="tablecron-quiet">{}</p>', gettext("No run has started yet."))
    lines = run.output.splitlines()
    link = format_html(
        '<a href="{}">{}</a> <span class="tablecron-quiet">({})</span>',
        run_url(run.pk, site),
        gettext("The run of %(time)s") % {"time": format_time(run.scheduled_for)},
        status_label(run.status),
    )
    if not lines:
        return format_html("<p>{} {}</p>", link, gettext("wrote no output."))
    shown = lines[-TAIL_LINES:]
    heading = (
        gettext("its last %(count)d lines:") % {"count": len(shown)}
        if len(lines) > len(shown)
        else gettext("its output:")
    )
    return format_html(
        '<p>{} {}</p><pre class="tablecron-pre tablecron-output-text">{}</pre>',
        link,
        heading,
        "\n".join(shown),
    )
