from typing import Any

from django.core.management.base import CommandParser

from tablecron.conf import settings
from tablecron.db import db_now
from tablecron.management.subcommands import Subcommand
from tablecron.retention import Pruned, Pruner


class Prune(Subcommand):
    help = "Delete the finished runs that the retention settings no longer keep."
    description = (
        "Delete, now, the finished runs older than RUN_RETENTION (failed ones: "
        "FAILED_RUN_RETENTION) and those beyond the last RUNS_PER_JOB of each job, as "
        "every scheduler does every few seconds. Waiting and running runs stay."
    )

    @classmethod
    def add_arguments(cls, parser: CommandParser) -> None:
        parser.add_argument(
            "--dry-run", action="store_true", help="Count what would be deleted; delete nothing."
        )

    def handle(self, *, dry_run: bool, **options: Any) -> None:
        pruner, now = Pruner(), db_now()
        pruned = pruner.count(now) if dry_run else pruner.prune(now)
        verb = "would delete" if dry_run else "deleted"
        self.stdout.write(self._by_age(pruned, verb))
        if settings.RUNS_PER_JOB is not None:
            self.stdout.write(
                f"By count: {verb} {pruned.by_count} runs beyond the last "
                f"{settings.RUNS_PER_JOB} of {pruned.jobs_over_count} jobs."
            )
        if dry_run:
            self.stdout.write("Dry run: nothing was deleted.")
        else:
            self.stdout.write(self.style.SUCCESS(f"{pruned.total} runs deleted."))

    @staticmethod
    def _by_age(pruned: Pruned, verb: str) -> str:
        statuses = ", ".join(f"{n} {status}" for status, n in pruned.by_age.items() if n)
        return (
            f"By age (kept {settings.RUN_RETENTION}, failed {settings.FAILED_RUN_RETENTION}): "
            f"{verb} {sum(pruned.by_age.values())} runs" + (f" ({statuses})." if statuses else ".")
        )
