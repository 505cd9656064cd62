"""What a run's page and its job's page tell about runs: a run's story, step by step with
the time each step took; the runs it is related to (the other attempts of its fire, the
run it repeats and its reruns); and a job's recent durations.

A job's p50 and p95 are computed in Python over one bounded query (the durations of its
last ``DURATION_RUNS`` runs that started and ended), the same on every database.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext, ngettext

from tablecron.admin import chains
from tablecron.admin.display import EMPTY, duration_text, pretty_json, run_badge, run_url
from tablecron.describe import format_time
from tablecron.models import Job, JobRun, RunStatus, RunTrigger
from tablecron.models.run import ACTIVE

# The runs a job's p50 and p95 are taken over: its newest that started and ended.
DURATION_RUNS = 100
# The runs "Run again" offers to repeat: those that did not do their work. A succeeded
# run did, and a cancelled one ended as someone wished: "Run now" runs their job again.
RERUNNABLE = (RunStatus.FAILED, RunStatus.TIMED_OUT, RunStatus.LOST, RunStatus.MISSED)


@dataclass(frozen=True)
class Step:
    """One step of a run's story: what happened, when, and who or what did it."""

    name: str
    moment: datetime
    details: str = ""
    badge: SafeString | None = None


def steps(run: JobRun) -> list[Step]:
    """The steps a run has taken so far, in the order they happen (not sorted by time:
    a worker's clock may differ a little from the scheduler's)."""
    story = [Step(gettext("Scheduled for"), run.scheduled_for, _trigger_text(run))]
    if run.not_before is not None and run.not_before > run.scheduled_for:
        story.append(
            Step(gettext("Not before"), run.not_before, gettext("a delay (jitter or retry)"))
        )
    if run.queued_at is not None:
        story.append(Step(gettext("Claimed and queued"), run.queued_at, _claim_text(run)))
    if run.started_at is not None:
        worker = gettext("by worker %(worker)s") % {"worker": run.worker} if run.worker else ""
        story.append(Step(gettext("Started"), run.started_at, worker))
    if run.cancel_requested_at is not None:
        who = run.cancel_requested_by or gettext("someone")
        story.append(
            Step(
                gettext("Asked to stop"),
                run.cancel_requested_at,
                gettext("by %(who)s") % {"who": who},
            )
        )
    if run.finished_at is not None:
        story.append(Step(gettext("Ended"), run.finished_at, badge=run_badge(run)))
    if (followed := chains.ended_step(run)) is not None:
        story.append(Step(*followed))
    return story


def _trigger_text(run: JobRun) -> str:
    if run.trigger == RunTrigger.RETRY:
        return gettext("a retry: attempt %(attempt)d") % {"attempt": run.attempt}
    if run.trigger == RunTrigger.MANUAL:
        return gettext("started by hand")
    if run.trigger == RunTrigger.AFTER:
        return chains.trigger_text(run)
    return gettext("by its schedule")


def _claim_text(run: JobRun) -> str:
    parts = []
    if run.claimed_by:
        parts.append(gettext("by scheduler %(scheduler)s") % {"scheduler": run.claimed_by})
    if run.executor:
        parts.append(gettext("executor %(executor)s") % {"executor": run.executor})
    if run.queue:
        parts.append(gettext("queue %(queue)s") % {"queue": run.queue})
    return ", ".join(parts)


def story_html(run: JobRun, now: datetime) -> SafeString:
    """The steps as a list, each with the time since the step before; while the run is
    active, what it is waiting for and for how long so far."""
    story = steps(run)
    items = []
    previous: datetime | None = None
    for step in story:
        took = duration_text(step.moment - previous) if previous is not None else ""
        items.append(
            format_html(
                '<li><span class="tablecron-step-took">{}</span>'
                '<strong>{}</strong> <time datetime="{}">{}</time> {}'
                '<span class="tablecron-quiet tablecron-step-details">{}</span></li>',
                f"+{took}" if took else "",
                step.name,
                step.moment.isoformat(),
                format_time(step.moment),
                step.badge or "",
                step.details,
            )
        )
        previous = step.moment
    if run.status in ACTIVE:
        items.append(
            format_html(
                '<li class="tablecron-step-now"><span class="tablecron-step-took">+{}</span>'
                "<strong>{}</strong></li>",
                duration_text(now - story[-1].moment),
                _waiting_for(run),
            )
        )
    return format_html(
        '<ol class="tablecron-story">{}</ol>',
        format_html_join("", "{}", ((item,) for item in items)),
    )


def _waiting_for(run: JobRun) -> str:
    if run.status == RunStatus.RUNNING:
        if run.cancel_requested_at is not None:
            return gettext("Stopping, so far")
        return gettext("Running, so far")
    if run.queued_at is not None:
        return gettext("Waiting for a worker, so far")
    return gettext("Waiting for a scheduler, so far")


def arguments_html(run: JobRun, value: Any) -> SafeString:
    """What the run ran with; runs take their job's when claimed, and runs recorded
    before runs kept their arguments have none."""
    if value is not None:
        return pretty_json(value)
    if run.status == RunStatus.SCHEDULED and run.queued_at is None:
        said = gettext("its job's, when a scheduler claims it")
    else:
        said = gettext("not recorded (it ran before runs kept their arguments)")
    return format_html('<span class="tablecron-quiet">{}</span>', said)


# -- related runs ------------------------------------------------------------------


def attempts(run: JobRun) -> list[JobRun]:
    """The other attempts of the same fire (same job, same scheduled time), first first."""
    if run.job_id is None:
        return []
    return list(
        JobRun.objects.filter(job_id=run.job_id, scheduled_for=run.scheduled_for)
        .exclude(pk=run.pk)
        .only("id", "attempt", "status", "queued_at", "scheduled_for")
        .order_by("attempt")
    )


def run_links(runs: Sequence[JobRun], label: str, site: str) -> SafeString:
    """Each run a link named by ``label`` (with its attempt and time), with its badge."""
    return format_html_join(
        ", ",
        '<a href="{}">{}</a> {}',
        (
            (
                run_url(run.pk, site),
                label % {"attempt": run.attempt, "time": format_time(run.scheduled_for)},
                run_badge(run),
            )
            for run in runs
        ),
    )


def related_html(run: JobRun, site: str) -> SafeString:
    """The other attempts of its fire, the run it repeats, and its reruns."""
    rows = []
    others = attempts(run)
    if others:
        rows.append(
            (gettext("Other attempts"), run_links(others, gettext("attempt %(attempt)d"), site))
        )
    if run.rerun_of_id is not None:
        original = JobRun.objects.filter(pk=run.rerun_of_id).first()
        if original is not None:
            rows.append(
                (gettext("Runs again"), run_links([original], gettext("the run of %(time)s"), site))
            )
    reruns = list(run.reruns.order_by("scheduled_for", "attempt"))
    if reruns:
        rows.append(
            (gettext("Run again as"), run_links(reruns, gettext("the run of %(time)s"), site))
        )
    rows += chains.related_rows(run, site)
    if not rows:
        return EMPTY
    return format_html(
        '<dl class="tablecron-related">{}</dl>',
        format_html_join("", "<dt>{}</dt><dd>{}</dd>", rows),
    )


# -- a job's recent durations ------------------------------------------------------


def percentile(values: Sequence[float], share: float) -> float:
    """The nearest-rank percentile of sorted ``values`` (``share`` 0.5 for the median)."""
    return values[max(0, math.ceil(share * len(values)) - 1)]


def recent_durations(job: Job) -> tuple[int, timedelta, timedelta] | None:
    """How many of the job's latest runs that started and ended were measured, their p50
    and their p95; None before any."""
    times = (
        job.runs.filter(started_at__isnull=False, finished_at__isnull=False)
        .order_by("-scheduled_for", "-attempt")
        .values_list("started_at", "finished_at")[:DURATION_RUNS]
    )
    seconds = sorted(
        (finished - started).total_seconds()
        for started, finished in times
        if started is not None and finished is not None  # as filtered: for the types
    )
    if not seconds:
        return None
    return (
        len(seconds),
        timedelta(seconds=percentile(seconds, 0.5)),
        timedelta(seconds=percentile(seconds, 0.95)),
    )


def durations_html(job: Job) -> SafeString:
    found = recent_durations(job)
    if found is None:
        return EMPTY
    count, p50, p95 = found
    over = ngettext("over its last run", "over its last %(count)d runs", count) % {"count": count}
    return format_html(
        'p50 <strong>{}</strong> · p95 <strong>{}</strong> <span class="tablecron-quiet">{}</span>',
        duration_text(p50),
        duration_text(p95),
        over,
    )
