"""What the admin shows of jobs that follow jobs (``Job.after``): a job's chain (the job
it runs after, the jobs that run after it, each linked), and what a run's story says of
it (the run it followed, the runs it started or why it started none).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.text import get_text_list
from django.utils.translation import gettext

from tablecron.admin.display import EMPTY, run_badge, run_url
from tablecron.models import Job, JobRun, RunStatus, RunTrigger
from tablecron.models.run import ACTIVE


def job_url(job_id: int, site: str) -> str:
    return reverse(f"{site}:tablecron_job_change", args=[job_id])


def _quoted(names: list[str]) -> str:
    return get_text_list([gettext("“%(name)s”") % {"name": name} for name in names], gettext("and"))


def chain_html(job: Job, site: str) -> SafeString:
    """The job it runs after and the jobs that run after it, linked; a dash if none."""
    rows = []
    if job.after_id is not None:
        upstream = Job.objects.filter(pk=job.after_id).values_list("pk", "name")
        rows += [(gettext("Runs after"), _links(upstream, site))]
    if job.pk is not None:
        followers = list(job.followers.order_by("name").values_list("pk", "name"))
        if followers:
            rows += [(gettext("Run after it"), _links(followers, site))]
    if not rows:
        return EMPTY
    return format_html(
        '<dl class="tablecron-related">{}</dl>',
        format_html_join("", "<dt>{}</dt><dd>{}</dd>", rows),
    )


def _links(jobs: Iterable[tuple[int, str]], site: str) -> SafeString:
    return format_html_join(
        ", ", '<a href="{}">{}</a>', ((job_url(pk, site), name) for pk, name in jobs)
    )


def trigger_text(run: JobRun) -> str:
    """How a run after another job came to be: which job's success started it."""
    runs = JobRun.objects.filter(pk=run.upstream_run_id) if run.upstream_run_id else None
    upstream = runs.values_list("job_name").first() if runs is not None else None
    if upstream is None:  # pruned
        return gettext("after a success of the job it runs after")
    return gettext("after a success of “%(name)s”") % {"name": upstream[0]}


def ended_step(run: JobRun) -> tuple[str, datetime, str] | None:
    """What a run's end did to the jobs that run after its job: (name, moment, details)
    of a step of its story, or None if its job has no followers."""
    if run.finished_at is None or run.status in ACTIVE or run.job_id is None:
        return None
    if run.status == RunStatus.SUCCEEDED:
        names = list(run.follower_runs.order_by("job_name").values_list("job_name", flat=True))
        if not names:
            return None
        return (gettext("Triggered"), run.finished_at, _quoted(names))
    followers = Job.objects.filter(after_id=run.job_id).order_by("name")
    names = list(followers.values_list("name", flat=True))
    if not names:
        return None
    details = gettext("did not trigger %(names)s: it runs after success only")
    return (gettext("Ran nothing after it"), run.finished_at, details % {"names": _quoted(names)})


def related_rows(run: JobRun, site: str) -> list[tuple[str, SafeString]]:
    """The run it followed, and the runs that followed it, for its related runs."""
    rows = []
    if run.trigger == RunTrigger.AFTER and run.upstream_run_id is not None:
        upstream = JobRun.objects.filter(pk=run.upstream_run_id).first()
        if upstream is not None:
            rows.append((gettext("Runs after"), _run_links([upstream], site)))
    followers = list(run.follower_runs.order_by("job_name"))
    if followers:
        rows.append((gettext("Run after it"), _run_links(followers, site)))
    return rows


def _run_links(runs: list[JobRun], site: str) -> SafeString:
    return format_html_join(
        ", ",
        '<a href="{}">{}</a> {}',
        ((run_url(r.pk, site), r.job_name, run_badge(r)) for r in runs),
    )
