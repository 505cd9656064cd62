"""Who may use the REST API: Django's model permissions by default, or the setting's."""

from collections.abc import Callable
from typing import Any

import pytest

pytest.importorskip("rest_framework")

from django.contrib.auth.models import Permission, User
from django.db import transaction
from django.test import override_settings
from rest_framework.test import APIClient

from tablecron.models import Job, JobRun
from tests.support.factories import ADD, YEARLY, job, signed_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def saved() -> Job:
    row = job()
    row.save()
    return row


@pytest.fixture
def client_with(db: None) -> Callable[..., APIClient]:
    """A client signed in as a new user holding the named tablecron permissions."""

    def make(*codenames: str, **user_fields: Any) -> APIClient:
        user = User.objects.create_user(f"user{User.objects.count()}", **user_fields)
        user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
        client = APIClient()
        client.force_login(user)
        return client

    return make


# Who may do what, by default (ModelPermissions): a role is a set of permissions.
VIEW = ("view_job", "view_jobrun")
ROLES: dict[str, tuple[str, ...] | None] = {
    "anonymous": None,
    "nobody": (),  # signed in, no permission
    "viewer": VIEW,
    "reader": (*VIEW, "view_output"),  # a viewer who may read what runs print
    "operator": (*VIEW, "view_output", "run_job", "pause_job", "cancel_jobrun"),
    "editor": (*VIEW, "add_job", "change_job", "delete_job"),
    "superuser": (),
}
EVERYONE_WHO_VIEWS = {"viewer", "reader", "operator", "editor", "superuser"}


def matrix(job_id: int, run_id: int, waiting_id: int) -> list[tuple[str, str, Any, set[str]]]:
    """Every endpoint, as (method, url, JSON body, the roles it answers with a success);
    ``run_id`` has ended, ``waiting_id`` waits for a scheduler."""
    jobs, one = "/api/jobs/", f"/api/jobs/{job_id}/"
    run, waiting = f"/api/runs/{run_id}/", f"/api/runs/{waiting_id}/"
    new = {"name": "new", "task": ADD, "args": [1], "cron": YEARLY}
    once = {"cron": "", "run_at": "2099-01-01T00:00:00Z"}
    at_once = {"cron": "", "run_at": "2020-01-01T00:00:00Z"}  # past: due at once
    return [
        ("get", "/api/", None, set(ROLES)),  # only links
        ("get", jobs, None, EVERYONE_WHO_VIEWS),
        ("post", jobs, new, {"editor", "superuser"}),
        ("get", one, None, EVERYONE_WHO_VIEWS),
        ("patch", one, {"description": "x"}, {"editor", "superuser"}),
        ("put", one, {"name": "job", "task": ADD, "args": [2]}, {"editor", "superuser"}),
        ("delete", one, None, {"editor", "superuser"}),
        # Running now is its own permission: editing a job does not grant it, nor may an
        # edit make the job due at once (issue 20, item 3).
        ("post", f"{one}run/", None, {"operator", "superuser"}),
        ("post", f"{one}run/", {"args": [5], "kwargs": {"b": 1}}, {"operator", "superuser"}),
        # ... and so is starting a run beside the job's running ones (item 7).
        ("post", f"{one}run/", {"ignore_max_instances": True}, {"operator", "superuser"}),
        ("patch", one, once, {"editor", "superuser"}),
        ("patch", one, at_once, {"superuser"}),
        ("put", one, {"name": "job", "task": ADD, "args": [2], **at_once}, {"superuser"}),
        ("post", jobs, {**new, **at_once}, {"superuser"}),
        ("post", f"{one}pause/", None, {"operator", "editor", "superuser"}),
        ("post", f"{one}resume/", None, {"operator", "editor", "superuser"}),
        ("get", f"{one}upcoming/", None, EVERYONE_WHO_VIEWS),
        ("get", "/api/runs/", None, EVERYONE_WHO_VIEWS),
        ("get", run, None, EVERYONE_WHO_VIEWS),
        # Output can hold secrets: a permission of its own, beside viewing runs.
        ("get", f"{run}output/", None, {"reader", "operator", "superuser"}),
        ("get", f"{waiting}output/?offset=3", None, {"reader", "operator", "superuser"}),
        ("post", f"{waiting}cancel/", None, {"operator", "superuser"}),
        # Running a run again runs its job now: run_job.
        ("post", f"{run}rerun/", None, {"operator", "superuser"}),
        ("get", "/api/tasks/", None, EVERYONE_WHO_VIEWS),
        ("get", f"/api/tasks/{ADD}/", None, EVERYONE_WHO_VIEWS),
        # A POST that stores nothing: whoever may see jobs may try a schedule.
        ("post", "/api/schedule/upcoming/", {"cron": "@daily"}, EVERYONE_WHO_VIEWS),
        ("get", "/api/schema/", None, EVERYONE_WHO_VIEWS),
    ]


def as_role(role: str) -> APIClient:
    return signed_in(APIClient(), role, ROLES[role])


def call(client: APIClient, method: str, url: str, body: Any) -> Any:
    return getattr(client, method)(url, body, format="json")


def test_the_permission_matrix(saved: Job) -> None:
    """Each role against each endpoint, each request on the same rows (rolled back after):
    a success where the role allows it; else 401 without credentials (Basic comes first
    in tests/settings), 403 with them, and nothing written."""
    run = JobRun.objects.create(job=saved, scheduled_for=saved.created_at, status="succeeded")
    waiting = saved.run_now()
    clients = {role: as_role(role) for role in ROLES}
    before = list(Job.objects.values()), list(JobRun.objects.values())
    expected, seen = {}, {}
    for method, url, body, allowed in matrix(saved.pk, run.pk, waiting.pk):
        for role, client in clients.items():
            refusal = 401 if role == "anonymous" else 403
            expected[role, method, url] = "ok" if role in allowed else refusal
            with transaction.atomic():
                status = call(client, method, url, body).status_code
                changed = (list(Job.objects.values()), list(JobRun.objects.values())) != before
                transaction.set_rollback(True)
            seen[role, method, url] = "ok" if status < 400 else status
            if status >= 400:
                assert not changed, (role, method, url)
    assert seen == expected


def test_an_editor_who_may_run_may_make_a_job_due_at_once(
    saved: Job, client_with: Callable[..., APIClient]
) -> None:
    both = client_with("view_job", "change_job", "run_job")
    at_once = {"cron": "", "run_at": "2020-01-01T00:00:00Z"}
    assert both.patch(f"/api/jobs/{saved.pk}/", at_once, format="json").status_code == 200
    assert Job.objects.get().next_run_at is not None
    editor = client_with("view_job", "change_job")
    again = {"run_at": "2021-01-01T00:00:00Z"}
    refused = editor.patch(f"/api/jobs/{saved.pk}/", again, format="json")
    assert refused.status_code == 403
    assert "run jobs now" in refused.json()["detail"]


@override_settings(TABLECRON={"API_PERMISSION_CLASSES": ["rest_framework.permissions.IsAdminUser"]})
def test_due_at_once_asks_the_permission_classes(
    saved: Job, client_with: Callable[..., APIClient]
) -> None:
    """With other permission classes, whoever they let run a job may make it due now."""
    at_once = {"cron": "", "run_at": "2020-01-01T00:00:00Z"}
    staff = client_with(is_staff=True)
    assert staff.patch(f"/api/jobs/{saved.pk}/", at_once, format="json").status_code == 200


def test_runs_need_their_own_view_permission(client_with: Callable[..., APIClient]) -> None:
    assert client_with("view_job").get("/api/runs/").status_code == 403
    assert client_with("view_jobrun").get("/api/runs/").status_code == 200


@override_settings(TABLECRON={"API_PERMISSION_CLASSES": ["rest_framework.permissions.IsAdminUser"]})
def test_the_setting_replaces_the_permission_classes(
    saved: Job, client_with: Callable[..., APIClient]
) -> None:
    staff = client_with(is_staff=True)  # no model permission at all
    assert staff.get("/api/jobs/").status_code == 200
    assert staff.post(f"/api/jobs/{saved.pk}/run/").status_code == 202
    assert staff.get("/api/schema/").status_code == 200
    everything = ["view_job", "add_job", "change_job", "delete_job", "view_jobrun"]
    assert client_with(*everything).get("/api/jobs/").status_code == 403


@override_settings(TABLECRON={"API_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"]})
def test_the_setting_can_open_the_api(saved: Job) -> None:
    assert APIClient().get(f"/api/jobs/{saved.pk}/upcoming/").status_code == 200


@override_settings(TABLECRON={"API_PERMISSION_CLASSES": []})
def test_an_empty_list_means_no_checks_as_in_drf(saved: Job) -> None:
    assert APIClient().get("/api/tasks/").status_code == 200
