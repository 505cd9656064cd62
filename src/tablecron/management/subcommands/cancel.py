from typing import Any

from django.core.management.base import CommandError, CommandParser

from tablecron.management.subcommands import Subcommand
from tablecron.management.subcommands.logs import unknown_run
from tablecron.models import JobRun, RunStatus
from tablecron.models.run import ACTIVE


class Cancel(Subcommand):
    help = "Stop a run; exits 1 if it had ended already (nothing changes), 2 for an unknown run."
    description = (
        "Stop a run: one that has not started never starts, and ends cancelled at once; a "
        "running one is stopped by the process that runs it within about a second. Exits 0 "
        "when it was cancelled or asked to stop, 1 when it had ended already or was being "
        "cancelled (nothing changes), 2 for an unknown run. Recorded in the audit trail."
    )

    @classmethod
    def add_arguments(cls, parser: CommandParser) -> None:
        parser.add_argument("run_id", metavar="RUN_ID", type=int, help="The run's id.")
        parser.add_argument(
            "--by",
            default="",
            metavar="NAME",
            help="Who asks: the run's error says 'Cancelled by NAME.'",
        )

    def handle(self, *, run_id: int, by: str, **options: Any) -> None:
        run = JobRun.objects.filter(pk=run_id).first()
        if run is None:
            raise unknown_run(run_id)
        if not run.cancel(by=by):
            raise CommandError(_not_cancelled(run), returncode=1)
        if run.status == RunStatus.CANCELLED:
            self.stdout.write(f"Run {run_id} ({run.job_name}) had not started: cancelled.")
        else:
            self.stdout.write(
                f"Run {run_id} ({run.job_name}) is {run.status}: asked to stop; the process "
                "that runs it stops it within about a second."
            )


def _not_cancelled(run: JobRun) -> str:
    if run.status in ACTIVE:
        return (
            f"Run {run.pk} is being cancelled already (asked by "
            f"{run.cancel_requested_by or '-'} at {run.cancel_requested_at:%Y-%m-%d %H:%M:%S %Z}): "
            "nothing changed."
        )
    return f"Run {run.pk} had ended already ({run.status}): nothing changed."
