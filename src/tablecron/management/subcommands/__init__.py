"""The subcommands of ``manage.py tablecron``: each parses its own arguments and calls
plain code (the scheduler, the models), as a command of its own would."""

from __future__ import annotations

from typing import Any, ClassVar

from django.core.management.base import BaseCommand, CommandParser


class Subcommand:
    """One ``manage.py tablecron NAME``: ``help``, its own ``add_arguments()`` if it takes
    any, and ``handle()``; listed in ``SUBCOMMANDS`` of the ``tablecron`` command."""

    help: ClassVar[str]  # one line, in the list of subcommands
    description: ClassVar[str] = ""  # more, in the subcommand's own --help

    def __init__(self, command: BaseCommand) -> None:
        # Made in the command's handle(), once call_command() has set its streams.
        self.stdout = command.stdout
        self.stderr = command.stderr
        self.style = command.style

    @classmethod
    def add_arguments(cls, parser: CommandParser) -> None:
        """Declare this subcommand's arguments; most take none."""

    def handle(self, *args: Any, **options: Any) -> None:  # as BaseCommand.handle()
        raise NotImplementedError
