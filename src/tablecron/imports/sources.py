"""What ``manage.py tablecron import SOURCE`` reads: a peer's installed app, a file, or
a model. Each peer's module is imported only when its source is asked for."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

from django.apps import apps
from django.core.exceptions import FieldDoesNotExist
from django.db.models import Model

from tablecron.exceptions import ImportSourceError
from tablecron.imports import Candidate, Refused

PEERS = {"celery-beat": "django_celery_beat", "django-apscheduler": "django_apscheduler"}
HELP = (
    "celery-beat (django-celery-beat's PeriodicTask), django-apscheduler (its DjangoJob), "
    "a .json or .csv file of APScheduler triggers and their arguments, or app_label.Model: "
    "a model of pickled APScheduler job states (a job_state field) or of such rows"
)


def read(source: str) -> Iterator[Candidate | Refused]:
    """The rows of ``source`` (see ``HELP``), as candidates for jobs or refusals."""
    if source in PEERS:
        if not apps.is_installed(PEERS[source]):
            raise ImportSourceError(f"{PEERS[source]} is not in INSTALLED_APPS.")
        if source == "celery-beat":
            from tablecron.imports import celery_beat

            return celery_beat.read()
        return _read_pickled(apps.get_model(PEERS[source], "DjangoJob"))
    if source.endswith((".json", ".csv")):
        return _read_rows(_file_rows(Path(source)), Path(source).name)
    try:
        model = apps.get_model(source)
    except (LookupError, ValueError):
        raise ImportSourceError(f"{source!r} is not a source: give {HELP}.") from None
    try:
        model._meta.get_field("job_state")
    except FieldDoesNotExist:
        return _read_rows(model._default_manager.order_by("pk").values(), model._meta.label)
    return _read_pickled(model)


def _apscheduler() -> ModuleType:
    try:
        from tablecron.imports import apscheduler
    except ImportError:
        raise ImportSourceError(
            "Reading APScheduler jobs needs APScheduler 3 installed: pip install 'apscheduler<4'."
        ) from None
    return apscheduler


def _read_pickled(model: type[Model]) -> Iterator[Candidate | Refused]:
    rows: Iterator[Candidate | Refused] = _apscheduler().read_pickled(model)
    return rows


def _read_rows(rows: Iterable[Mapping[str, Any]], where: str) -> Iterator[Candidate | Refused]:
    read_rows: Iterator[Candidate | Refused] = _apscheduler().read_rows(rows, where)
    return read_rows


def _file_rows(path: Path) -> list[dict[str, object]]:
    try:
        with path.open(newline="", encoding="utf-8") as file:
            rows = list(csv.DictReader(file)) if path.suffix == ".csv" else json.load(file)
    except (OSError, ValueError) as exc:
        raise ImportSourceError(f"Cannot read {path}: {exc}") from None
    if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
        raise ImportSourceError(f"{path} does not hold a list of objects, one per job.")
    return rows
