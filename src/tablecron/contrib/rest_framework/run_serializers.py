"""Serializers of the REST API's runs: a run, one cancelled, a run asked for, its output.
Arguments are masked for whoever may not change jobs, as a job's are (``serializers``)."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from tablecron.contrib.rest_framework.serializers import masked
from tablecron.models import JobRun, RunStatus
from tablecron.validators import JSONArguments

_RUN_ARGUMENTS = _(
    "What it ran with: its job's when it was claimed, or its own (a run with other "
    "arguments, a rerun); null for a run recorded before runs kept their arguments."
)


@extend_schema_field({"type": "array", "items": {}, "nullable": True})
class RunArgsField(serializers.JSONField):
    """A run's ``args``: a JSON list, or null (as the schema says)."""


@extend_schema_field({"type": "object", "additionalProperties": {}, "nullable": True})
class RunKwargsField(serializers.JSONField):
    """A run's ``kwargs``: a JSON object, or null (as the schema says)."""


class JobRunSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    """A run. Its output is read apart, at runs/{id}/output/: listing runs reads none."""

    args = RunArgsField(read_only=True, allow_null=True, help_text=_RUN_ARGUMENTS)
    kwargs = RunKwargsField(read_only=True, allow_null=True, help_text=_RUN_ARGUMENTS)
    duration = serializers.DurationField(
        read_only=True, allow_null=True, help_text=_("finished_at minus started_at")
    )
    worker_host = serializers.CharField(
        read_only=True, help_text=_("The host part of worker: where it ran, or runs.")
    )
    waiting_reason = serializers.CharField(
        read_only=True,
        help_text=_(
            "Why it has not started, while its concurrency group is full: “waiting for group "
            "warehouse: 1 of 1 running”; empty otherwise."
        ),
    )
    time_queued = serializers.SerializerMethodField(
        help_text=_(
            "Seconds from queued_at until it started, or until now while it waits in the "
            "queue; null when it was never queued."
        )
    )
    time_running = serializers.SerializerMethodField(
        help_text=_(
            "Seconds from started_at until finished_at, or until now while it runs; null "
            "when it has not started."
        )
    )

    class Meta:
        model = JobRun
        fields = [
            "id",
            "job",
            "job_name",
            "scheduled_for",
            "not_before",
            "started_at",
            "finished_at",
            "duration",
            "status",
            "attempt",
            "trigger",
            "result",
            "error",
            "executor",
            "queue",
            "queued_at",
            "engine_id",
            "worker",
            "worker_host",
            "claimed_by",
            "time_queued",
            "time_running",
            "args",
            "kwargs",
            "rerun_of",
            "cancel_requested_at",
            "cancel_requested_by",
            "concurrency_group",
            "waiting_since",
            "waiting_reason",
        ]
        read_only_fields = fields

    def to_representation(self, instance: JobRun) -> dict[str, Any]:
        return masked(self, super().to_representation(instance))  # the arguments it ran with

    def get_time_queued(self, run: JobRun) -> float | None:
        queued = run.time_queued
        return None if queued is None else queued.total_seconds()

    def get_time_running(self, run: JobRun) -> float | None:
        running = run.time_running
        return None if running is None else running.total_seconds()


CANCEL_OUTCOMES = ("cancelled", "requested")


class CancelledRunSerializer(JobRunSerializer):
    """A run just cancelled, and how."""

    cancel = serializers.SerializerMethodField(
        help_text=_(
            "“cancelled”: it had not started, and never will; “requested”: it was running, "
            "and its process stops it within about a second (follow it at runs/{id}/)."
        )
    )

    class Meta(JobRunSerializer.Meta):
        fields = [*JobRunSerializer.Meta.fields, "cancel"]
        read_only_fields = fields

    @extend_schema_field(serializers.ChoiceField(choices=CANCEL_OUTCOMES))
    def get_cancel(self, run: JobRun) -> str:
        return "cancelled" if run.status == RunStatus.CANCELLED else "requested"


class RunNowSerializer(serializers.Serializer):  # type: ignore[type-arg]
    """Other arguments for this run only, checked against the task's signature as the
    job's own are (the job is not changed), and whether it may start beside the job's
    running ones. Optional, as is each field."""

    args = serializers.JSONField(
        required=False,
        allow_null=True,
        validators=[JSONArguments(list)],
        help_text=_("The positional arguments of this run; absent or null: the job's."),
    )
    kwargs = serializers.JSONField(
        required=False,
        allow_null=True,
        validators=[JSONArguments(dict)],
        help_text=_("The keyword arguments of this run; absent or null: the job's."),
    )
    ignore_max_instances = serializers.BooleanField(
        default=False,
        help_text=_(
            "Start the run even while the job's max_instances runs are running; by default "
            "it waits for one of them to end."
        ),
    )


class OutputQuerySerializer(serializers.Serializer):  # type: ignore[type-arg]
    offset = serializers.IntegerField(
        default=0,
        min_value=0,
        write_only=True,
        help_text=_(
            "Where to start, in characters of the output: 0 for all of it, or the "
            "next_offset of the last answer, to follow a run."
        ),
    )


class RunOutputSerializer(serializers.Serializer):  # type: ignore[type-arg]
    """A run's output from offset on, and where to read next."""

    text = serializers.CharField(
        read_only=True,
        help_text=_(
            "Each line as “YYYY-MM-DD HH:MM:SS.mmm STREAM text”, STREAM being stdout, "
            "stderr or a logging level and logger; a part cut for OUTPUT_LIMIT is marked."
        ),
    )
    offset = serializers.IntegerField(read_only=True, help_text=_("The offset asked for."))
    next_offset = serializers.IntegerField(
        read_only=True, help_text=_("The offset to ask for next: what follows this text.")
    )
    status = serializers.ChoiceField(
        choices=RunStatus.choices, read_only=True, help_text=_("The run's status.")
    )
    finished = serializers.BooleanField(
        read_only=True,
        help_text=_(
            "True once the run has ended: the text then holds all the output (read after "
            "the status, which is written with the rest of it)."
        ),
    )
