"""System checks: each misconfiguration gets a stable ID and a hint that says the fix.

``settings``: the TABLECRON dict; ``named``: what its values name; ``deployment``: the
project around tablecron; ``rows``: the jobs in the database."""

from __future__ import annotations

from tablecron.checks.deployment import (
    check_code_jobs,
    check_cron_descriptor,
    check_isolation_level,
    check_metrics_exposure,
    check_sqlite_transactions,
)
from tablecron.checks.rows import CALENDAR_NOTICE, check_calendar_data, check_unknown_tasks
from tablecron.checks.settings import check_settings

__all__ = [
    "CALENDAR_NOTICE",
    "check_calendar_data",
    "check_code_jobs",
    "check_cron_descriptor",
    "check_isolation_level",
    "check_metrics_exposure",
    "check_settings",
    "check_sqlite_transactions",
    "check_unknown_tasks",
    "register_checks",
]


def register_checks() -> None:
    from django.core.checks import Tags, register

    register(check_settings)
    register(check_metrics_exposure, Tags.security, Tags.urls)
    register(check_sqlite_transactions)
    register(check_isolation_level)
    register(check_code_jobs)
    register(check_cron_descriptor)
    register(check_unknown_tasks, Tags.database)
    register(check_calendar_data, Tags.database)
