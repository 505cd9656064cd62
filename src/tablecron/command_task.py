"""The built-in task ``tablecron.management_command``: the safe way to schedule Django
management commands.

``call_command`` itself is a gateway to code (``call_command("shell", command=...)``), so
it is never a task. This one runs only the commands that ``TABLECRON["MANAGEMENT_COMMANDS"]``
lists, never a shell, with arguments that the command's own parser accepts, and returns
what the command wrote to its output as the run's result. It is registered while the
setting lists a command. A job names it as ``task``, the command and its command-line
arguments as ``args`` (``["clearsessions"]``, ``["dumpdata", "auth", "--indent", "2"]``)
and ``call_command()``'s keyword options, if any, as ``kwargs``.

The arguments are checked when the row is validated (field errors on ``args`` and
``kwargs``), and again before each run: a row written by ``QuerySet.update()`` skipped
validation, and the setting may have changed since.
"""

import copy
import io
from collections.abc import Sequence
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management import call_command, get_commands, load_command_class
from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from tablecron.conf import settings

TASK_NAME = "tablecron.management_command"
# Commands that run whatever code or SQL their arguments name: never scheduled, whatever
# the setting says (the system check tablecron.E016 names them).
GATEWAY_COMMANDS = frozenset({"shell", "dbshell", "shell_plus"})
# Options that are not a job's to set: tablecron captures the output; the settings
# module and the import path are the scheduler's process's.
RESERVED_OPTIONS = ("stdout", "stderr", "settings", "pythonpath")


def management_command(command: str, *args: Any, **options: Any) -> str:
    """Run a management command listed in TABLECRON["MANAGEMENT_COMMANDS"].

    ``args`` are its command-line arguments, ``options`` its keyword options as
    ``call_command()`` takes them. Returns what the command wrote to its output.
    """
    check_arguments([command, *args], options)
    output = io.StringIO()
    call_command(command, *args, stdout=output, **options)
    return output.getvalue()


def check_arguments(args: Sequence[Any], kwargs: dict[str, Any]) -> None:
    """A ``ValidationError`` on ``args`` or ``kwargs`` unless the command is listed in
    ``MANAGEMENT_COMMANDS`` and its parser accepts the arguments. ``args`` and ``kwargs``
    are the job's, already bound to ``management_command``'s signature."""
    field = "args" if args else "kwargs"  # where the command is named
    command = args[0] if args else kwargs.get("command")
    options = {name: value for name, value in kwargs.items() if name != "command"}
    refusal = command_refusal(command)
    if refusal:
        raise ValidationError({field: refusal}, code="command")
    reserved = sorted(set(RESERVED_OPTIONS).intersection(options))
    if reserved:
        raise ValidationError(
            {
                "kwargs": _("The option %(options)s is not a job's to set.")
                % {"options": ", ".join(reserved)}
            },
            code="command",
        )
    try:
        parsed = _parse(str(command), list(args[1:]), options)
    except CommandError as exc:  # the parser's refusal: "Error: unrecognized arguments..."
        raise ValidationError(
            {
                field: _("The command %(command)s refuses these arguments: %(reason)s")
                % {"command": _quoted(command), "reason": str(exc).removeprefix("Error: ")}
            },
            code="command",
        ) from None
    except TypeError as exc:  # call_command(): "Unknown option(s) for ... command: ..."
        raise ValidationError({"kwargs": str(exc)}, code="command") from None
    reserved = sorted(name for name in RESERVED_OPTIONS if parsed.get(name))
    if reserved:
        raise ValidationError(
            {
                field: _("The option %(options)s is not a job's to set.")
                % {"options": ", ".join(f"--{name}" for name in reserved)}
            },
            code="command",
        )


def command_refusal(command: Any) -> str:
    """Why ``command`` may not be scheduled, or "" if it may."""
    allowed = settings.MANAGEMENT_COMMANDS
    if not isinstance(command, str) or command not in allowed:
        return _(
            "%(command)s is not a management command that may be scheduled. Choose one of: "
            '%(allowed)s (TABLECRON["MANAGEMENT_COMMANDS"]).'
        ) % {"command": _quoted(command), "allowed": ", ".join(allowed) or "-"}
    if command in GATEWAY_COMMANDS:
        return _("%(command)s runs whatever code its arguments name: it is never scheduled.") % {
            "command": _quoted(command)
        }
    if command not in get_commands():
        return _("%(command)s is not a management command of this project.") % {
            "command": _quoted(command)
        }
    return ""


def _quoted(value: Any) -> str:
    return f"“{value}”" if isinstance(value, str) else repr(value)


def _parse(command: str, args: list[Any], options: dict[str, Any]) -> dict[str, Any]:
    """The options that ``call_command(command, *args, **options)`` would pass to the
    command, found by ``call_command()`` itself with the command's ``execute()`` replaced:
    the command's own parser judges the arguments, and nothing runs."""
    app = get_commands()[command]
    instance: BaseCommand = (
        copy.copy(app) if isinstance(app, BaseCommand) else load_command_class(app, command)
    )
    parsed: dict[str, Any] = {}

    def execute(*positional: Any, **defaults: Any) -> None:
        parsed.update(defaults)

    instance.execute = execute  # type: ignore[method-assign]
    call_command(instance, *args, **options)
    return parsed
