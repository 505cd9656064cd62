"""``manage.py tablecron SUBCOMMAND``: all of tablecron's commands under one name, which
no other app's command shadows (Django keeps the first installed app's command of a
name)."""

from __future__ import annotations

import argparse
from typing import Any

from django.core.management.base import BaseCommand, CommandParser, DjangoHelpFormatter

from tablecron.management.subcommands import Subcommand
from tablecron.management.subcommands.cancel import Cancel
from tablecron.management.subcommands.import_jobs import ImportJobs
from tablecron.management.subcommands.list import ListJobs
from tablecron.management.subcommands.logs import Logs
from tablecron.management.subcommands.prune import Prune
from tablecron.management.subcommands.run import RunJob
from tablecron.management.subcommands.scheduler import RunScheduler
from tablecron.management.subcommands.status import Status
from tablecron.management.subcommands.sync import SyncJobs

# A new subcommand is a Subcommand subclass in tablecron.management.subcommands and a
# line here.
SUBCOMMANDS: dict[str, type[Subcommand]] = {
    "scheduler": RunScheduler,
    "list": ListJobs,
    "run": RunJob,
    "status": Status,
    "sync": SyncJobs,
    "import": ImportJobs,
    "prune": Prune,
    "logs": Logs,
    "cancel": Cancel,
}


class Command(BaseCommand):
    help = (
        "tablecron: run the scheduler, list the jobs, run one now, check the schedulers, "
        "sync the jobs declared in code, import jobs from another scheduler, prune old "
        "runs, print a run's output, or stop a run."
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._base_arguments: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
        super().__init__(*args, **kwargs)

    def add_base_argument(self, parser: CommandParser, *args: Any, **kwargs: Any) -> None:
        super().add_base_argument(parser, *args, **kwargs)
        if kwargs.get("action") != "version":
            self._base_arguments.append((args, kwargs))

    def add_arguments(self, parser: CommandParser) -> None:
        base_arguments, self._base_arguments = self._base_arguments, []  # one parser's worth
        if self.requires_system_checks:  # Django adds this one with parser.add_argument()
            skip_checks = {"action": "store_true", "help": "Skip system checks."}
            base_arguments.append((("--skip-checks",), skip_checks))
        subparsers = parser.add_subparsers(
            dest="subcommand", required=True, title="subcommands", metavar="SUBCOMMAND"
        )
        for name, subcommand in SUBCOMMANDS.items():
            subparser = subparsers.add_parser(
                name,
                help=subcommand.help,
                description=subcommand.description or subcommand.help,
                formatter_class=DjangoHelpFormatter,
            )
            subcommand.add_arguments(subparser)
            # Django's own options (-v 2, --traceback ...) work after the subcommand too;
            # suppressed defaults keep those given before it.
            for args, kwargs in base_arguments:
                subparser.add_argument(*args, **{**kwargs, "default": argparse.SUPPRESS})

    def handle(self, *args: Any, subcommand: str, **options: Any) -> None:
        SUBCOMMANDS[subcommand](self).handle(**options)
