"""Serializers of the REST API.

A job is validated by the model's own ``full_clean()``: DRF's fields only parse JSON into
Python values, so the API, the admin and ORM code accept and refuse the same rows, with
the same messages on the same fields. Writes go through the ORM, which keeps
``next_run_at`` true.
"""

from __future__ import annotations

import copy
from typing import Any

from django.core.exceptions import NON_FIELD_ERRORS
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, models, transaction
from django.utils.functional import lazy
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers
from rest_framework.settings import api_settings

from tablecron.calendar_rules import MAX_CALENDAR_DAY
from tablecron.code_jobs import OWNED_FIELDS
from tablecron.contrib.rest_framework.fields import (
    AwareDateTimeField,
    BlankAsNullChoiceField,
    DurationField,
)
from tablecron.describe import describe_schedule
from tablecron.models import CalendarRule, CodeStatus, Job, RunStatus
from tablecron.secrets import ARGUMENT_FIELDS, URL_FIELDS, mask_field, reveals

# At most this many upcoming fire times per request: each one is computed on the spot.
MAX_UPCOMING = 100
DEFAULT_UPCOMING = 5

PARAMETER_KINDS = [
    "positional_only",
    "positional_or_keyword",
    "var_positional",
    "keyword_only",
    "var_keyword",
]
JSON_TYPES = ["string", "integer", "number", "boolean", "array", "object", "null"]


def model_errors(exc: DjangoValidationError) -> serializers.ValidationError:
    """The model's ValidationError as DRF's, its ``__all__`` errors as non-field errors."""
    detail = serializers.as_serializer_error(exc)
    if NON_FIELD_ERRORS in detail:
        detail[api_settings.NON_FIELD_ERRORS_KEY] = detail.pop(NON_FIELD_ERRORS)
    return serializers.ValidationError(detail)


# DRF's own message quotes the value sent back, which may not even encode (a lone
# surrogate); this one names the choices instead.
def _rule_choices() -> str:
    return gettext("Choose one of: %(rules)s.") % {"rules": ", ".join(CalendarRule.values)}


RULE_ERRORS = {"invalid_choice": lazy(_rule_choices, str)()}


class JobSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    """A job. Beyond each field's own limits, its values keep rules between fields, checked
    when it is written (a 400 naming the field): at most one of ``cron``, ``interval``,
    ``run_at`` and ``after`` (none: it runs only when asked), and ``after`` names a job
    that does not run after this one, however far round; ``end_at`` later than ``start_at``, and
    ``run_at`` between them; ``calendar_day`` only with the ``calendar_rule`` "nth", and
    a rule other than "skip" only with a ``calendar``; ``args`` and ``kwargs`` fit the
    task's parameters (``tasks/{name}/``). A PUT replaces the job: a field it leaves out
    takes its default."""

    schedule_description = serializers.SerializerMethodField(
        help_text=_("The schedule in words, in the active language.")
    )
    last_status = BlankAsNullChoiceField(
        choices=RunStatus.choices,
        help_text=_("How the last run ended; null until one has."),
    )
    calendar_rule = serializers.ChoiceField(
        choices=CalendarRule.choices,
        required=False,
        error_messages=RULE_ERRORS,
        help_text=Job._meta.get_field("calendar_rule").help_text,
    )
    code_status = BlankAsNullChoiceField(
        choices=CodeStatus.choices,
        help_text=_(
            "“declared” for a job declared in code, “removed” when code no longer declares "
            "it; null for a job made in the table."
        ),
    )
    serializer_field_mapping = {
        **serializers.ModelSerializer.serializer_field_mapping,
        models.DateTimeField: AwareDateTimeField,
        models.DurationField: DurationField,
    }

    class Meta:
        model = Job
        fields = [
            "id",
            "name",
            "description",
            "task",
            "args",
            "kwargs",
            "cron",
            "interval",
            "run_at",
            "timezone",
            "start_at",
            "end_at",
            "calendar",
            "calendar_rule",
            "calendar_day",
            "after",
            "jitter",
            "enabled",
            "misfire_grace",
            "coalesce",
            "max_instances",
            "timeout",
            "max_retries",
            "retry_delay",
            "queue",
            "concurrency_group",
            "notify",
            "notify_emails",
            "notify_webhook",
            "alert_after",
            "schedule_description",
            "next_run_at",
            "last_run_at",
            "last_status",
            "last_success_at",
            "alert_state",
            "alerted_at",
            "version",
            "code_status",
            "created_at",
            "updated_at",
        ]
        # Kept by tablecron: computed on every write, or written by the scheduler.
        read_only_fields = [
            "next_run_at",
            "last_run_at",
            "last_status",
            "last_success_at",
            "alert_state",
            "alerted_at",
            "version",
            "code_status",  # "manage.py tablecron sync"'s
            "created_at",
            "updated_at",
        ]

    def get_schedule_description(self, job: Job) -> str:
        return describe_schedule(job)

    def to_representation(self, instance: Job) -> dict[str, Any]:
        return masked(self, super().to_representation(instance))

    def get_fields(self) -> dict[str, serializers.Field]:  # type: ignore[type-arg]
        fields = super().get_fields()
        for name, field in fields.items():
            if field.read_only:
                continue
            # The model field's own validators and blank rule in place of DRF's: one set
            # of rules, in the model's words, which drf-spectacular turns into the
            # schema's limits (maxLength, minLength, pattern, minimum ...). The rules
            # between fields, and uniqueness, are full_clean()'s, in validate().
            model_field = Job._meta.get_field(name)
            assert isinstance(model_field, models.Field)
            field.validators = list(model_field.validators)
            if isinstance(field, serializers.CharField):
                field.allow_blank = model_field.blank
                # A copy: DRF's error_messages is typed as a read-only Mapping.
                field.error_messages = {
                    **field.error_messages,
                    "blank": model_field.error_messages["blank"],
                }
        return fields

    def get_validators(self) -> list[Any]:
        return []  # the model's constraints are checked by full_clean()

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if self.instance is not None and not self.partial:
            attrs = {**self._defaults(), **attrs}  # a PUT replaces the job
        if self.instance is not None and self.instance.code_status == CodeStatus.DECLARED:
            # As the admin shows them read-only: the next sync would undo such a change.
            owned = {
                name: [_("This job is declared in code: change this field there.")]
                for name in OWNED_FIELDS
                if name in attrs and attrs[name] != getattr(self.instance, name)
            }
            if owned:
                raise serializers.ValidationError(owned)
        try:
            self.as_saved(attrs).full_clean()
        except DjangoValidationError as exc:
            raise model_errors(exc) from None
        return attrs

    def _defaults(self) -> dict[str, Any]:
        """Each field a client writes, at its default: what a PUT leaves out."""
        writable = [name for name, field in self.fields.items() if not field.read_only]
        defaults = {}
        for name in writable:
            field = Job._meta.get_field(name)
            assert isinstance(field, models.Field)
            if field.has_default() or field.null or field.blank:
                defaults[name] = field.get_default()
        return defaults

    def as_saved(self, attrs: dict[str, Any]) -> Job:
        """The job as writing ``attrs`` would save it, unsaved: a copy, since a refused
        update must leave the instance as it was loaded."""
        job = copy.copy(self.instance) if self.instance is not None else Job()
        for name, value in attrs.items():
            setattr(job, name, value)
        return job

    def create(self, validated_data: dict[str, Any]) -> Job:
        job = Job(**validated_data)
        _save(job)
        return job

    def update(self, instance: Job, validated_data: dict[str, Any]) -> Job:
        for name, value in validated_data.items():
            setattr(instance, name, value)
        # Only the fields the request sent: a PATCH never writes back fields someone else
        # changed meanwhile. Job.save() reschedules when a schedule field is among them.
        _save(instance, update_fields=list(validated_data))
        return instance


def masked(serializer: serializers.BaseSerializer[Any], data: dict[str, Any]) -> dict[str, Any]:
    """``data`` with its secret-looking values masked (``tablecron.secrets``), unless the
    request's user may change jobs, or code serializes without a request."""
    request = serializer.context.get("request")
    if request is None or reveals(request.user):
        return data
    return {
        name: mask_field(name, value) if name in (*ARGUMENT_FIELDS, *URL_FIELDS) else value
        for name, value in data.items()
    }


def _save(job: Job, **kwargs: Any) -> None:
    """Save; a row that became invalid since validate() (a name taken meanwhile) is a 400."""
    try:
        with transaction.atomic():
            job.save(**kwargs)
    except IntegrityError:
        try:
            job.full_clean()
        except DjangoValidationError as exc:
            raise model_errors(exc) from None
        raise


class TaskParameterSerializer(serializers.Serializer):  # type: ignore[type-arg]
    name = serializers.CharField()
    kind = serializers.ChoiceField(choices=PARAMETER_KINDS)
    # DRF's metaclass takes declared fields off the class: no clash with Field.required.
    required = serializers.BooleanField()  # type: ignore[assignment]
    default = serializers.JSONField(
        allow_null=True, help_text=_("The default value; null when there is none.")
    )
    annotation = serializers.CharField(help_text=_("The type annotation as written."))
    json_types = serializers.ListField(
        child=serializers.ChoiceField(choices=JSON_TYPES),
        help_text=_("The JSON types the value must have; empty when any will do."),
    )


class TaskSerializer(serializers.Serializer):  # type: ignore[type-arg]
    """A registered task (read-only): what a job's ``task`` may name."""

    name = serializers.CharField(read_only=True)
    description = serializers.CharField(read_only=True)
    signature = serializers.CharField(read_only=True)
    is_async = serializers.BooleanField(read_only=True)
    is_django_task = serializers.BooleanField(read_only=True)
    parameters = TaskParameterSerializer(many=True, read_only=True)


class UpcomingSerializer(serializers.Serializer):  # type: ignore[type-arg]
    upcoming = serializers.ListField(child=serializers.DateTimeField(), read_only=True)


class CountSerializer(serializers.Serializer):  # type: ignore[type-arg]
    count = serializers.IntegerField(
        default=DEFAULT_UPCOMING,
        min_value=1,
        max_value=MAX_UPCOMING,
        write_only=True,
        help_text=_("How many fire times to list."),
    )


def _schedule_field(field_class: type[serializers.Field], name: str, **kwargs: Any) -> Any:  # type: ignore[type-arg]
    """An input like the job's field ``name``, with its help text."""
    help_text = getattr(Job._meta.get_field(name), "help_text", "")
    return field_class(required=False, write_only=True, help_text=help_text, **kwargs)


class ScheduleUpcomingSerializer(CountSerializer):
    """A schedule to try: in, the job's schedule fields; out, its upcoming fire times.

    Validated like a job (only the fields given); nothing is stored.
    """

    cron = _schedule_field(serializers.CharField, "cron", allow_blank=True)
    interval = _schedule_field(DurationField, "interval", allow_null=True)
    run_at = _schedule_field(AwareDateTimeField, "run_at", allow_null=True)
    timezone = _schedule_field(serializers.CharField, "timezone")
    start_at = _schedule_field(AwareDateTimeField, "start_at", allow_null=True)
    end_at = _schedule_field(AwareDateTimeField, "end_at", allow_null=True)
    calendar = _schedule_field(serializers.CharField, "calendar", allow_blank=True, max_length=100)
    calendar_rule = _schedule_field(
        serializers.ChoiceField,
        "calendar_rule",
        choices=CalendarRule.choices,
        error_messages=RULE_ERRORS,
    )
    calendar_day = _schedule_field(
        serializers.IntegerField,
        "calendar_day",
        allow_null=True,
        min_value=-MAX_CALENDAR_DAY,
        max_value=MAX_CALENDAR_DAY,
    )
    upcoming = serializers.ListField(child=serializers.DateTimeField(), read_only=True)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        schedule = {name: value for name, value in attrs.items() if name != "count"}
        try:
            upcoming = Job.upcoming_for(attrs["count"], **schedule)
        except DjangoValidationError as exc:
            raise model_errors(exc) from None
        return {**attrs, "upcoming": upcoming}
