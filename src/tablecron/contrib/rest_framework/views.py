"""The API's viewsets: jobs, their runs, the task registry, and a schedule's upcoming fire
times.

Every view takes its permission classes from ``TABLECRON["API_PERMISSION_CLASSES"]``,
read on each request, and its pagination from the project's DRF settings when it has
one. Actions call the model's own methods; nothing here knows the scheduler.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any, TypeVar

from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.module_loading import import_string
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError
from rest_framework.pagination import BasePagination, CursorPagination, PageNumberPagination
from rest_framework.parsers import BaseParser
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.schemas.inspectors import ViewInspector
from rest_framework.serializers import BaseSerializer, Serializer
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from tablecron import audit
from tablecron.conf import settings
from tablecron.contrib.rest_framework import run_serializers, serializers
from tablecron.contrib.rest_framework.filters import JobFilter, JobRunFilter
from tablecron.contrib.rest_framework.openapi import AutoSchema, ErrorSerializer
from tablecron.contrib.rest_framework.parsers import JSONParser
from tablecron.contrib.rest_framework.permissions import CanViewOutput
from tablecron.exceptions import TooManyRuns, UnknownTask
from tablecron.models import Job, JobRun, RunOutput
from tablecron.models.run import ACTIVE
from tablecron.registry import tasks
from tablecron.secrets import unmask

_View = TypeVar("_View", bound=Callable[..., Any])


class StrictPageSize(BasePagination):
    """``page_size`` is a whole number from 1 (a 400 otherwise, as the schema says); above
    ``max_page_size`` it is capped. DRF's paginators ignore a bad one silently."""

    page_size: int | None
    page_size_query_param: str | None
    max_page_size: int | None

    def get_page_size(self, request: Request) -> int | None:
        name = self.page_size_query_param or ""
        value = request.query_params.get(name)
        if value is None:
            return self.page_size
        if not re.fullmatch(r"[0-9]+", value) or int(value) < 1:
            raise ValidationError({name: [_("Enter a whole number of at least 1.")]})
        return min(int(value), self.max_page_size or int(value))

    def get_schema_operation_parameters(self, view: APIView) -> list[dict[str, Any]]:
        parameters: list[dict[str, Any]] = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"]["minimum"] = 1
            elif parameter["name"] in ("page", "cursor"):
                parameter["allowEmptyValue"] = True  # the first page
        return parameters


class JobPagination(StrictPageSize, PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


class RunPagination(StrictPageSize, CursorPagination):
    """Newest first; a cursor, because the run table grows and a page count costs a scan."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500
    ordering = ("-scheduled_for", "-attempt")


def document(**kwargs: Any) -> Callable[[_View], _View]:
    """drf-spectacular's ``extend_schema``, built on its own AutoSchema.

    ``extend_schema`` subclasses the project's ``DEFAULT_SCHEMA_CLASS``, which is DRF's
    own unless the project uses drf-spectacular; naming the schema first makes the
    API's schema work in either project.
    """

    def decorate(method: _View) -> _View:
        method.kwargs = {**getattr(method, "kwargs", {}), "schema": AutoSchema}  # type: ignore[attr-defined]
        return extend_schema(**kwargs)(method)

    return decorate


def read_query(request: Request, serializer_class: type[Serializer[Any]]) -> dict[str, Any]:
    """The query parameters that ``serializer_class`` declares, validated by it. Each is
    given at most once, and an empty one is refused like any value that is not one: DRF
    would read the last of repeated values, and an empty one as absent, where the schema
    says one integer."""
    data: dict[str, str] = {}
    for name in serializer_class().get_fields():
        values = request.query_params.getlist(name)
        if len(values) > 1:
            raise ValidationError({name: [_("Give this parameter once.")]})
        if values:
            data[name] = values[0]
    query = serializer_class(data=data)
    query.is_valid(raise_exception=True)
    return dict(query.validated_data)


def _pagination(default: type[BasePagination]) -> type[BasePagination]:
    """The project's DEFAULT_PAGINATION_CLASS when it sets one (DRF has imported it)."""
    project: type[BasePagination] | None = api_settings.DEFAULT_PAGINATION_CLASS
    return project or default


class ByIdMixin:
    """Detail routes take any path segment, so that every wrong id is the API's own JSON
    404: one that is not a number (Django's URL resolver would answer HTML), or one too
    large for the database's integer (which would overflow it)."""

    lookup_value_regex = "[^/]+"
    kwargs: dict[str, Any]

    def get_object(self) -> Any:
        if not re.fullmatch(r"[0-9]{1,18}", self.kwargs["pk"]):
            raise NotFound()
        return super().get_object()  # type: ignore[misc]


class TablecronAPIMixin:
    """What every view of the API shares."""

    # drf-spectacular's, whatever DEFAULT_SCHEMA_CLASS the project uses.
    schema: ViewInspector | None = AutoSchema()
    parser_classes: Sequence[type[BaseParser]] = [JSONParser]
    # Action name -> the model permissions it needs, any one of them (see
    # permissions.ModelPermissions).
    action_permissions: dict[str | None, tuple[str, ...]] = {}

    def get_permissions(self) -> list[BasePermission]:
        return [import_string(path)() for path in settings.API_PERMISSION_CLASSES]

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        """After authentication and permissions: a body of any other type than JSON is a
        415 (malformed JSON a 400), also for the actions that read none. Else a page's
        ``<form enctype="text/plain">`` could run a job with a browser's Basic credentials,
        and the browsable API would fail rendering the answer (it reads the body)."""
        super().initial(request, *args, **kwargs)  # type: ignore[misc]
        if request.method in ("POST", "PUT", "PATCH"):
            request.data  # noqa: B018 - parsed for its refusal


class JobViewSet(ByIdMixin, TablecronAPIMixin, viewsets.ModelViewSet):  # type: ignore[type-arg]
    """Jobs: the rows that are the schedule. Writes are validated like the admin's form."""

    queryset = Job.objects.select_related("after")  # the schedule in words names it
    serializer_class = serializers.JobSerializer
    filter_backends = [DjangoFilterBackend]
    filterset_class = JobFilter
    pagination_class = _pagination(JobPagination)
    action_permissions = {
        "run": ("run",),
        "pause": ("pause", "change"),
        "resume": ("pause", "change"),
    }

    def acting(self, action: str = "") -> AbstractContextManager[None]:
        """Writes within are the request's user's, through the API (the audit trail)."""
        return audit.acting(self.request.user, "api", action)

    def perform_create(self, serializer: BaseSerializer[Job]) -> None:
        self.check_fires_at_once(serializer)
        with self.acting():
            super().perform_create(serializer)

    def perform_update(self, serializer: BaseSerializer[Job]) -> None:
        self.check_fires_at_once(serializer)
        with self.acting():
            super().perform_update(serializer)

    def check_fires_at_once(self, serializer: BaseSerializer[Job]) -> None:
        """A write that makes the job due at once (``Job.fires_at_once()``) runs it now:
        it needs what ``run`` needs. Else ``run_at`` set to now would run a job for
        someone who may edit jobs but not run them."""
        assert isinstance(serializer, serializers.JobSerializer)
        if serializer.as_saved(serializer.validated_data).fires_at_once() and not self.may("run"):
            raise PermissionDenied(
                _(
                    "This makes the job due at once (its run time has come), which runs it "
                    "now: that needs the permission to run jobs now. Choose a later time."
                )
            )

    def may(self, action: str) -> bool:
        """Whether the request's user may take ``action`` on this view, as the
        permission classes judge it."""
        taking = self.action
        self.action = action
        try:
            return all(p.has_permission(self.request, self) for p in self.get_permissions())
        finally:
            self.action = taking

    def perform_destroy(self, instance: Job) -> None:
        with self.acting():
            super().perform_destroy(instance)

    @document(
        request=run_serializers.RunNowSerializer,
        responses={
            202: run_serializers.JobRunSerializer,
            409: OpenApiResponse(
                ErrorSerializer,
                _("The job has MANUAL_RUNS_PER_JOB manual runs waiting or running already."),
            ),
        },
        summary=_("Run the job once, now"),
        description=_(
            "Adds a manual run that a scheduler starts within a second, or once one of the "
            "job's max_instances runs has ended (unless ignore_max_instances); the schedule "
            "does not move. The body is optional: args and kwargs, for this run only, are "
            "checked against the task's signature as the job's own are (a 400 on the "
            "field), and the job is not changed. Answers 202 with the run, to follow at "
            "runs/{id}/; 409 when the job has MANUAL_RUNS_PER_JOB manual runs waiting or "
            "running already."
        ),
    )
    @action(detail=True, methods=["post"])
    def run(self, request: Request, pk: str | None = None) -> Response:
        job = self.get_object()
        body = run_serializers.RunNowSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        given = body.validated_data
        for name in ("args", "kwargs"):  # a value read masked and sent back: the job's
            if given.get(name) is not None:
                given[name] = unmask(given[name], getattr(job, name))
        try:
            with self.acting("run_now"):
                job_run = job.run_now(**given)
        except DjangoValidationError as exc:
            raise serializers.model_errors(exc) from None
        except TooManyRuns as exc:
            return _conflict(exc.message)
        data = run_serializers.JobRunSerializer(job_run, context=self.get_serializer_context()).data
        return Response(data, status=status.HTTP_202_ACCEPTED)

    @document(request=None, summary=_("Pause the job: it stops firing, the row stays"))
    @action(detail=True, methods=["post"])
    def pause(self, request: Request, pk: str | None = None) -> Response:
        job = self.get_object()
        with self.acting("pause"):
            job.pause()
        return Response(self.get_serializer(job).data)

    @document(request=None, summary=_("Resume the job: it fires again from now on"))
    @action(detail=True, methods=["post"])
    def resume(self, request: Request, pk: str | None = None) -> Response:
        job = self.get_object()
        with self.acting("resume"):
            job.resume()
        return Response(self.get_serializer(job).data)

    @document(
        parameters=[serializers.CountSerializer],
        responses=serializers.UpcomingSerializer,
        summary=_("The job's upcoming fire times"),
    )
    @action(detail=True, methods=["get"], filter_backends=[])
    def upcoming(self, request: Request, pk: str | None = None) -> Response:
        count = read_query(request, serializers.CountSerializer)["count"]
        upcoming = self.get_object().upcoming(count)
        return Response(serializers.UpcomingSerializer({"upcoming": upcoming}).data)


class JobRunViewSet(ByIdMixin, TablecronAPIMixin, viewsets.ReadOnlyModelViewSet):  # type: ignore[type-arg]
    """Runs, newest first: one per execution, kept when their job is deleted."""

    queryset = JobRun.objects.all()
    serializer_class = run_serializers.JobRunSerializer
    filter_backends = [DjangoFilterBackend]
    filterset_class = JobRunFilter
    pagination_class = _pagination(RunPagination)
    # Running a run again runs its job: the permission to run jobs now, on Job.
    action_permissions = {"cancel": ("cancel",), "rerun": ("tablecron.run_job",)}

    def get_permissions(self) -> list[BasePermission]:
        permissions = super().get_permissions()
        if self.action == "output":  # whatever API_PERMISSION_CLASSES says
            permissions.append(CanViewOutput())
        return permissions

    @document(
        parameters=[run_serializers.OutputQuerySerializer],
        responses=run_serializers.RunOutputSerializer,
        summary=_("What the run printed and logged"),
        description=_(
            "The run's output from character offset on. To follow a run, ask again with "
            "next_offset about once a second until finished is true. Needs the permission "
            "to view the output of runs, beside viewing runs."
        ),
    )
    @action(detail=True, methods=["get"], filter_backends=[])
    def output(self, request: Request, pk: str | None = None) -> Response:
        offset = read_query(request, run_serializers.OutputQuerySerializer)["offset"]
        # The status first: a run that has ended wrote the rest of its output with it.
        run = self.get_object()
        piece = RunOutput.objects.using(run._state.db).read(run.pk, offset)
        answer = {**piece._asdict(), "status": run.status, "finished": run.status not in ACTIVE}
        return Response(run_serializers.RunOutputSerializer(answer).data)

    @document(
        request=None,
        responses={
            200: run_serializers.CancelledRunSerializer,
            409: OpenApiResponse(
                ErrorSerializer, _("It had ended, or was being cancelled: nothing changed.")
            ),
        },
        summary=_("Stop the run"),
        description=_(
            "A run that has not started never starts: it ends cancelled at once. A running "
            "one is stopped by the process that runs it within about a second. Answers the "
            "run, with cancel saying which; 409 if it had ended already."
        ),
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def cancel(self, request: Request, pk: str | None = None) -> Response:
        run = self.get_object()
        with audit.acting(request.user, "api", "cancel"):
            asked = run.cancel(by=request.user.get_username())
        if not asked:  # run is as it is now
            return _conflict(_not_cancelled(run))
        context = self.get_serializer_context()
        return Response(run_serializers.CancelledRunSerializer(run, context=context).data)

    @document(
        request=None,
        responses={
            201: run_serializers.JobRunSerializer,
            409: OpenApiResponse(
                ErrorSerializer,
                _(
                    "It has not ended, its job was deleted, its arguments no longer fit, or "
                    "its job has MANUAL_RUNS_PER_JOB manual runs waiting or running already."
                ),
            ),
        },
        summary=_("Run it again"),
        description=_(
            "A new manual run of the run's job with the run's arguments, linked to it "
            "(rerun_of). Any run that has ended, succeeded ones too; a run still waiting "
            "or running is a 409."
        ),
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def rerun(self, request: Request, pk: str | None = None) -> Response:
        run = self.get_object()
        if run.status in ACTIVE:
            return _conflict(
                gettext("Run %(id)s has not ended (%(status)s): cancel it first.")
                % {"id": run.pk, "status": run.get_status_display()}
            )
        try:
            with audit.acting(request.user, "api", "rerun"):
                again = run.rerun()
        except ValueError:  # its job was deleted
            return _conflict(
                gettext("Run %(id)s cannot run again: its job was deleted.") % {"id": run.pk}
            )
        except DjangoValidationError as exc:  # its task or signature changed since
            return _conflict(
                gettext("Run %(id)s cannot run again: %(why)s")
                % {"id": run.pk, "why": " ".join(exc.messages)}
            )
        except TooManyRuns as exc:
            return _conflict(exc.message)
        data = run_serializers.JobRunSerializer(again, context=self.get_serializer_context()).data
        return Response(data, status=status.HTTP_201_CREATED)


def _conflict(detail: str) -> Response:
    return Response({"detail": detail}, status=status.HTTP_409_CONFLICT)


def _not_cancelled(run: JobRun) -> str:
    """Why cancelling ``run`` changed nothing."""
    if run.status in ACTIVE:
        return gettext(
            "Run %(id)s is being cancelled already (asked by %(by)s at %(at)s): nothing changed."
        ) % {
            "id": run.pk,
            "by": run.cancel_requested_by or "-",
            "at": run.cancel_requested_at.isoformat() if run.cancel_requested_at else "-",
        }
    return gettext("Run %(id)s had ended already (%(status)s): nothing changed.") % {
        "id": run.pk,
        "status": run.get_status_display(),
    }


_TASK_NAME = OpenApiParameter(
    "name", str, OpenApiParameter.PATH, description=_("The task's registered name.")
)


class TaskViewSet(TablecronAPIMixin, viewsets.GenericViewSet):  # type: ignore[type-arg]
    """The registered tasks: what a job may run, with the parameters a form should ask for."""

    # Not listed from it: the registry is code, and Job's permissions guard it.
    queryset = Job.objects.none()
    serializer_class = serializers.TaskSerializer
    pagination_class = None
    filter_backends: list[Any] = []
    lookup_field = "name"
    lookup_value_regex = r"[^/]+"  # dotted paths

    def list(self, request: Request) -> Response:
        return Response(self.get_serializer(list(tasks), many=True).data)

    @document(parameters=[_TASK_NAME])
    def retrieve(self, request: Request, name: str) -> Response:
        try:
            task = tasks.get(name)
        except UnknownTask:
            raise NotFound(_("No task is registered under this name.")) from None
        return Response(self.get_serializer(task).data)


class ScheduleUpcomingViewSet(TablecronAPIMixin, viewsets.GenericViewSet):  # type: ignore[type-arg]
    """Try a schedule before saving a job: its upcoming fire times, or the field errors."""

    queryset = Job.objects.none()  # Job's permissions guard it
    serializer_class = serializers.ScheduleUpcomingSerializer
    filter_backends: list[Any] = []
    # A POST, but it stores nothing: whoever may see jobs may try schedules.
    action_permissions = {"create": ("view",)}

    @document(
        responses={200: serializers.ScheduleUpcomingSerializer},
        summary=_("A schedule's upcoming fire times"),
    )
    def create(self, request: Request) -> Response:
        schedule = self.get_serializer(data=request.data)
        schedule.is_valid(raise_exception=True)
        return Response(schedule.data)
