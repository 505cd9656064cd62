"""System checks of the ``TABLECRON`` dict: its keys, each value's type, and the rules
between values; what a value names is checked by ``named``."""

from __future__ import annotations

import difflib
import importlib.util
import re
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from django.apps import AppConfig, apps
from django.conf import settings as django_settings
from django.core.checks import CheckMessage, Error, Warning

from tablecron.checks import named
from tablecron.conf import KEYS, STRING_LISTS, settings

# Keys renamed before the first release: only so that the check names the new one. The
# old names do nothing.
RENAMED_KEYS = {
    "EMBEDDED": "SCHEDULER_IN_WEB_WORKERS",
    "CONNECTION_MAX_AGE": "CONNECTION_RECYCLE",
}
LIVENESS_KEYS = ("HEARTBEAT_INTERVAL", "LOST_AFTER")  # see _check_liveness()


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
            errors.append(_wrong_type(key, value))
    if all(_type_ok(key, _value(raw, key)) for key in LIVENESS_KEYS):
        errors.extend(_check_liveness())
    for key, check in VALUE_CHECKS.items():
        if (key in raw or key not in SET_BY_HAND) and _type_ok(key, _value(raw, key)):
            errors.extend(check(_value(raw, key)))
    if all(_type_ok(key, _value(raw, key)) for key in ("RUN_RETENTION", "FAILED_RUN_RETENTION")):
        errors.extend(_check_retention())
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


def _value(raw: dict[str, Any], key: str) -> Any:
    return raw.get(key, KEYS[key].default)


def _wrong_type(key: str, value: Any) -> CheckMessage:
    return Error(
        f"TABLECRON[{key!r}] is {value!r}; it must be {KEYS[key].expects}.",
        hint=f"Fix TABLECRON[{key!r}], or remove it to use the default ({KEYS[key].default!r}).",
        id="tablecron.E003",
    )


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


# What a key's value names, checked once its type is right (E003 otherwise).
VALUE_CHECKS: dict[str, Callable[[Any], list[CheckMessage]]] = {
    "DATABASE": named.check_database,
    "EXECUTOR": named.check_executor,
    "ALLOWED_TASKS": named.check_allowed_tasks,
    "MANAGEMENT_COMMANDS": named.check_management_commands,
    "WEBHOOK_ALLOWED_HOSTS": named.check_webhook_hosts,
    "NOTIFY_EMAIL_DOMAINS": named.check_email_domains,
    "API_PERMISSION_CLASSES": named.check_permission_classes,
    "SITE_URL": _check_site_url,
    "METRICS_PORT": _check_metrics_port,
}
# Checked only when set by hand: the default needs DRF, which a project without the API lacks.
SET_BY_HAND = ("API_PERMISSION_CLASSES",)
