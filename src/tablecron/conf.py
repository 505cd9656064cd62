"""The TABLECRON settings dict, each key declared once with its default and type.

Values are read live from ``django.conf.settings`` so ``override_settings`` just works.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings as django_settings
from django.core.signals import setting_changed

# The executors that need no dotted path.
EXECUTOR_ALIASES = {
    "thread": "tablecron.executors.thread.ThreadExecutor",
    "immediate": "tablecron.executors.immediate.ImmediateExecutor",
    "process": "tablecron.executors.process.ProcessExecutor",
    "celery": "tablecron.executors.celery.CeleryExecutor",
    "django_tasks": "tablecron.executors.django_tasks.DjangoTasksExecutor",
}


# The REST API's permission class: Django's model permissions, viewing included.
DEFAULT_API_PERMISSION = "tablecron.contrib.rest_framework.permissions.ModelPermissions"


@dataclass(frozen=True)
class Key:
    default: Any
    types: tuple[type, ...]
    help: str
    positive: bool = False


_SECONDS = (int, float, timedelta)
_NONE = type(None)

KEYS: dict[str, Key] = {
    "DATABASE": Key("default", (str,), "an alias in DATABASES"),
    "SCHEDULER_IN_WEB_WORKERS": Key(False, (bool,), "True or False"),
    "POLL_INTERVAL": Key(0.5, _SECONDS, "seconds as a number or a timedelta", positive=True),
    "EXECUTOR": Key(
        "thread",
        (str,),
        '"thread", "process", "celery", "django_tasks", "immediate" or a dotted path',
    ),
    "MAX_WORKERS": Key(10, (int,), "a positive integer", positive=True),
    "HEARTBEAT_INTERVAL": Key(10.0, _SECONDS, "seconds as a number or a timedelta", positive=True),
    "LOST_AFTER": Key(60.0, _SECONDS, "seconds as a number or a timedelta", positive=True),
    "RUN_RETENTION": Key(timedelta(days=30), _SECONDS, "a timedelta or seconds", positive=True),
    "FAILED_RUN_RETENTION": Key(
        None, (*_SECONDS, _NONE), "a timedelta, seconds, or None (as RUN_RETENTION)", positive=True
    ),
    "RUNS_PER_JOB": Key(None, (int, _NONE), "a positive integer or None (no limit)", positive=True),
    "ALLOWED_TASKS": Key((), (list, tuple), "a list of dotted paths to callables"),
    "MANAGEMENT_COMMANDS": Key((), (list, tuple), "a list of management command names"),
    "ARGS_MAX_BYTES": Key(65536, (int,), "a positive integer (bytes)", positive=True),
    "RESULT_MAX_BYTES": Key(65536, (int,), "a positive integer (bytes)", positive=True),
    "TASKS_BACKEND": Key("default", (str,), "an alias of Django's TASKS setting"),
    "QUEUED_LIMIT": Key(3600.0, _SECONDS, "seconds as a number or a timedelta", positive=True),
    "SHUTDOWN_GRACE": Key(30.0, _SECONDS, "seconds as a number or a timedelta", positive=True),
    "CONNECTION_RECYCLE": Key(60.0, _SECONDS, "seconds as a number or a timedelta", positive=True),
    "API_PERMISSION_CLASSES": Key(
        (DEFAULT_API_PERMISSION,), (list, tuple), "a list of dotted paths to permission classes"
    ),
    "WEBHOOK_ALLOWED_HOSTS": Key(
        (), (list, tuple), "a list of host names that webhooks may reach on internal addresses"
    ),
    "NOTIFY_QUIET_PERIOD": Key(
        timedelta(minutes=5), _SECONDS, "seconds as a number or a timedelta", positive=True
    ),
    "SITE_URL": Key("", (str,), 'the address of the site, e.g. "https://ops.example.com", or ""'),
    "METRICS_PORT": Key(0, (int,), "a port number, 1 to 65535, or 0 for none"),
    "METRICS_ADDRESS": Key("127.0.0.1", (str,), "an address to listen on, e.g. 127.0.0.1"),
    "METRICS_TOKEN": Key("", (str,), "a secret string, or empty for none"),
    "AUDIT_TRAIL": Key(True, (bool,), "True or False"),
    "OUTPUT_LIMIT": Key(65536, (int,), "a positive integer (characters)", positive=True),
    "CANCEL_GRACE": Key(5.0, _SECONDS, "seconds as a number or a timedelta", positive=True),
    "MANUAL_RUNS_PER_JOB": Key(3, (int,), "a positive integer", positive=True),
    "SENSITIVE_KEYS": Key(
        (), (list, tuple), "a list of words that mark an argument's key as holding a secret"
    ),
    "NOTIFY_EMAIL_DOMAINS": Key(
        (), (list, tuple), "a list of domains that notification e-mails may go to (empty: any)"
    ),
}
# Dotted paths, not classes: reading them imports nothing, so the core needs no DRF.
DOTTED_PATH_LISTS = ("ALLOWED_TASKS", "API_PERMISSION_CLASSES")
STRING_LISTS = (
    *DOTTED_PATH_LISTS,
    "MANAGEMENT_COMMANDS",
    "WEBHOOK_ALLOWED_HOSTS",
    "NOTIFY_EMAIL_DOMAINS",
    "SENSITIVE_KEYS",
)


def _seconds(value: float | timedelta) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class Settings:
    """Typed, live view of ``settings.TABLECRON`` (re-read when ``override_settings``
    changes it: the hot path reads some keys for every run)."""

    _raw: dict[str, Any] | None = None

    @property
    def raw(self) -> dict[str, Any]:
        if self._raw is None:
            value = getattr(django_settings, "TABLECRON", {})
            self._raw = value if isinstance(value, dict) else {}
        return self._raw

    def reload(self, *, setting: str = "TABLECRON", **kwargs: Any) -> None:
        if setting == "TABLECRON":
            self._raw = None

    def get(self, key: str) -> Any:
        return self.raw.get(key, KEYS[key].default)

    @property
    def SCHEDULER_IN_WEB_WORKERS(self) -> bool:
        return bool(self.get("SCHEDULER_IN_WEB_WORKERS"))

    @property
    def DATABASE(self) -> str:
        return str(self.get("DATABASE"))

    @property
    def POLL_INTERVAL(self) -> float:
        return _seconds(self.get("POLL_INTERVAL"))

    @property
    def EXECUTOR(self) -> str:
        value: str = self.get("EXECUTOR")
        return EXECUTOR_ALIASES.get(value, value)

    @property
    def MAX_WORKERS(self) -> int:
        return int(self.get("MAX_WORKERS"))

    @property
    def HEARTBEAT_INTERVAL(self) -> float:
        return _seconds(self.get("HEARTBEAT_INTERVAL"))

    @property
    def LOST_AFTER(self) -> float:
        return _seconds(self.get("LOST_AFTER"))

    @property
    def RUN_RETENTION(self) -> timedelta:
        return timedelta(seconds=_seconds(self.get("RUN_RETENTION")))

    @property
    def FAILED_RUN_RETENTION(self) -> timedelta:
        value = self.get("FAILED_RUN_RETENTION")
        return self.RUN_RETENTION if value is None else timedelta(seconds=_seconds(value))

    @property
    def RUNS_PER_JOB(self) -> int | None:
        value = self.get("RUNS_PER_JOB")
        return None if value is None else int(value)

    @property
    def ALLOWED_TASKS(self) -> tuple[str, ...]:
        return tuple(self.get("ALLOWED_TASKS"))

    @property
    def MANAGEMENT_COMMANDS(self) -> tuple[str, ...]:
        return tuple(self.get("MANAGEMENT_COMMANDS"))

    @property
    def ARGS_MAX_BYTES(self) -> int:
        return int(self.get("ARGS_MAX_BYTES"))

    @property
    def RESULT_MAX_BYTES(self) -> int:
        return int(self.get("RESULT_MAX_BYTES"))

    @property
    def TASKS_BACKEND(self) -> str:
        return str(self.get("TASKS_BACKEND"))

    @property
    def QUEUED_LIMIT(self) -> float:
        return _seconds(self.get("QUEUED_LIMIT"))

    @property
    def SHUTDOWN_GRACE(self) -> float:
        return _seconds(self.get("SHUTDOWN_GRACE"))

    @property
    def CONNECTION_RECYCLE(self) -> float:
        return _seconds(self.get("CONNECTION_RECYCLE"))

    @property
    def OUTPUT_LIMIT(self) -> int:
        return int(self.get("OUTPUT_LIMIT"))

    @property
    def MANUAL_RUNS_PER_JOB(self) -> int:
        return int(self.get("MANUAL_RUNS_PER_JOB"))

    @property
    def CANCEL_GRACE(self) -> float:
        return _seconds(self.get("CANCEL_GRACE"))

    @property
    def AUDIT_TRAIL(self) -> bool:
        return bool(self.get("AUDIT_TRAIL"))

    @property
    def API_PERMISSION_CLASSES(self) -> tuple[str, ...]:
        return tuple(self.get("API_PERMISSION_CLASSES"))

    @property
    def NOTIFY_QUIET_PERIOD(self) -> timedelta:
        return timedelta(seconds=_seconds(self.get("NOTIFY_QUIET_PERIOD")))

    @property
    def SENSITIVE_KEYS(self) -> tuple[str, ...]:
        return tuple(self.get("SENSITIVE_KEYS"))

    @property
    def NOTIFY_EMAIL_DOMAINS(self) -> tuple[str, ...]:
        return tuple(self.get("NOTIFY_EMAIL_DOMAINS"))

    @property
    def WEBHOOK_ALLOWED_HOSTS(self) -> tuple[str, ...]:
        return tuple(self.get("WEBHOOK_ALLOWED_HOSTS"))

    @property
    def SITE_URL(self) -> str:
        return str(self.get("SITE_URL"))

    @property
    def METRICS_PORT(self) -> int:
        return int(self.get("METRICS_PORT"))

    @property
    def METRICS_ADDRESS(self) -> str:
        return str(self.get("METRICS_ADDRESS"))

    @property
    def METRICS_TOKEN(self) -> str:
        return str(self.get("METRICS_TOKEN"))


settings = Settings()
setting_changed.connect(settings.reload)
