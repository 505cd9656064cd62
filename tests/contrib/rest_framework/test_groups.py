"""The API with concurrency groups: the job's field, validated by the model, and a
waiting run's reason."""

from typing import Any

import pytest

pytest.importorskip("rest_framework")

from tablecron.db import db_now
from tablecron.models import ConcurrencyGroup, Job, JobRun
from tests.support.factories import ADD

pytestmark = pytest.mark.django_db

JOBS = "/api/jobs/"


def body(**fields: Any) -> dict[str, Any]:
    return {"name": "load", "task": ADD, "args": [1, 2], "cron": "0 9 * * *", **fields}


def test_a_job_in_a_group_and_its_waiting_run(api: Any) -> None:
    created = api.post(JOBS, body(concurrency_group="warehouse"), format="json")
    assert created.status_code == 201, created.content
    assert created.json()["concurrency_group"] == "warehouse"
    assert ConcurrencyGroup.objects.get(name="warehouse").limit == 1
    job = Job.objects.get()
    waiting = JobRun.objects.create(
        job=job, scheduled_for=db_now(), waiting_since=db_now(), concurrency_group="warehouse"
    )
    run = api.get(f"/api/runs/{waiting.pk}/").json()
    assert run["waiting_reason"] == "waiting for group warehouse: 0 of 1 running"
    assert run["concurrency_group"] == "warehouse"
    assert run["waiting_since"] is not None


def test_a_group_name_too_long_is_a_field_error_and_nothing_is_stored(api: Any) -> None:
    answer = api.post(JOBS, body(concurrency_group="x" * 101), format="json")
    assert answer.status_code == 400
    assert list(answer.json()) == ["concurrency_group"]
    assert not Job.objects.exists()
    assert not ConcurrencyGroup.objects.exists()
