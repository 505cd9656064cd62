"""The TABLECRON settings dict, each key declared once: its default, the types it takes,
what it expects in words (the system check quotes it), and how it is read.

``settings.POLL_INTERVAL`` reads ``django.conf.settings.TABLECRON`` live, so
``override_settings`` just works; ``KEYS`` lists the declarations, for the checks.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any, overload

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

_SECONDS = (int, float, timedelta)
_NONE = type(None)
_LIST = (list, tuple)
IN_SECONDS = "seconds as a number or a timedelta"


def _seconds(value: float | timedelta) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def _duration(value: float | timedelta) -> timedelta:
    return timedelta(seconds=_seconds(value))


def _strings(value: Any) -> tuple[str, ...]:
    return tuple(value)


def _executor(value: str) -> str:
    return EXECUTOR_ALIASES.get(value, value)


def _count(value: int | None) -> int | None:
    return None if value is None else int(value)


class Setting[T]:
    """One key of ``TABLECRON``: a descriptor of ``Settings`` that reads it live.

    ``types``: what the system check accepts (``positive``: and above zero); ``expects``:
    that, in words; ``read``: the value as the code uses it. ``or_else``: the key whose
    value this one takes when it is None."""

    name = ""

    def __init__(
        self,
        default: Any,
        types: tuple[type, ...],
        expects: str,
        read: Callable[[Any], T],
        *,
        positive: bool = False,
        or_else: str = "",
    ) -> None:
        self.default, self.types, self.expects = default, types, expects
        self.read, self.positive, self.or_else = read, positive, or_else

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, obj: None, owner: type) -> Setting[T]: ...

    @overload
    def __get__(self, obj: Settings, owner: type) -> T: ...

    def __get__(self, obj: Settings | None, owner: type) -> Setting[T] | T:
        if obj is None:
            return self
        value = obj.raw.get(self.name, self.default)
        if value is None and self.or_else:
            return getattr(obj, self.or_else)  # type: ignore[no-any-return]
        return self.read(value)


class Settings:
    """Typed, live view of ``settings.TABLECRON`` (re-read when ``override_settings``
    changes it: the hot path reads some keys for every run)."""

    DATABASE = Setting("default", (str,), "an alias in DATABASES", str)
    SCHEDULER_IN_WEB_WORKERS = Setting(False, (bool,), "True or False", bool)
    POLL_INTERVAL = Setting(0.5, _SECONDS, IN_SECONDS, _seconds, positive=True)
    EXECUTOR = Setting(
        "thread",
        (str,),
        '"thread", "process", "celery", "django_tasks", "immediate" or a dotted path',
        _executor,
    )
    MAX_WORKERS = Setting(10, (int,), "a positive integer", int, positive=True)
    TASKS_BACKEND = Setting("default", (str,), "an alias of Django's TASKS setting", str)
    QUEUED_LIMIT = Setting(3600.0, _SECONDS, IN_SECONDS, _seconds, positive=True)
    CELERY_RUNS_PER_MESSAGE = Setting(1, (int,), "a positive integer", int, positive=True)
    HEARTBEAT_INTERVAL = Setting(10.0, _SECONDS, IN_SECONDS, _seconds, positive=True)
    LOST_AFTER = Setting(60.0, _SECONDS, IN_SECONDS, _seconds, positive=True)
    RUN_RETENTION = Setting(
        timedelta(days=30), _SECONDS, "a timedelta or seconds", _duration, positive=True
    )
    FAILED_RUN_RETENTION = Setting(
        None,
        (*_SECONDS, _NONE),
        "a timedelta, seconds, or None (as RUN_RETENTION)",
        _duration,
        positive=True,
        or_else="RUN_RETENTION",
    )
    RUNS_PER_JOB = Setting(
        None, (int, _NONE), "a positive integer or None (no limit)", _count, positive=True
    )
    MANUAL_RUNS_PER_JOB = Setting(3, (int,), "a positive integer", int, positive=True)
    # Dotted paths, not classes: reading them imports nothing, so the core needs no DRF.
    ALLOWED_TASKS = Setting((), _LIST, "a list of dotted paths to callables", _strings)
    MANAGEMENT_COMMANDS = Setting((), _LIST, "a list of management command names", _strings)
    ARGS_MAX_BYTES = Setting(65536, (int,), "a positive integer (bytes)", int, positive=True)
    RESULT_MAX_BYTES = Setting(65536, (int,), "a positive integer (bytes)", int, positive=True)
    SHUTDOWN_GRACE = Setting(30.0, _SECONDS, IN_SECONDS, _seconds, positive=True)
    OUTPUT_LIMIT = Setting(65536, (int,), "a positive integer (characters)", int, positive=True)
    CANCEL_GRACE = Setting(5.0, _SECONDS, IN_SECONDS, _seconds, positive=True)
    CONNECTION_RECYCLE = Setting(60.0, _SECONDS, IN_SECONDS, _seconds, positive=True)
    WEBHOOK_ALLOWED_HOSTS = Setting(
        (), _LIST, "a list of host names that webhooks may reach on internal addresses", _strings
    )
    SENSITIVE_KEYS = Setting(
        (), _LIST, "a list of words that mark an argument's key as holding a secret", _strings
    )
    NOTIFY_EMAIL_DOMAINS = Setting(
        (),
        _LIST,
        "a list of domains that notification e-mails may go to (empty: any)",
        _strings,
    )
    NOTIFY_QUIET_PERIOD = Setting(
        timedelta(minutes=5), _SECONDS, IN_SECONDS, _duration, positive=True
    )
    SITE_URL = Setting(
        "", (str,), 'the address of the site, e.g. "https://ops.example.com", or ""', str
    )
    METRICS_PORT = Setting(0, (int,), "a port number, 1 to 65535, or 0 for none", int)
    METRICS_ADDRESS = Setting("127.0.0.1", (str,), "an address to listen on, e.g. 127.0.0.1", str)
    METRICS_TOKEN = Setting("", (str,), "a secret string, or empty for none", str)
    API_PERMISSION_CLASSES = Setting(
        (DEFAULT_API_PERMISSION,), _LIST, "a list of dotted paths to permission classes", _strings
    )
    AUDIT_TRAIL = Setting(True, (bool,), "True or False", bool)

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


KEYS: dict[str, Setting[Any]] = {
    name: value for name, value in vars(Settings).items() if isinstance(value, Setting)
}
STRING_LISTS = tuple(name for name, key in KEYS.items() if key.types == _LIST)

settings = Settings()
setting_changed.connect(settings.reload)
