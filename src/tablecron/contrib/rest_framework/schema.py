"""The OpenAPI 3 schema of the API (drf-spectacular), limited to tablecron's endpoints."""

from __future__ import annotations

from typing import Any

from drf_spectacular.views import SpectacularAPIView

import tablecron
from tablecron.contrib.rest_framework import views
from tablecron.contrib.rest_framework.views import TablecronAPIMixin
from tablecron.models import Job


def only_tablecron(endpoints: list[tuple[Any, ...]], **kwargs: Any) -> list[tuple[Any, ...]]:
    """drf-spectacular preprocessing hook: keep the endpoints of this API, drop the project's.

    The schema is built from the project's URLconf, so paths carry the prefix the API is
    mounted under. The schema view itself is left out too: drf-spectacular describes it
    with the project's DEFAULT_SCHEMA_CLASS, which may be DRF's own.
    """
    return [
        (path, regex, method, callback)
        for path, regex, method, callback in endpoints
        if callback.cls.__module__ == views.__name__
    ]


class SchemaView(TablecronAPIMixin, SpectacularAPIView):
    """GET: the schema as YAML, or JSON with ``?format=json`` or ``Accept: application/json``."""

    queryset = Job.objects.none()  # whoever may see jobs may see how to reach them
    custom_settings = {
        "TITLE": "tablecron API",
        "DESCRIPTION": "Jobs, runs, registered tasks and upcoming fire times of tablecron.",
        "VERSION": tablecron.__version__,
        "PREPROCESSING_HOOKS": [f"{__name__}.only_tablecron"],
        # Separate request and response components: clients see which fields they send.
        "COMPONENT_SPLIT_REQUEST": True,
        # A run's status and a job's last_status share their choices: one enum, one name.
        # A job's last_status is null before its first run: a nullable reference to the
        # enum (OpenAPI 3.0's idiom, which generated clients read), not a NullEnum oneOf.
        "ENUM_ADD_EXPLICIT_BLANK_NULL_CHOICE": False,
        "ENUM_NAME_OVERRIDES": {
            "RunStatusEnum": "tablecron.models.RunStatus",
            "RunTriggerEnum": "tablecron.models.RunTrigger",
        },
    }
