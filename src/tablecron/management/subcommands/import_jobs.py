from typing import Any

from django.core.management.base import CommandError, CommandParser

from tablecron.exceptions import ImportSourceError
from tablecron.imports import create, sources
from tablecron.management.subcommands import Subcommand


class ImportJobs(Subcommand):
    help = "Import jobs from django-celery-beat, django-apscheduler or a table of APScheduler jobs."
    description = (
        "Makes one job per row of the source that tablecron can express, and refuses the "
        "rest with a reason per row (solar schedules, tasks not registered here, names "
        "taken ...). Rows already imported are refused as taken, so running it again "
        "imports only what is new. Exits 1 if any row was refused."
    )

    @classmethod
    def add_arguments(cls, parser: CommandParser) -> None:
        parser.add_argument("source", metavar="SOURCE", help=f"What to import: {sources.HELP}.")
        parser.add_argument(
            "--dry-run", action="store_true", help="Print what would be made; write nothing."
        )
        parser.add_argument(
            "--task",
            action="append",
            default=[],
            metavar="OLD=NEW",
            help="Import the other scheduler's task OLD as tablecron's task NEW (repeatable).",
        )

    def handle(self, *, source: str, dry_run: bool, task: list[str], **options: Any) -> None:
        renames = dict(_rename(item) for item in task)
        try:
            outcomes = create(sources.read(source), dry_run=dry_run, renames=renames)
        except ImportSourceError as exc:
            raise CommandError(str(exc)) from None
        for outcome in outcomes:
            verb = ("would create" if dry_run else "created") if outcome.created else "refused"
            stream = self.stdout if outcome.created else self.stderr
            stream.write(f"{verb:<12}  {outcome.name or '-'}  ({outcome.source}): {outcome.detail}")
            for note in outcome.notes:
                stream.write(f"{'':<14}note: {note}")
        made = sum(outcome.created for outcome in outcomes)
        refused = len(outcomes) - made
        self.stdout.write(
            f"{len(outcomes)} row(s): {made} {'would be ' if dry_run else ''}created, "
            f"{refused} refused."
        )
        if refused:
            raise CommandError(f"{refused} row(s) were not imported (see above).", returncode=1)


def _rename(item: str) -> tuple[str, str]:
    old, sep, new = item.partition("=")
    if not (sep and old and new):
        raise CommandError(f"--task takes OLD=NEW, not {item!r}.")
    return old, new
