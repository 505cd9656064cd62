import time
from typing import Any

from django.core.management.base import CommandError, CommandParser

from tablecron.db import close_old_connections
from tablecron.management.subcommands import Subcommand
from tablecron.models import JobRun, RunOutput
from tablecron.models.run import ACTIVE

FOLLOW_POLL = 0.5  # seconds between two reads while following


def unknown_run(run_id: int) -> CommandError:
    return CommandError(f"No run has the id {run_id}.", returncode=2)


class Logs(Subcommand):
    help = "Print what a run printed and logged; --follow prints it as it comes, until it ends."
    description = (
        "Print a run's output: each line with its time and its stream (stdout, stderr) or "
        "logging level. With --follow, print more as the run writes it (about once a "
        "second) until it ends. The run's status goes to stderr at the end, so stdout holds "
        "the output alone. Exits 0, whatever the run's status; 2 for an unknown run."
    )

    @classmethod
    def add_arguments(cls, parser: CommandParser) -> None:
        parser.add_argument("run_id", metavar="RUN_ID", type=int, help="The run's id.")
        parser.add_argument(
            "--follow", "-f", action="store_true", help="Keep printing until the run ends."
        )

    def handle(self, *, run_id: int, follow: bool, **options: Any) -> None:
        offset = 0
        try:
            while True:
                # The status first: a run that has ended wrote the rest of its output
                # in the same commit, so the read after it has it all.
                status = self._status(run_id)
                piece = RunOutput.objects.read(run_id, offset)
                self.stdout.write(piece.text, ending="")
                self.stdout.flush()
                offset = piece.next_offset
                if not follow or status not in ACTIVE:
                    break
                time.sleep(FOLLOW_POLL)
                close_old_connections()
        except KeyboardInterrupt:
            raise CommandError("Stopped following.", returncode=130) from None
        self._say(run_id, status)

    def _status(self, run_id: int) -> str:
        status = JobRun.objects.filter(pk=run_id).values_list("status", flat=True).first()
        if status is None:
            raise unknown_run(run_id)
        return status

    def _say(self, run_id: int, status: str) -> None:
        if status in ACTIVE:
            self.stderr.write(f"Run {run_id} has not ended ({status}); --follow waits for it.")
        else:
            self.stderr.write(f"Run {run_id} has ended: {status}.")
