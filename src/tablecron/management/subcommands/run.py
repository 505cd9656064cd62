import json
from typing import Any

from django.core.management.base import CommandError, CommandParser

from tablecron.executors.immediate import ImmediateExecutor
from tablecron.management.subcommands import Subcommand
from tablecron.models import Job, RunStatus
from tablecron.scheduler import Scheduler


class RunJob(Subcommand):
    help = "Run one job now, in this process, and print its result; exits 1 if it fails."

    @classmethod
    def add_arguments(cls, parser: CommandParser) -> None:
        parser.add_argument("name", metavar="NAME", help="The job's name.")

    def handle(self, *, name: str, **options: Any) -> None:
        try:
            job = Job.objects.get(name=name)
        except Job.DoesNotExist:
            raise CommandError(f"No job is named {name!r}.") from None
        run = Scheduler(ImmediateExecutor()).execute_now(job)
        if run.status == RunStatus.SUCCEEDED:
            self.stdout.write(json.dumps(run.result, indent=2))
            return
        self.stderr.write(run.error)
        raise CommandError(f"The run of {name!r} ended {run.status}.", returncode=1)
