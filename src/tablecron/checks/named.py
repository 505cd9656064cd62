"""System checks of what the ``TABLECRON`` settings name: the database, the executor,
tasks, management commands, permission classes, hosts and domains."""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Sequence
from typing import Any

from django.core.checks import CheckMessage, Error
from django.db import connections, router
from django.utils.module_loading import import_string

from tablecron.conf import EXECUTOR_ALIASES


def check_database(alias: str) -> list[CheckMessage]:
    from tablecron.models import Job

    if alias not in connections:
        return [
            Error(
                f'TABLECRON["DATABASE"] = {alias!r} is not in DATABASES.',
                hint=f"Use one of {', '.join(map(repr, connections))}.",
                id="tablecron.E008",
            )
        ]
    routed = {router.db_for_read(Job), router.db_for_write(Job)}
    if routed == {alias}:
        return []
    return [
        Error(
            f"tablecron's queries go to {alias!r} (TABLECRON[\"DATABASE\"]), but Django's "
            f"database routers send its models to {' and '.join(sorted(map(repr, routed)))}.",
            hint='Add "tablecron.routers.TablecronRouter" to DATABASE_ROUTERS, before routers '
            "that would route tablecron's models elsewhere.",
            id="tablecron.E009",
        )
    ]


def check_executor(value: str) -> list[CheckMessage]:
    from tablecron.executors import Executor

    try:
        executor = import_string(EXECUTOR_ALIASES.get(value, value))
    except ImportError as exc:
        problem = f"cannot be imported: {exc}"
    else:
        if isinstance(executor, type) and issubclass(executor, Executor):
            return executor.check()
        problem = "is not a subclass of tablecron.executors.Executor"
    return [
        Error(
            f'TABLECRON["EXECUTOR"] = {value!r} {problem}',
            hint=f"Use one of {', '.join(map(repr, EXECUTOR_ALIASES))} or the dotted path of "
            "an Executor subclass.",
            id="tablecron.E004",
        )
    ]


def check_allowed_tasks(paths: Sequence[str]) -> list[CheckMessage]:
    errors = check_dotted_paths(
        "ALLOWED_TASKS",
        paths,
        lambda target: None if callable(target) else "is not callable",
        hint="Give the full dotted path of a function, e.g. 'myapp.reports.send_report'.",
        id="tablecron.E005",
    )
    return errors + check_gateways(paths)


def check_gateways(paths: Sequence[str]) -> list[CheckMessage]:
    """Entries of ALLOWED_TASKS that run whatever code or command their arguments name:
    never scheduled (the registry refuses them too), and named here."""
    from tablecron.gateways import gateway_of

    errors: list[CheckMessage] = []
    for path in paths:
        try:
            target = import_string(path)
        except ImportError:
            continue  # E005
        gateway = callable(target) and gateway_of(target, path)
        if gateway:
            errors.append(
                Error(
                    f'TABLECRON["ALLOWED_TASKS"] names {path!r}, which is {gateway}: it runs '
                    "whatever code or command its arguments name, and a job's arguments "
                    "come from whoever may edit jobs. tablecron never schedules it.",
                    hint="Remove it. Register a function of your own that does the one thing "
                    "the job needs (@tablecron.register); to run management commands, list "
                    'them in TABLECRON["MANAGEMENT_COMMANDS"] and schedule the task '
                    '"tablecron.management_command".',
                    id="tablecron.E014",
                )
            )
    return errors


def check_management_commands(names: Sequence[str]) -> list[CheckMessage]:
    from django.core.management import get_commands

    from tablecron.command_task import GATEWAY_COMMANDS, TASK_NAME

    errors: list[CheckMessage] = []
    for name in names:
        if name in GATEWAY_COMMANDS:
            errors.append(
                Error(
                    f'TABLECRON["MANAGEMENT_COMMANDS"] names {name!r}, which runs whatever '
                    f"code its arguments name; {TASK_NAME} never runs it.",
                    hint="Remove it. Put the code in a management command of your own, or a "
                    "function registered with @tablecron.register, and schedule that.",
                    id="tablecron.E016",
                )
            )
        elif name not in get_commands():
            close = difflib.get_close_matches(name, get_commands(), n=1)
            errors.append(
                Error(
                    f'TABLECRON["MANAGEMENT_COMMANDS"] names {name!r}, which is not a '
                    "management command of this project.",
                    hint=f"Did you mean {close[0]!r}?"
                    if close
                    else "'manage.py help' lists the commands; is the app that has it installed?",
                    id="tablecron.E015",
                )
            )
    return errors


def check_webhook_hosts(hosts: Sequence[str]) -> list[CheckMessage]:
    """Entries that are not a host alone (a URL, a port): they would allow nothing."""
    from tablecron.webhooks import literal_address

    return [
        Error(
            f'TABLECRON["WEBHOOK_ALLOWED_HOSTS"] names {host!r}, which is not a host name '
            "or an address: it allows nothing.",
            hint="Write the host alone, as in the webhook's URL, without scheme, port or "
            "path: e.g. 'hooks.internal' or '10.0.0.5'.",
            id="tablecron.E017",
        )
        for host in hosts
        if literal_address(host.strip("[]")) is None and not re.fullmatch(r"[^\s/:@?#\[\]]+", host)
    ]


def check_email_domains(domains: Sequence[str]) -> list[CheckMessage]:
    """Entries that are not a domain alone (an address, a URL): they would allow nothing."""
    return [
        Error(
            f'TABLECRON["NOTIFY_EMAIL_DOMAINS"] names {domain!r}, which is not a domain: it '
            "allows no address.",
            hint="Write the domain alone, as after the @ of an address: e.g. 'example.com'.",
            id="tablecron.E019",
        )
        for domain in domains
        if not re.fullmatch(r"[^\s/:@?#\[\],]+", domain.strip().strip("."))
    ]


def check_permission_classes(paths: Sequence[str]) -> list[CheckMessage]:
    def problem(target: Any) -> str | None:
        # Duck-typed, so this check imports no DRF of its own.
        if isinstance(target, type) and callable(getattr(target, "has_permission", None)):
            return None
        return "is not a permission class (it has no has_permission method)"

    return check_dotted_paths(
        "API_PERMISSION_CLASSES",
        paths,
        problem,
        hint="Give the dotted path of a REST framework permission class, e.g. "
        "'rest_framework.permissions.IsAdminUser'.",
        id="tablecron.E006",
    )


def check_dotted_paths(
    key: str,
    paths: Sequence[str],
    problem_of: Callable[[Any], str | None],
    *,
    hint: str,
    id: str,
) -> list[CheckMessage]:
    """An error for each of ``paths`` that cannot be imported, or whose target has a
    problem (``problem_of`` says which, or None)."""
    errors: list[CheckMessage] = []
    for path in paths:
        try:
            problem = problem_of(import_string(path))
        except ImportError as exc:
            problem = f"cannot be imported: {exc}"
        if problem:
            message = f'TABLECRON["{key}"] names {path!r}, which {problem}.'
            errors.append(Error(message, hint=hint, id=id))
    return errors
