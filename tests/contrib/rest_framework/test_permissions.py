"""Who may use the REST API: Django's model permissions by default, or the setting's."""

from collections.abc import Callable
from typing import Any

import pytest

pytest.importorskip("rest_framework")

from django.contrib.auth.models import Permission, User
from django.test import override_settings
from rest_framework.test import APIClient

from tablecron.models import Job, JobRun
from tests.support.factories import ADD, YEARLY, job

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


def endpoints(job_id: int) -> list[tuple[str, str, Any]]:
    """Every endpoint, as (method, url, JSON body)."""
    jobs = "/api/jobs/"
    return [
        ("get", "/api/", None),
        ("get", jobs, None),
        ("post", jobs, {"name": "new", "task": ADD, "args": [1], "cron": YEARLY}),
        ("get", f"{jobs}{job_id}/", None),
        ("patch", f"{jobs}{job_id}/", {"description": "x"}),
        ("put", f"{jobs}{job_id}/", {"name": "job", "task": ADD, "args": [2]}),
        ("delete", f"{jobs}{job_id}/", None),
        ("post", f"{jobs}{job_id}/run/", None),
        ("post", f"{jobs}{job_id}/pause/", None),
        ("post", f"{jobs}{job_id}/resume/", None),
        ("get", f"{jobs}{job_id}/upcoming/", None),
        ("get", "/api/runs/", None),
        ("get", "/api/tasks/", None),
        ("get", f"/api/tasks/{ADD}/", None),
        ("post", "/api/schedule/upcoming/", {"cron": "@daily"}),
        ("get", "/api/schema/", None),
    ]


def call(client: APIClient, method: str, url: str, body: Any) -> Any:
    return getattr(client, method)(url, body, format="json")


def unchanged(before: list[dict[str, Any]]) -> bool:
    return list(Job.objects.values()) == before and not JobRun.objects.exists()


def test_anonymous_requests_are_told_to_authenticate(saved: Job) -> None:
    before = list(Job.objects.values())
    for method, url, body in endpoints(saved.pk)[1:]:  # the root only lists links
        response = call(APIClient(), method, url, body)
        # 401 with a challenge, as the first authentication class is Basic (tests/settings).
        assert response.status_code == 401, (method, url)
        assert response["WWW-Authenticate"].startswith("Basic"), (method, url)
    assert unchanged(before)


def test_signed_in_users_without_permissions_are_refused(
    saved: Job, client_with: Callable[..., APIClient]
) -> None:
    client = client_with()
    before = list(Job.objects.values())
    for method, url, body in endpoints(saved.pk)[1:]:
        assert call(client, method, url, body).status_code == 403, (method, url)
    assert unchanged(before)


def test_viewers_read_and_try_schedules_but_do_not_write(
    saved: Job, client_with: Callable[..., APIClient]
) -> None:
    client = client_with("view_job", "view_jobrun")
    before = list(Job.objects.values())
    allowed = {
        (method, url)
        for method, url, body in endpoints(saved.pk)
        if call(client, method, url, body).status_code < 400
    }
    assert allowed == {
        ("get", "/api/"),
        ("get", "/api/jobs/"),
        ("get", f"/api/jobs/{saved.pk}/"),
        ("get", f"/api/jobs/{saved.pk}/upcoming/"),
        ("get", "/api/runs/"),
        ("get", "/api/tasks/"),
        ("get", f"/api/tasks/{ADD}/"),
        ("post", "/api/schedule/upcoming/"),  # a POST that stores nothing
        ("get", "/api/schema/"),
    }
    assert unchanged(before)


def test_runs_need_their_own_view_permission(client_with: Callable[..., APIClient]) -> None:
    assert client_with("view_job").get("/api/runs/").status_code == 403
    assert client_with("view_jobrun").get("/api/runs/").status_code == 200


def test_each_write_needs_its_permission(saved: Job, client_with: Callable[..., APIClient]) -> None:
    url = f"/api/jobs/{saved.pk}/"
    new = {"name": "new", "task": ADD, "args": [1], "cron": YEARLY}
    changer = client_with("change_job")
    assert changer.post("/api/jobs/", new, format="json").status_code == 403
    assert changer.delete(url).status_code == 403
    assert changer.patch(url, {"description": "edited"}, format="json").status_code == 200
    # Running, pausing and resuming change the job: change_job, not add_job.
    assert changer.post(f"{url}run/").status_code == 202
    assert changer.post(f"{url}pause/").status_code == 200
    assert changer.post(f"{url}resume/").status_code == 200
    adder = client_with("add_job")
    assert adder.post(f"{url}run/").status_code == 403
    assert adder.post("/api/jobs/", new, format="json").status_code == 201
    assert client_with("delete_job").delete(url).status_code == 204


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
