"""Jobs that follow jobs (``Job.after``): the rules of a chain, as ``Job.clean()`` applies
them. A job has a time schedule or an upstream job, not both, and no job follows itself,
however far round.

Kept apart from ``models/job.py``; it reads rows through the job it is given, so it
imports no model (``job.py`` imports it).
"""

from __future__ import annotations

from typing import Any

from django.db import router
from django.utils.translation import gettext, gettext_lazy

# The rule between ``after`` and the time schedule: the database's constraint
# (``job_rules``) and ``after_errors()`` say it in these words.
ONE_KIND = gettext_lazy(
    "Choose one kind of schedule: a cron expression, an interval, a single run time, or a "
    "job to run after."
)

# How far up a chain the cycle check reads. A longer chain is refused as if it were a
# cycle: each link costs a query on every validation.
MAX_DEPTH = 100


def after_errors(job: Any) -> dict[str, list[str]]:
    """The field errors of ``job.after``: empty if it follows nothing, or may follow it."""
    if job.after_id is None:
        return {}
    if job.cron or job.interval is not None or job.run_at is not None:
        return {
            "after": [
                f"{ONE_KIND} "
                + gettext(
                    "Clear the time schedule to run this job after another, or clear “run after”."
                )
            ]
        }
    path = _upstream_path(job)
    if path is None:
        return {}
    names = " → ".join([job.name, *path])
    return {
        "after": [
            gettext(
                "“%(name)s” cannot run after “%(upstream)s”: the chain would go round in a "
                "circle (%(path)s). Choose a job that does not follow this one."
            )
            % {"name": job.name, "upstream": path[0], "path": names}
        ]
    }


def _upstream_path(job: Any) -> list[str] | None:
    """The names up the chain from ``job`` back to ``job`` itself if it closes a circle
    (or is longer than ``MAX_DEPTH``), else None."""
    model = type(job)
    jobs = model._default_manager.using(job._state.db or router.db_for_read(model))
    names: list[str] = []
    upstream_id = job.after_id
    seen: set[Any] = set()
    while upstream_id is not None:
        if (job.pk is not None and upstream_id == job.pk) or upstream_id in seen:
            return [*names, job.name] if names else [job.name]
        if len(names) >= MAX_DEPTH:
            return names
        seen.add(upstream_id)
        row = jobs.filter(pk=upstream_id).values_list("name", "after_id").first()
        if row is None:
            return None  # validate_constraints() reports the missing job
        names.append(row[0])
        upstream_id = row[1]
    return None
