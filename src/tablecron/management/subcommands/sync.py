from typing import Any

from django.core.management.base import CommandError, CommandParser

from tablecron.management.subcommands import Subcommand
from tablecron.sync import Action, sync

NOT_WRITTEN = (Action.INVALID, Action.SKIP)


class SyncJobs(Subcommand):
    help = "Write the jobs declared in code into the table; run it on every deploy."
    description = (
        "Makes the missing rows of the jobs declared in code (tablecron.declare, "
        "@tablecron.register(schedule=...)), updates the fields code owns on the rows it "
        "declared, and disables the rows whose declaration is gone. A row of the same name "
        "that was made in the table is left alone. Safe to run from many processes at once. "
        "Exits 1 if a declaration is invalid or clashes with a row made in the table."
    )

    @classmethod
    def add_arguments(cls, parser: CommandParser) -> None:
        parser.add_argument(
            "--dry-run", action="store_true", help="Print what would change; write nothing."
        )

    def handle(self, *, dry_run: bool, **options: Any) -> None:
        changes = sync(dry_run=dry_run)
        for change in changes:
            line = f"{change.action:<9}  {change.name}"
            if change.detail:
                line += f": {change.detail}"
            (self.stderr if change.action in NOT_WRITTEN else self.stdout).write(line)
        written = [c for c in changes if c.action not in {Action.UNCHANGED, *NOT_WRITTEN}]
        verb = "would change" if dry_run else "changed"
        self.stdout.write(
            f"{len(changes)} job(s) declared or removed in code; {verb} {len(written)}."
        )
        if any(change.action in NOT_WRITTEN for change in changes):
            raise CommandError("Some declared jobs were not written (see above).", returncode=1)
