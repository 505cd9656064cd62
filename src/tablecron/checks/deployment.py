"""System checks of the deployment around tablecron: the URLconf (metrics exposure), the
databases' settings, the installed cron-descriptor, and the jobs declared in code."""

from __future__ import annotations

from collections.abc import Sequence
from importlib.metadata import version
from typing import Any

from django.apps import AppConfig
from django.conf import settings as django_settings
from django.core.checks import CheckMessage, Error, Warning
from django.core.exceptions import ValidationError
from django.urls import URLPattern, URLResolver, get_resolver

from tablecron.conf import settings
from tablecron.exceptions import InvalidSchedule

METRICS_VIEW = ("tablecron.contrib.prometheus.views", "metrics")


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


def check_isolation_level(
    app_configs: Sequence[AppConfig] | None, **kwargs: Any
) -> list[CheckMessage]:
    """The claim and concurrency groups read, after taking a lock, what other schedulers
    committed meanwhile: READ COMMITTED, Django's default; not a snapshot."""
    database = django_settings.DATABASES.get(settings.DATABASE, {})
    engine, options = database.get("ENGINE", ""), database.get("OPTIONS", {})
    level = options.get("isolation_level", "read committed")
    if engine == "django.db.backends.postgresql":
        from django.db.backends.postgresql.psycopg_any import IsolationLevel

        snapshot = level in (IsolationLevel.REPEATABLE_READ, IsolationLevel.SERIALIZABLE)
    elif engine == "django.db.backends.mysql":
        # None leaves it to the server, whose default is REPEATABLE READ.
        snapshot = level is None or str(level).lower() in ("repeatable read", "serializable")
    else:
        return []
    if not snapshot:
        return []
    return [
        Warning(
            f"tablecron's database {settings.DATABASE!r} has OPTIONS['isolation_level'] = "
            f"{level!r}: claims read a snapshot, so a concurrency group's limit can be "
            "exceeded and claims can fail with serialization errors.",
            hint="Use READ COMMITTED, Django's default (remove 'isolation_level' from "
            'OPTIONS, or on MySQL/MariaDB set it to "read committed"); or give tablecron a '
            'database alias of its own with it (TABLECRON["DATABASE"]).',
            id="tablecron.W012",
        )
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
    from tablecron.exceptions import UnknownTask
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
