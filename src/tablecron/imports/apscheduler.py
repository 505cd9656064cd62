"""Reading APScheduler 3 jobs: django-apscheduler's ``DjangoJob`` rows and any table of
pickled job states (APScheduler's own ``SQLAlchemyJobStore`` writes the same pickle), and
rows that name a trigger and its keyword arguments (a JSON or CSV file, a Django model).

Triggers are made or unpickled with APScheduler's own classes, then read field by field.
The pickles are loaded by an unpickler that admits APScheduler's triggers, dates and time
zones only: a job whose state holds anything else (a model instance in its kwargs, say)
is refused, and no other code runs.
"""

from __future__ import annotations

import inspect
import io
import pickle
from collections.abc import Iterable, Iterator, Mapping
from datetime import timedelta
from typing import Any

from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.cron.expressions import RangeExpression
from apscheduler.triggers.cron.fields import MAX_VALUES, MIN_VALUES
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger
from django.conf import settings as django_settings
from django.db.models import Model

from tablecron.exceptions import NotImportable
from tablecron.imports import Candidate, Refused, cron_field, day_fields, json_value

TRIGGERS = {"cron": CronTrigger, "interval": IntervalTrigger, "date": DateTrigger}
# What a pickled job state may refer to: APScheduler's triggers, dates and time zones.
_SAFE_MODULES = ("apscheduler.triggers", "datetime", "zoneinfo", "pytz", "dateutil.tz", "tzlocal")
_SAFE_BUILTINS = {"set", "frozenset", "tuple", "list", "dict", "int", "float", "str", "bool"}


def read_pickled(model: type[Model]) -> Iterator[Candidate | Refused]:
    """The jobs of a table of pickled APScheduler job states (``id``, ``job_state``)."""
    for pk, state in model._default_manager.order_by("pk").values_list("pk", "job_state"):
        source = f"{model._meta.label} {pk!r}"
        try:
            yield Candidate(source, *_from_job(_unpickle(bytes(state))))
        except NotImportable as exc:
            yield Refused(source, str(pk), str(exc))


def read_rows(rows: Iterable[Mapping[str, Any]], where: str) -> Iterator[Candidate | Refused]:
    """Jobs from rows naming a ``trigger`` (cron, interval, date) and its keyword
    arguments, flat or in ``trigger_args``; ``args`` and ``kwargs`` as JSON."""
    for number, row in enumerate(rows, start=1):
        name = str(row.get("name") or row.get("id") or "")
        source = f"{where} row {number}"
        try:
            yield Candidate(source, *_from_row(row, name))
        except NotImportable as exc:
            yield Refused(source, name, str(exc))


def _unpickle(state: bytes) -> Any:
    try:
        return _SafeUnpickler(io.BytesIO(state)).load()
    except NotImportable:
        raise
    except Exception as exc:  # whatever a damaged or foreign pickle raises
        raise NotImportable(f"its pickled state cannot be read ({exc!r})") from None


def _getattr(obj: Any, name: str) -> Any:
    """``getattr`` for pickles (a time zone's ``_unpickle``), barred from dunders: they are
    the way from an admitted class to any other."""
    if name.startswith("__"):
        raise NotImportable(f"its pickled state reaches for {name}")
    return getattr(obj, name)


class _SafeUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("builtins", "getattr"):
            return _getattr
        if module == "builtins":
            safe = name in _SAFE_BUILTINS
        else:
            safe = any(module == m or module.startswith(f"{m}.") for m in _SAFE_MODULES)
        if not safe:
            raise NotImportable(
                f"its pickled state holds a {module}.{name}; only JSON arguments can be imported"
            )
        return super().find_class(module, name)


def _from_job(state: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """A job state as ``Job.__getstate__()`` pickles it."""
    fields: dict[str, Any] = {
        "name": state["id"],
        "description": state.get("name") or "",
        "task": _task_name(state["func"]),
        "args": list(state.get("args") or ()),
        "kwargs": dict(state.get("kwargs") or {}),
        "enabled": state.get("next_run_time") is not None,  # None: paused
    }
    fields.update(_options(state))
    trigger_fields, notes = from_trigger(state["trigger"])
    return {**fields, **trigger_fields}, notes


def _from_row(row: Mapping[str, Any], name: str) -> tuple[dict[str, Any], list[str]]:
    kind = str(row.get("trigger") or "")
    if kind not in TRIGGERS:
        raise NotImportable(f"trigger {kind!r} is not one of {', '.join(TRIGGERS)}")
    trigger_class = TRIGGERS[kind]
    accepted = set(inspect.signature(trigger_class).parameters)
    given = dict(json_value(row.get("trigger_args"), {}, "trigger_args"))
    given.update({k: v for k, v in row.items() if k in accepted and v not in ("", None)})
    given.setdefault("timezone", django_settings.TIME_ZONE or "UTC")
    try:
        trigger = trigger_class(**{k: _number(k, v) for k, v in given.items()})
    except (TypeError, ValueError) as exc:
        raise NotImportable(f"APScheduler rejects the {kind} trigger's arguments: {exc}") from None
    fields: dict[str, Any] = {
        "name": name,
        "description": str(row.get("description") or ""),
        "task": _task_name(str(row.get("func") or row.get("task") or "")),
        "args": json_value(row.get("args"), [], "args"),
        "kwargs": json_value(row.get("kwargs"), {}, "kwargs"),
        "enabled": str(row.get("enabled", True)).lower() not in ("false", "0", "no"),
    }
    fields.update(_options(row))
    trigger_fields, notes = from_trigger(trigger)
    return {**fields, **trigger_fields}, notes


def _options(values: Mapping[str, Any]) -> dict[str, Any]:
    """The job options that tablecron shares with APScheduler, where given."""
    options: dict[str, Any] = {}
    if values.get("misfire_grace_time") not in (None, ""):
        options["misfire_grace"] = timedelta(seconds=float(values["misfire_grace_time"]))
    if values.get("coalesce") not in (None, ""):
        options["coalesce"] = str(values["coalesce"]).lower() not in ("false", "0", "no")
    if values.get("max_instances") not in (None, ""):
        options["max_instances"] = int(values["max_instances"])
    return options


def from_trigger(trigger: Any) -> tuple[dict[str, Any], list[str]]:
    """The schedule fields of an APScheduler 3 trigger; ``NotImportable`` if it has none."""
    fields: dict[str, Any] = {}
    notes: list[str] = []
    if isinstance(trigger, CronTrigger):
        fields["cron"] = _cron(trigger)
        fields["timezone"] = _zone_name(trigger.timezone)
    elif isinstance(trigger, IntervalTrigger):
        fields["interval"] = trigger.interval
        # APScheduler counts intervals from the start date (else from when the job was
        # added), on a grid: so does a job with that start.
        fields["start_at"] = trigger.start_date
    elif isinstance(trigger, DateTrigger):
        fields["run_at"] = trigger.run_date
        return fields, notes
    else:
        raise NotImportable(f"a {type(trigger).__name__}; tablecron reads cron, interval and date")
    if trigger.end_date is not None:
        fields["end_at"] = trigger.end_date
    if isinstance(trigger, CronTrigger) and trigger.start_date is not None:
        fields["start_at"] = trigger.start_date
    if trigger.jitter:
        fields["jitter"] = timedelta(seconds=trigger.jitter)
    return fields, notes


def _cron(trigger: CronTrigger) -> str:
    values = {field.name: _values(field) for field in trigger.fields}
    for name in ("year", "week"):
        if values[name] != set(range(MIN_VALUES[name], MAX_VALUES[name] + 1)):
            raise NotImportable(f"its cron trigger sets {name}; a cron expression has no {name}")
    # APScheduler numbers weekdays from Monday = 0, cron from Sunday = 0.
    days_of_week = {(day + 1) % 7 for day in values["day_of_week"]}
    day_of_month, day_of_week = day_fields(values["day"], days_of_week)
    fields = [
        cron_field(values["minute"], 0, 59),
        cron_field(values["hour"], 0, 23),
        day_of_month,
        cron_field(values["month"], 1, 12),
        day_of_week,
    ]
    if values["second"] != {0}:
        fields.insert(0, cron_field(values["second"], 0, 59))
    return " ".join(fields)


# The expressions that match plain ranges of values; "last" or "2nd fri" have no cron text.
_RANGES = ("AllExpression", "RangeExpression", "MonthRangeExpression", "WeekdayRangeExpression")


def _values(field: Any) -> set[int]:
    """The values a cron trigger's field matches."""
    low, high = MIN_VALUES[field.name], MAX_VALUES[field.name]
    values: set[int] = set()
    for expression in field.expressions:
        if type(expression).__name__ not in _RANGES:
            raise NotImportable(f"its cron trigger's {field.name}={field} has no cron equivalent")
        first, last = low, high
        if isinstance(expression, RangeExpression):  # "5", "5-9", "5/10" (5 to the end)
            first = expression.first
            last = high if expression.last is None else expression.last
        values.update(range(first, last + 1, expression.step or 1))
    return values


def _zone_name(zone: Any) -> str:
    return str(getattr(zone, "key", None) or getattr(zone, "zone", None) or zone)


def _task_name(func: str) -> str:
    """APScheduler's "module:qualname" reference as tablecron's dotted task name."""
    return func.replace(":", ".")


def _number(name: str, value: Any) -> Any:
    """Numbers typed as text (a CSV cell) for the triggers' numeric arguments."""
    if name in ("weeks", "days", "hours", "minutes", "seconds", "jitter") and isinstance(
        value, str
    ):
        return float(value) if "." in value else int(value)
    return value
