"""drf-spectacular's ``AutoSchema`` for tablecron's views: every answer documented.

drf-spectacular documents the success of each operation. A client generated from the
schema must also know the refusals: this class adds them, from what the operation takes.
"""

from __future__ import annotations

import functools
import zoneinfo
from collections.abc import Callable
from typing import Any

from django.utils.translation import gettext_lazy as _
from drf_spectacular import openapi
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers

from tablecron.registry import tasks
from tablecron.validators import JSONArguments


class ErrorSerializer(serializers.Serializer):  # type: ignore[type-arg]
    detail = serializers.CharField(help_text=_("What was wrong with the request."))


# DRF's validation errors: each field's messages, ``non_field_errors`` for the whole
# object, or ``detail`` when the body could not be read at all.
FIELD_ERRORS = {
    "type": "object",
    "additionalProperties": {
        "oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]
    },
}
NO_NUL = "^[^\\u0000]*$"


@functools.cache
def zone_names() -> list[str]:
    """The IANA time zones a job may name (those ``schedules.get_zone`` opens)."""
    return sorted(zoneinfo.available_timezones())


def task_names() -> list[str]:
    return [task.name for task in tasks]


# What a client sends in these fields is one of a list the schema can give, read when the
# schema is asked for (the tasks: those registered in this process).
ENUMERATED: dict[str, Callable[[], list[str]]] = {"timezone": zone_names, "task": task_names}
# The query parameters whose bad values are a 404, as DRF's paginators answer them.
PAGE_PARAMETERS = {"page", "cursor"}


class AutoSchema(openapi.AutoSchema):
    def get_operation(self, *args: Any, **kwargs: Any) -> dict[str, Any] | None:
        operation: dict[str, Any] | None = super().get_operation(*args, **kwargs)
        if operation is not None:
            responses = operation["responses"]
            for code, response in self._refusals(operation).items():
                responses.setdefault(code, self._get_response_for_code(response, code))  # type: ignore[no-untyped-call]
            operation["responses"] = dict(sorted(responses.items()))
        return operation

    def _refusals(self, operation: dict[str, Any]) -> dict[str, OpenApiResponse]:
        """The 4xx answers an operation can give, judged from what it takes."""
        parameters = operation.get("parameters", [])
        places = {parameter["in"] for parameter in parameters}
        names = {parameter["name"] for parameter in parameters}
        body = "requestBody" in operation
        refusals = {
            "401": OpenApiResponse(ErrorSerializer, _("Not signed in.")),
            "403": OpenApiResponse(ErrorSerializer, _("Not permitted.")),
        }
        if body or "query" in places:
            refusals["400"] = OpenApiResponse(
                FIELD_ERRORS, _("Field errors, or a body that is not JSON; nothing is stored.")
            )
        if "path" in places or names & PAGE_PARAMETERS:
            refusals["404"] = OpenApiResponse(ErrorSerializer, _("No such object, or page."))
        if body or self.method in ("POST", "PUT", "PATCH"):  # every view parses it first
            refusals["415"] = OpenApiResponse(ErrorSerializer, _("The body is not JSON."))
        return refusals

    def _get_filter_parameters(self) -> list[dict[str, Any]]:
        parameters: list[dict[str, Any]] = super()._get_filter_parameters()  # type: ignore[no-untyped-call]
        for parameter in parameters:
            schema = parameter["schema"]
            if schema.get("type") != "array":  # a list of choices refuses an empty one
                parameter["allowEmptyValue"] = True  # django-filter: empty filters nothing
            if schema.get("type") == "string" and not {"enum", "format"} & schema.keys():
                schema["pattern"] = NO_NUL  # Django's form fields refuse NUL characters
        return parameters

    def _map_serializer_field(
        self, field: Any, direction: str, bypass_extensions: bool = False
    ) -> dict[str, Any]:
        schema: dict[str, Any] = super()._map_serializer_field(  # type: ignore[no-untyped-call]
            field, direction, bypass_extensions
        )
        enumerated = ENUMERATED.get(getattr(field, "field_name", ""))
        values = enumerated() if enumerated else []
        if direction == "request" and values and schema.get("type") == "string":
            schema = {**schema, "enum": values}
        for validator in getattr(field, "validators", []):
            if isinstance(validator, JSONArguments):  # a job's args or kwargs
                kind = "array" if validator.kind is list else "object"
                schema = {**schema, "type": kind}
        return schema
