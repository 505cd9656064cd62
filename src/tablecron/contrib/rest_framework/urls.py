"""URLs of the API: ``path("api/tablecron/", include("tablecron.contrib.rest_framework.urls"))``.

The URL names live in the ``tablecron_api`` namespace (``tablecron_api:job-list``). To
mount the viewsets elsewhere, register them on a router of your own, or use ``router``.
"""

from django.urls import path
from rest_framework.routers import DefaultRouter

from tablecron.contrib.rest_framework import views
from tablecron.contrib.rest_framework.schema import SchemaView

app_name = "tablecron_api"

router = DefaultRouter()
# Task names contain dots: "tasks/app.jobs.send.json" must not read as a format suffix.
router.include_format_suffixes = False
router.register("jobs", views.JobViewSet, basename="job")
router.register("runs", views.JobRunViewSet, basename="run")
router.register("tasks", views.TaskViewSet, basename="task")
router.register("schedule/upcoming", views.ScheduleUpcomingViewSet, basename="schedule-upcoming")

urlpatterns = [
    *router.urls,
    path("schema/", SchemaView.as_view(), name="schema"),
]
