"""What may be scheduled: registered functions and Django Tasks, looked up by name.

Only names in this registry (or in the ``ALLOWED_TASKS`` setting) can be put in a job's
``task`` field, so a row typed into a web form can never name arbitrary code; and no
gateway to code (``tablecron.gateways``: ``call_command``, ``subprocess.run`` ...) is
ever one of them, since a job's arguments are typed into the same form.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import inspect
import json
import threading
import types
import typing
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, overload

from django.core.exceptions import ValidationError
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _

from tablecron import command_task
from tablecron.code_jobs import declare, schedule_fields
from tablecron.conf import settings
from tablecron.exceptions import GatewayTask, RefusedTask, TaskAlreadyRegistered, UnknownTask
from tablecron.gateways import gateway_of


@functools.cache
def _django_task_classes() -> tuple[type, ...]:
    """Django 6's Task class and the django-tasks backport's, whichever are installed."""
    classes: list[type] = []
    for module in ("django.tasks.base", "django_tasks.base"):
        with contextlib.suppress(ImportError):
            classes.append(importlib.import_module(module).Task)
    return tuple(classes)


def is_django_task(obj: object) -> bool:
    return isinstance(obj, _django_task_classes())


@dataclass(frozen=True)
class TaskParameter:
    """One parameter of a task, described in JSON terms: enough for a front end's form."""

    name: str
    kind: str  # "positional_only", "positional_or_keyword", "var_positional", ...
    required: bool
    default: Any  # the default when it is JSON, else None
    annotation: str  # as written, "" when there is none
    json_types: tuple[str, ...]  # JSON Schema type names the value must have; () = any


@dataclass(frozen=True)
class RegisteredTask:
    """A schedulable callable. ``target`` is the function, or the Django Task to enqueue."""

    name: str
    target: Any
    description: str = ""
    # A check of the arguments beyond the signature's (the built-in management_command's:
    # the command is listed, its parser accepts them), raising a ValidationError.
    check: Callable[[Sequence[Any], dict[str, Any]], None] | None = field(
        default=None, compare=False
    )
    signature: inspect.Signature = field(init=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "signature", inspect.signature(self.func))

    # Cached: looked at for every run.
    @functools.cached_property
    def func(self) -> Callable[..., Any]:
        func: Callable[..., Any] = self.target.func if self.is_django_task else self.target
        return func

    @functools.cached_property
    def is_django_task(self) -> bool:
        return is_django_task(self.target)

    @functools.cached_property
    def is_async(self) -> bool:
        return inspect.iscoroutinefunction(self.func)

    def parameters(self) -> list[TaskParameter]:
        """The function's parameters, in order, with JSON-safe defaults and types."""
        hints = self._type_hints()
        described = []
        for name, parameter in self.signature.parameters.items():
            has_default = parameter.default is not inspect.Parameter.empty
            annotation = hints.get(name, parameter.annotation)
            described.append(
                TaskParameter(
                    name=name,
                    kind=parameter.kind.name.lower(),
                    required=not has_default and parameter.kind not in _VARIADIC,
                    default=parameter.default
                    if has_default and _is_json(parameter.default)
                    else None,
                    annotation=_annotation_text(annotation),
                    json_types=tuple(_JSON_NAMES[t] for t in _json_types(annotation)),
                )
            )
        return described

    def check_arguments(self, args: Sequence[Any], kwargs: dict[str, Any]) -> None:
        """Raise a ValidationError on ``args`` or ``kwargs`` when they do not fit."""
        try:
            self.signature.bind_partial(*args)
        except TypeError as exc:
            raise self._signature_error("args", exc) from None
        try:
            bound = self.signature.bind(*args, **kwargs)
        except TypeError as exc:
            raise self._signature_error("kwargs", exc) from None
        hints = self._type_hints()
        for position, (name, value) in enumerate(bound.arguments.items()):
            expected = _json_types(hints.get(name))
            kind = self.signature.parameters[name].kind
            if expected and kind not in _VARIADIC and not _matches(value, expected):
                raise ValidationError(
                    {
                        "args" if position < len(args) else "kwargs": _(
                            "Argument “%(name)s” of %(task)s must be %(expected)s, not %(value)s."
                        )
                        % {
                            "name": name,
                            "task": self.name,
                            "expected": " or ".join(t.__name__ for t in expected),
                            "value": json.dumps(value),
                        }
                    },
                    code="type",
                )
        if self.check is not None:
            self.check(args, kwargs)

    def _type_hints(self) -> dict[str, Any]:
        try:
            return typing.get_type_hints(self.func)
        except Exception:  # unresolvable annotations: leave the values unchecked
            return {}

    def _signature_error(self, field: str, exc: TypeError) -> ValidationError:
        message = _("These arguments do not fit %(task)s%(signature)s: %(reason)s.") % {
            "task": self.name,
            "signature": self.signature,
            "reason": exc,
        }
        return ValidationError({field: message}, code="signature")


_VARIADIC = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
_JSON_TYPES = (str, int, float, bool, list, dict, type(None))


def _json_types(annotation: Any) -> tuple[type, ...]:
    """The JSON types an annotation admits, or () when it says nothing checkable."""
    origin = typing.get_origin(annotation)
    if origin in (types.UnionType, typing.Union):
        options = [_json_types(arg) for arg in typing.get_args(annotation)]
        return () if not all(options) else tuple(t for option in options for t in option)
    annotation = origin or annotation
    return (annotation,) if annotation in _JSON_TYPES else ()


_JSON_NAMES = {
    str: "string",
    int: "integer",
    float: "number",
    bool: "boolean",
    list: "array",
    dict: "object",
    type(None): "null",
}


def _is_json(value: Any) -> bool:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return False
    return True


def _annotation_text(annotation: Any) -> str:
    if annotation is inspect.Parameter.empty:
        return ""
    if isinstance(annotation, str):  # a forward reference that did not resolve
        return annotation
    return inspect.formatannotation(annotation).replace("typing.", "")


def _matches(value: Any, expected: tuple[type, ...]) -> bool:
    if isinstance(value, bool):
        return bool in expected
    if isinstance(value, int) and float in expected:
        return True
    return isinstance(value, expected)


class TaskRegistry:
    """Registered tasks by name. Thread-safe; discovery happens in ``AppConfig.ready()``."""

    def __init__(self) -> None:
        self._tasks: dict[str, RegisteredTask] = {}
        self._lock = threading.Lock()

    def add(self, target: Any, *, name: str | None = None, description: str = "") -> RegisteredTask:
        func = target.func if is_django_task(target) else target
        if not callable(func):
            raise TypeError(f"tablecron can only register callables, not {target!r}")
        name = name or f"{func.__module__}.{func.__qualname__}"
        gateway = gateway_of(func)
        if gateway:
            raise GatewayTask(
                f"The tablecron task {name!r} is {gateway}, which runs whatever code or "
                f"command its arguments name: anyone who may edit jobs could run anything. "
                f"Register a function of your own that does the one thing the job needs."
            )
        if not description:
            description = (inspect.getdoc(func) or "").split("\n\n")[0].replace("\n", " ")
        task = RegisteredTask(name=name, target=target, description=description)
        with self._lock:
            existing = self._tasks.get(name)
            if existing is not None and existing.func is not func:
                raise TaskAlreadyRegistered(
                    f"Two callables are registered as the tablecron task {name!r}: "
                    f"{_path(existing.func)} and {_path(func)}. Give one of them another name "
                    f"with @register(name=...)."
                )
            self._tasks[name] = task
        return task

    def remove(self, name: str) -> None:
        with self._lock:
            self._tasks.pop(name, None)

    def get(self, name: str) -> RegisteredTask:
        """The task called ``name``, importing it from ``ALLOWED_TASKS`` on first use.

        Raises ``UnknownTask``, or ``RefusedTask`` for a gateway to code in ``ALLOWED_TASKS``
        (the system check ``tablecron.E014`` names it; this holds when it is silenced).
        """
        task = self._tasks.get(name) or _builtin_tasks().get(name)
        if task is not None:
            return task
        if name in settings.ALLOWED_TASKS:
            target = import_string(name)
            gateway = gateway_of(target, name)
            if gateway:
                raise RefusedTask(name, gateway)
            return self.add(target, name=name)
        raise UnknownTask(name)

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        try:
            self.get(name)
        except UnknownTask:
            return False
        return True

    def __iter__(self) -> Iterator[RegisteredTask]:
        for name in settings.ALLOWED_TASKS:
            with contextlib.suppress(RefusedTask):
                self.get(name)
        every = {**_builtin_tasks(), **self._tasks}
        return iter(sorted(every.values(), key=lambda task: task.name))


def _builtin_tasks() -> dict[str, RegisteredTask]:
    """tablecron's own tasks, each while its setting enables it: a project that does not
    use one sees none."""
    if not settings.MANAGEMENT_COMMANDS:
        return {}
    return {command_task.TASK_NAME: _management_command_task()}


@functools.cache
def _management_command_task() -> RegisteredTask:
    return RegisteredTask(
        name=command_task.TASK_NAME,
        target=command_task.management_command,
        description=(inspect.getdoc(command_task.management_command) or "").split("\n")[0],
        check=command_task.check_arguments,
    )


def _path(func: Callable[..., Any]) -> str:
    return f"{func.__module__}.{func.__qualname__}"


tasks = TaskRegistry()


# register(schedule=...): a cron expression, an interval or a single run time.
ScheduleShorthand = str | timedelta | datetime


@overload
def register(target: Callable[..., Any], /) -> Callable[..., Any]: ...
@overload
def register(
    *, name: str | None = None, description: str = "", schedule: ScheduleShorthand | None = None
) -> Callable[[Callable[..., Any]], Callable[..., Any]]: ...
def register(
    target: Any = None,
    /,
    *,
    name: str | None = None,
    description: str = "",
    schedule: ScheduleShorthand | None = None,
) -> Any:
    """Mark a function (sync or ``async def``) or a Django Task as schedulable.

    Use as ``@register`` or ``@register(name="reports.daily", description="...")``; the
    default name is the function's dotted path. ``schedule=`` (a cron expression, a
    ``timedelta`` or a ``datetime``) also declares a job of the task's name that runs it
    so (see ``tablecron.declare``). Returns the target unchanged.
    """

    def decorate(target: Any) -> Any:
        task = tasks.add(target, name=name, description=description)
        if schedule is not None:
            declare(task.name, task=task.name, **schedule_fields(schedule))
        return target

    return decorate(target) if target is not None else decorate
