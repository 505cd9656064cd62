"""Jobs that follow jobs through the REST API: ``after`` is the upstream job's id,
validated by the model as in the admin, and the schedule in words and the upcoming
times say what it means."""

from datetime import timedelta
from typing import Any

import pytest

pytest.importorskip("rest_framework")

from rest_framework.test import APIClient

from tablecron.models import Job
from tests.support.factories import ADD

pytestmark = pytest.mark.django_db

JOBS = "/api/jobs/"
NOOP = "tests.testapp.tablecron_jobs.noop"


@pytest.fixture
def upstream() -> Job:
    return Job.objects.create(name="import", task=NOOP, interval=timedelta(hours=1))


def create(api: APIClient, **fields: Any) -> Any:
    return api.post(JOBS, {"name": "export", "task": NOOP, **fields}, format="json")


def test_a_job_made_to_run_after_another(api: APIClient, upstream: Job) -> None:
    response = create(api, after=upstream.pk)
    assert response.status_code == 201, response.json()
    made = response.json()
    assert (made["after"], made["next_run_at"]) == (upstream.pk, None)
    assert made["schedule_description"] == "After “import” succeeds"
    upcoming = api.get(f"{JOBS}{made['id']}/upcoming/")
    assert upcoming.status_code == 200
    assert upcoming.json()["upcoming"] == []


def test_a_time_schedule_beside_after_is_refused_on_after(api: APIClient, upstream: Job) -> None:
    response = create(api, after=upstream.pk, cron="0 9 * * *")
    assert response.status_code == 400
    assert list(response.json()) == ["after"]
    assert not Job.objects.filter(name="export").exists()


def test_a_circle_is_refused_on_after(api: APIClient, upstream: Job) -> None:
    export = create(api, after=upstream.pk).json()
    response = api.patch(
        f"{JOBS}{upstream.pk}/", {"interval": None, "after": export["id"]}, format="json"
    )
    assert response.status_code == 400
    assert "go round in a circle (import → export → import)" in response.json()["after"][0]
    upstream.refresh_from_db()
    assert (upstream.after_id, upstream.interval) == (None, timedelta(hours=1))


@pytest.mark.parametrize("value", [987654, "x", True, [1]])
def test_an_id_of_no_job_is_a_field_error(api: APIClient, value: Any) -> None:
    response = create(api, task=ADD, args=[1], after=value)
    assert response.status_code == 400
    assert list(response.json()) == ["after"]
