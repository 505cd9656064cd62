"""System checks: each misconfiguration gets a stable ID and a hint that says the fix."""

from __future__ import annotations

import difflib
import importlib.util
import re
from collections.abc import Callable, Sequence
from datetime import date, timedelta
from importlib.metadata import version
from typing import Any
from urllib.parse import urlsplit

from django.apps import AppConfig, apps
from django.conf import settings as django_settings
from django.core.checks import CheckMessage, Error, Tags, Warning
from django.core.exceptions import ValidationError
from django.db import DatabaseError, connections, router
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils.module_loading import import_string

from tablecron.conf import EXECUTOR_ALIASES, KEYS, STRING_LISTS, settings
from tablecron.exceptions import InvalidSchedule

# Keys renamed before the first release: only so that the check names the new one. The
# old names do nothing.
RENAMED_KEYS = {
    "EMBEDDED": "SCHEDULER_IN_WEB_WORKERS",
    "CONNECTION_MAX_AGE": "CONNECTION_RECYCLE",
}
LIVENESS_KEYS = ("HEARTBEAT_INTERVAL", "LOST_AFTER")  # see _check_liveness()
METRICS_VIEW = ("tablecron.contrib.prometheus.views", "metrics")


def check_settings(app_configs: Sequence[AppConfig] | None, **kwargs: Any) -> list[CheckMessage]:
    errors: list[CheckMessage] = []
    if not django_settings.USE_TZ:
        errors.append(
            Error(
                "tablecron needs time-zone-aware datetimes, but USE_TZ is False.",
                hint="Set USE_TZ = True in your settings.",
                id="tablecron.E001",
            )
        )
    raw = getattr(django_settings, "TABLECRON", {})
    if not isinstance(raw, dict):
        errors.append(
            Error(
                f"TABLECRON must be a dict, not {type(raw).__name__}.",
                hint='Write it as TABLECRON = {"POLL_INTERVAL": 0.5, ...}.',
                id="tablecron.E002",
            )
        )
        return errors
    for key, value in raw.items():
        if key in RENAMED_KEYS:
            errors.append(_renamed_key(key))
        elif key not in KEYS:
            errors.append(_unknown_key(key))
        elif not _type_ok(key, value):
            errors.append(
                Error(
                    f"TABLECRON[{key!r}] is {value!r}; it must be {KEYS[key].help}.",
                    hint=f"Fix TABLECRON[{key!r}], or remove it to use the default "
                    f"({KEYS[key].default!r}).",
                    id="tablecron.E003",
                )
            )
    if all(_type_ok(key, raw.get(key, KEYS[key].default)) for key in LIVENESS_KEYS):
        errors.extend(_check_liveness())
    if _type_ok("DATABASE", raw.get("DATABASE", "default")):
        errors.extend(_check_database(raw.get("DATABASE", "default")))
    if _type_ok("EXECUTOR", raw.get("EXECUTOR", "thread")):
        errors.extend(_check_executor(raw.get("EXECUTOR", "thread")))
    if _type_ok("ALLOWED_TASKS", raw.get("ALLOWED_TASKS", ())):
        errors.extend(_check_allowed_tasks(raw.get("ALLOWED_TASKS", ())))
    if _type_ok("MANAGEMENT_COMMANDS", raw.get("MANAGEMENT_COMMANDS", ())):
        errors.extend(_check_management_commands(raw.get("MANAGEMENT_COMMANDS", ())))
    if _type_ok("WEBHOOK_ALLOWED_HOSTS", raw.get("WEBHOOK_ALLOWED_HOSTS", ())):
        errors.extend(_check_webhook_hosts(raw.get("WEBHOOK_ALLOWED_HOSTS", ())))
    if _type_ok("NOTIFY_EMAIL_DOMAINS", raw.get("NOTIFY_EMAIL_DOMAINS", ())):
        errors.extend(_check_email_domains(raw.get("NOTIFY_EMAIL_DOMAINS", ())))
    retention = ("RUN_RETENTION", "FAILED_RUN_RETENTION")
    if all(_type_ok(key, raw.get(key, KEYS[key].default)) for key in retention):
        errors.extend(_check_retention())
    # Only paths set by hand: the default needs DRF, which a project without the API lacks.
    if _type_ok("API_PERMISSION_CLASSES", raw.get("API_PERMISSION_CLASSES", ())):
        errors.extend(_check_permission_classes(raw.get("API_PERMISSION_CLASSES", ())))
    if _type_ok("SITE_URL", raw.get("SITE_URL", "")):
        errors.extend(_check_site_url(raw.get("SITE_URL", "")))
    if _type_ok("METRICS_PORT", raw.get("METRICS_PORT", 0)):
        errors.extend(_check_metrics_port(raw.get("METRICS_PORT", 0)))
    if raw.get("AUDIT_TRAIL") is True and not apps.is_installed("django.contrib.admin"):
        errors.append(
            Warning(
                'TABLECRON["AUDIT_TRAIL"] is True, but the audit trail is written to the '
                "admin's log, and django.contrib.admin is not installed: nothing is recorded.",
                hint='Add "django.contrib.admin" to INSTALLED_APPS, or remove AUDIT_TRAIL.',
                id="tablecron.W008",
            )
        )
    return errors


def _check_metrics_port(port: int) -> list[CheckMessage]:
    if not 0 <= port <= 65535:
        return [
            Error(
                f'TABLECRON["METRICS_PORT"] = {port} is not a port number.',
                hint="Use a port from 1 to 65535, or 0 to serve no metrics.",
                id="tablecron.E011",
            )
        ]
    if port and importlib.util.find_spec("prometheus_client") is None:
        return [
            Error(
                f'TABLECRON["METRICS_PORT"] = {port}, but prometheus_client is not installed.',
                hint="Install the metrics extra: pip install 'django-tablecron[metrics]'.",
                id="tablecron.E012",
            )
        ]
    return []


def _check_site_url(url: str) -> list[CheckMessage]:
    """Notifications link to runs' admin pages at this address: an absolute http(s) URL."""
    if not url or _is_site_url(url):
        return []
    return [
        Error(
            f'TABLECRON["SITE_URL"] = {url!r} is not the absolute http or https address of '
            "a site: notifications could not link to the admin's pages.",
            hint='Write the address people open the site at, e.g. "https://ops.example.com" '
            '(with the path the site is served under, if any), or "" for no links.',
            id="tablecron.E018",
        )
    ]


def _is_site_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not one
    except ValueError:
        return False
    return (
        parts.scheme in ("http", "https")
        and bool(parts.hostname)
        and not (parts.query or parts.fragment or parts.username or parts.password)
        and not re.search(r"\s", url)
    )


def _check_liveness() -> list[CheckMessage]:
    """A scheduler is taken for dead after ``LOST_AFTER`` without a beat; its runs start
    without a second look while its last beat is younger than half of it."""
    beat, lost = settings.HEARTBEAT_INTERVAL, settings.LOST_AFTER
    if lost >= 2 * beat:
        return []
    return [
        Error(
            f"LOST_AFTER ({lost:g} s) is less than twice HEARTBEAT_INTERVAL ({beat:g} s): "
            "live schedulers and workers would be taken for dead between two beats, and "
            "their runs ended as lost.",
            hint="Make LOST_AFTER several heartbeats long (the defaults: 60 s and 10 s).",
            id="tablecron.E013",
        )
    ]


def _unknown_key(key: str) -> CheckMessage:
    close = difflib.get_close_matches(str(key).upper(), KEYS, n=1)
    hint = f"Did you mean {close[0]!r}?" if close else f"Valid keys: {', '.join(KEYS)}."
    return Warning(
        f"TABLECRON has an unknown key {key!r}; it is ignored.", hint=hint, id="tablecron.W001"
    )


def _renamed_key(key: str) -> CheckMessage:
    new = RENAMED_KEYS[key]
    return Error(
        f"TABLECRON[{key!r}] was renamed to {new!r}; the old name does nothing.",
        hint=f"Rename TABLECRON[{key!r}] to TABLECRON[{new!r}].",
        id="tablecron.E007",
    )


def _type_ok(key: str, value: Any) -> bool:
    spec = KEYS[key]
    amount: Any = value
    if value is None:
        return type(None) in spec.types
    if isinstance(value, bool) and bool not in spec.types:
        return False
    if not isinstance(value, spec.types):
        return False
    if spec.positive:
        if isinstance(amount, timedelta):
            amount = amount.total_seconds()
        return bool(amount > 0)
    if key in STRING_LISTS:
        return all(isinstance(path, str) for path in amount)
    return True


def _check_retention() -> list[CheckMessage]:
    if settings.FAILED_RUN_RETENTION >= settings.RUN_RETENTION:
        return []
    return [
        Warning(
            f'TABLECRON["FAILED_RUN_RETENTION"] ({settings.FAILED_RUN_RETENTION}) is shorter '
            f'than TABLECRON["RUN_RETENTION"] ({settings.RUN_RETENTION}): failed runs, the '
            "ones worth reading, would be deleted before successful ones.",
            hint="Make FAILED_RUN_RETENTION at least RUN_RETENTION, or remove it to keep "
            "failures as long as successes.",
            id="tablecron.W005",
        )
    ]


def _check_database(alias: str) -> list[CheckMessage]:
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


def _check_executor(value: str) -> list[CheckMessage]:
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


def _check_allowed_tasks(paths: Sequence[str]) -> list[CheckMessage]:
    errors = _check_dotted_paths(
        "ALLOWED_TASKS",
        paths,
        lambda target: None if callable(target) else "is not callable",
        hint="Give the full dotted path of a function, e.g. 'myapp.reports.send_report'.",
        id="tablecron.E005",
    )
    return errors + _check_gateways(paths)


def _check_gateways(paths: Sequence[str]) -> list[CheckMessage]:
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


def _check_management_commands(names: Sequence[str]) -> list[CheckMessage]:
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


def _check_webhook_hosts(hosts: Sequence[str]) -> list[CheckMessage]:
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


def _check_email_domains(domains: Sequence[str]) -> list[CheckMessage]:
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


def check_metrics_exposure(
    app_configs: Sequence[AppConfig] | None, **kwargs: Any
) -> list[CheckMessage]:
    """The metrics view, mounted in the URLconf without ``METRICS_TOKEN`` outside DEBUG,
    tells anyone who reaches it every job's name and times."""
    if django_settings.DEBUG or settings.METRICS_TOKEN:
        return []
    try:
        route = _metrics_route(get_resolver().url_patterns, "")
    except Exception:  # a broken URLconf is Django's own checks' to report
        return []
    if route is None:
        return []
    return [
        Warning(
            f"tablecron's metrics view is mounted at /{route} without "
            'TABLECRON["METRICS_TOKEN"]: anyone who can reach it reads every job\'s name, '
            "status and times.",
            hint='Set TABLECRON["METRICS_TOKEN"] to a secret and give it to Prometheus '
            "(authorization: credentials: ...), or serve the metrics only on an internal "
            "address.",
            id="tablecron.W009",
        )
    ]


def _metrics_route(patterns: Sequence[Any], prefix: str) -> str | None:
    """Where the URL ``patterns`` mount the metrics view, or None: found by the view's name,
    so that a project without prometheus_client imports nothing."""
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            found = _metrics_route(pattern.url_patterns, prefix + str(pattern.pattern))
            if found is not None:
                return found
        elif isinstance(pattern, URLPattern):
            view = pattern.callback
            if (getattr(view, "__module__", ""), getattr(view, "__name__", "")) == METRICS_VIEW:
                return prefix + str(pattern.pattern)
    return None


def _check_permission_classes(paths: Sequence[str]) -> list[CheckMessage]:
    def problem(target: Any) -> str | None:
        # Duck-typed, so this check imports no DRF of its own.
        if isinstance(target, type) and callable(getattr(target, "has_permission", None)):
            return None
        return "is not a permission class (it has no has_permission method)"

    return _check_dotted_paths(
        "API_PERMISSION_CLASSES",
        paths,
        problem,
        hint="Give the dotted path of a REST framework permission class, e.g. "
        "'rest_framework.permissions.IsAdminUser'.",
        id="tablecron.E006",
    )


def _check_dotted_paths(
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


def check_sqlite_transactions(
    app_configs: Sequence[AppConfig] | None, **kwargs: Any
) -> list[CheckMessage]:
    """SQLite's default deferred transactions fail at once when two processes write."""
    databases: dict[str, dict[str, Any]] = django_settings.DATABASES
    return [
        Warning(
            f"The SQLite database {alias!r} does not use transaction_mode IMMEDIATE: a "
            "scheduler and web processes writing at the same time will meet 'database is "
            "locked' errors.",
            hint=f'Add "OPTIONS": {{"transaction_mode": "IMMEDIATE"}} to DATABASES[{alias!r}].',
            id="tablecron.W003",
        )
        for alias, database in databases.items()
        if alias == settings.DATABASE  # tablecron's
        and database.get("ENGINE") == "django.db.backends.sqlite3"
        and database.get("OPTIONS", {}).get("transaction_mode") != "IMMEDIATE"
    ]


def check_cron_descriptor(
    app_configs: Sequence[AppConfig] | None, **kwargs: Any
) -> list[CheckMessage]:
    """cron-descriptor 1.x (django-celery-beat pins it below 2) works, but ships no
    Traditional Chinese: schedules for zh-hant read in Simplified Chinese."""
    installed = version("cron-descriptor")
    if int(installed.split(".")[0]) >= 2:
        return []
    return [
        Warning(
            f"cron-descriptor {installed} is installed (django-celery-beat requires "
            "cron-descriptor < 2): schedules in words are still shown, but in Simplified "
            "Chinese where the language is Traditional Chinese (zh-hant).",
            hint="Once django-celery-beat is uninstalled (docs/migrating.md), "
            "pip install 'cron-descriptor>=2.2'.",
            id="tablecron.W011",
        )
    ]


def check_unknown_tasks(
    app_configs: Sequence[AppConfig] | None,
    databases: Sequence[str] | None = None,
    **kwargs: Any,
) -> list[CheckMessage]:
    """Rows whose task this process does not know (old deploy, removed code)."""
    from tablecron.models import Job
    from tablecron.registry import tasks

    messages: list[CheckMessage] = []
    for alias in set(databases or ()) & {settings.DATABASE}:
        try:
            names = set(Job.objects.using(alias).values_list("task", flat=True).distinct())
        except DatabaseError:  # not migrated yet
            continue
        unknown = sorted(name for name in names if name not in tasks)
        if unknown:
            messages.append(
                Warning(
                    f"Jobs in database {alias!r} name tasks this process does not know: "
                    f"{', '.join(unknown)}. They are not run.",
                    hint="Deploy the code that registers them, or edit or delete those jobs.",
                    id="tablecron.W002",
                )
            )
    return messages


# How far ahead a job's calendar must have python-holidays' data (W010).
CALENDAR_NOTICE = timedelta(days=92)


def check_calendar_data(
    app_configs: Sequence[AppConfig] | None,
    databases: Sequence[str] | None = None,
    **kwargs: Any,
) -> list[CheckMessage]:
    """Calendars of enabled jobs whose country python-holidays has no days for in the
    coming months: China and the other countries that announce make-up working days a
    year at a time get them with each release of python-holidays."""
    from tablecron.models import Calendar, Job
    from tablecron.workdays import data_until

    messages: list[CheckMessage] = []
    needed = (date.today() + CALENDAR_NOTICE).year
    for alias in set(databases or ()) & {settings.DATABASE}:
        try:
            names = set(
                Job.objects.using(alias).filter(enabled=True).exclude(calendar="")
                .values_list("calendar", flat=True).distinct()
            )  # fmt: skip
            custom = dict(
                Calendar.objects.using(alias).filter(name__in=names).values_list("name", "country")
            )
        except DatabaseError:  # not migrated yet
            continue
        for name in sorted(names):
            country = custom.get(name, name)
            try:
                last = data_until(country) if country else needed
            except InvalidSchedule:  # not a country: the job's own validation says so
                continue
            if last < needed:
                messages.append(
                    Warning(
                        f"The calendar {name!r} of jobs in database {alias!r} has no "
                        f"python-holidays data for {country} after {last}: their fires "
                        f"from {last + 1} on ignore its make-up working days and moved days off.",
                        hint="Upgrade python-holidays (pip install -U holidays) to a release "
                        "with the coming year's days, then restart the schedulers.",
                        id="tablecron.W010",
                    )
                )
    return messages


def check_code_jobs(app_configs: Sequence[AppConfig] | None, **kwargs: Any) -> list[CheckMessage]:
    """Jobs declared in code that "manage.py tablecron sync" would refuse, found before
    any database is reached."""
    from tablecron.code_jobs import declared

    return [
        Error(
            f"The job {job.name!r} declared in code {problem}",
            hint="Fix its tablecron.declare() or @tablecron.register(schedule=...).",
            id="tablecron.E010",
        )
        for job in declared
        if (problem := _code_job_problem(job.fields))
    ]


def _code_job_problem(fields: dict[str, Any]) -> str:
    from tablecron import schedules
    from tablecron.exceptions import InvalidSchedule, UnknownTask
    from tablecron.registry import tasks

    try:
        task = tasks.get(fields["task"])
        schedules.build(**{name: fields[name] for name in schedules.FIELDS if name in fields})
        task.check_arguments(fields.get("args", []), fields.get("kwargs", {}))
    except UnknownTask:
        return f"runs {fields['task']!r}, which is not a registered task."
    except InvalidSchedule as exc:
        return f"has an invalid {exc.field}: {exc.message}"
    except ValidationError as exc:
        return f"has arguments that do not fit its task: {' '.join(exc.messages)}"
    return ""


def register_checks() -> None:
    from django.core import checks

    checks.register(check_settings)
    checks.register(check_metrics_exposure, Tags.security, Tags.urls)
    checks.register(check_sqlite_transactions)
    checks.register(check_code_jobs)
    checks.register(check_cron_descriptor)
    checks.register(check_unknown_tasks, Tags.database)
    checks.register(check_calendar_data, Tags.database)
