"""Create (or reset) the demo's sample jobs: one of each kind of schedule."""

from datetime import timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils import timezone

from tablecron.models import Job

# A job has at most one kind of schedule; each sample sets all three so that re-seeding
# a job someone switched to another kind in the admin stays valid.
NO_SCHEDULE: dict[str, Any] = {"cron": "", "interval": None, "run_at": None}


def demo_jobs(base_url: str) -> dict[str, dict[str, Any]]:
    """The sample jobs by name, as the field values ``Job.objects`` takes."""
    return {
        "hourly-report": {
            "description": "Write the jobs report at the top of every hour.",
            "task": "demo.tablecron_jobs.write_report",
            "kwargs": {"title": "Hourly report"},
            "cron": "0 * * * *",
        },
        "heartbeat-ping": {
            "description": "Check every 30 seconds that this site answers.",
            "task": "demo.tablecron_jobs.ping",
            "kwargs": {"url": f"{base_url}/health/", "timeout": 5.0},
            "interval": timedelta(seconds=30),
            "timeout": timedelta(seconds=10),
        },
        "weekly-cleanup": {
            "description": "Delete runs older than two weeks, Mondays at 03:00 Shanghai time.",
            "task": "demo.tablecron_jobs.clean_old_runs",
            "kwargs": {"days": 14},
            "cron": "0 3 * * 1",
            "timezone": "Asia/Shanghai",
        },
        "every-10-seconds-report": {
            "description": "Write a report every 10 seconds (a cron expression with seconds).",
            "task": "demo.tablecron_jobs.write_report",
            "kwargs": {"title": "Every 10 seconds"},
            "cron": "*/10 * * * * *",
        },
        "one-off-report": {
            "description": "Write a report once, an hour after the demo was seeded.",
            "task": "demo.tablecron_jobs.write_report",
            "kwargs": {"title": "One-off report"},
            "run_at": timezone.now() + timedelta(hours=1),
        },
        "manual-cleanup": {
            "description": "Manual only: no schedule. Run it with the admin's “Run selected "
            "jobs now” action.",
            "task": "demo.tablecron_jobs.clean_old_runs",
            "kwargs": {"days": 7},
        },
    }


def next_run_text(job: Job) -> str:
    if job.next_run_at is not None:
        return job.next_run_at.isoformat()
    if not job.enabled:
        return "none (paused)"
    return "none (manual only)" if job.get_schedule() is None else "none (finished)"


class Command(BaseCommand):
    help = (
        "Create the demo's sample jobs, or reset their task, arguments and schedule. "
        "Safe to run again; other jobs are left alone."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--base-url",
            default="http://127.0.0.1:8000",
            help="Where this site is served, for the heartbeat-ping job (default: %(default)s).",
        )

    def handle(self, *args: Any, base_url: str, **options: Any) -> None:
        jobs = {
            name: {**NO_SCHEDULE, **fields}
            for name, fields in demo_jobs(base_url.rstrip("/")).items()
        }
        # Validate every job like a form would (field errors, not database errors) before
        # writing any; "name" is the lookup below, so its uniqueness is not in question.
        for name, fields in jobs.items():
            try:
                Job(name=name, **fields).full_clean(validate_unique=False)
            except ValidationError as exc:
                raise CommandError(f"The demo job {name!r} is invalid: {exc.message_dict}") from exc
        with transaction.atomic():
            for name, fields in jobs.items():
                job, created = Job.objects.update_or_create(name=name, defaults=fields)
                self.stdout.write(
                    f"{'created' if created else 'updated'} {name:<24} "
                    f"next run: {next_run_text(job)}"
                )
        self.stdout.write(self.style.SUCCESS(f"{len(jobs)} demo jobs ready."))
