from typing import Any

from tablecron.management.subcommands import Subcommand
from tablecron.models import Job


def _schedule(job: Job) -> str:
    if job.cron:
        return f"cron {job.cron} ({job.timezone})"
    if job.interval:
        return f"every {job.interval}"
    if job.run_at:
        return f"once at {job.run_at:%Y-%m-%d %H:%M:%S %Z}"
    return "manual only"


class ListJobs(Subcommand):
    help = "List the jobs with their schedule, next run and last status."

    def handle(self, **options: Any) -> None:
        rows = [("NAME", "TASK", "SCHEDULE", "NEXT RUN", "LAST STATUS")]
        for job in Job.objects.order_by("name"):
            next_run = (
                f"{job.next_run_at:%Y-%m-%d %H:%M:%S %Z}"
                if job.next_run_at
                else ("paused" if not job.enabled else "-")
            )
            rows.append((job.name, job.task, _schedule(job), next_run, job.last_status or "-"))
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        for row in rows:
            self.stdout.write("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))
