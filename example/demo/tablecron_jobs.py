"""The demo's schedulable tasks. tablecron imports every installed app's
``tablecron_jobs.py``.

Each function is registered under its dotted path (``demo.tablecron_jobs.write_report``
...), the name a job row puts in its ``task`` field; the first paragraph of its docstring
is the task's description.
"""

import logging
import time
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import urlopen

from django.conf import settings
from django.db.models import F
from django.utils import timezone
from django.utils.text import slugify

import tablecron
from tablecron.execution import cancel_requested
from tablecron.models import Job, JobRun

logger = logging.getLogger(__name__)


def _when(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M:%S %Z}" if moment else "-"


@tablecron.register
def write_report(title: str = "Daily report") -> str:
    """Write a text report of the scheduled jobs and their next run times.

    The report goes to ``var/reports/<title>.txt`` beside the project, replacing the
    previous report of the same title. Returns the file's path.
    """
    now = timezone.now()
    soonest_first = (F("next_run_at").asc(nulls_last=True), "name")
    jobs = list(Job.objects.order_by(*soonest_first).values_list("name", "next_run_at"))
    scheduled = sum(next_run_at is not None for _name, next_run_at in jobs)
    lines = [
        title,
        f"Generated {_when(now)}",
        f"{len(jobs)} jobs, {scheduled} scheduled",
        "",
        f"{'job':<30} next run",
        *(f"{name:<30} {_when(next_run_at)}" for name, next_run_at in jobs),
    ]
    directory = Path(settings.BASE_DIR) / "var" / "reports"
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{slugify(title) or 'report'}.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


@tablecron.register
def clean_old_runs(days: int = 30) -> int:
    """Delete the job runs scheduled more than a number of days ago; returns how many."""
    if days < 0:
        raise ValueError(f"days must be zero or more, not {days}")
    cutoff = timezone.now() - timedelta(days=days)
    deleted, _by_model = JobRun.objects.filter(scheduled_for__lt=cutoff).delete()
    return deleted


# A job declared in code: "manage.py tablecron sync" (run by scripts/example) writes its
# row, and code owns its fields; the admin shows it as "in code" and read-only.
tablecron.declare(
    "nightly-cleanup",
    task="demo.tablecron_jobs.clean_old_runs",
    kwargs={"days": 60},
    cron="30 2 * * *",
    description="Delete runs older than 60 days, every night.",
)


@tablecron.register
def ping(url: str = "http://127.0.0.1:8000/health/", timeout: float = 5.0) -> int:
    """Fetch a URL and return its HTTP status code.

    A 4xx or 5xx answer, or no answer within ``timeout`` seconds, raises, so the run is
    recorded as failed. Only http and https URLs are fetched.
    """
    if urlsplit(url).scheme not in ("http", "https"):
        raise ValueError(f"only http and https URLs can be pinged, not {url!r}")
    with urlopen(url, timeout=timeout) as response:
        status: int = response.status
    return status


@tablecron.register
def count(up_to: int = 300, every: float = 0.2) -> int:
    """Print a numbered line every ``every`` seconds, up to ``up_to``; returns the last.

    Each line shows on the run's admin page as it is printed, and the run stops early,
    at the next line, when someone cancels it there.
    """
    logger.warning("Counting to %d, one every %s s.", up_to, every)
    for number in range(1, up_to + 1):
        if cancel_requested():
            print(f"Asked to stop at {number - 1}.")
            return number - 1
        print(f"{number} of {up_to}")
        time.sleep(every)
    return up_to
