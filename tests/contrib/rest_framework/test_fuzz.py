"""Property: whatever JSON a client sends for any writable field of a job, the API answers
201/200 with a row that reads back valid, or 400 with field errors and nothing stored;
never a server error, on any of the three databases."""

import json
from typing import Any

import pytest

pytest.importorskip("rest_framework")

from django.db import transaction
from hypothesis import event, given
from rest_framework.test import APIClient

from tablecron.models import Job
from tests.support.factories import ADD, YEARLY, job
from tests.support.fuzzing import FUZZ, bodies

pytestmark = pytest.mark.django_db

JOBS = "/api/jobs/"
VALID = {"name": "fuzzed", "task": ADD, "args": [1], "cron": YEARLY}
WRITABLE = {field.name for field in Job._meta.fields if field.editable} - {"id"}


def send(api: APIClient, method: str, path: str, payload: Any) -> Any:
    """The payload as a client writes JSON: ASCII, lone surrogates escaped."""
    return getattr(api, method)(path, json.dumps(payload), content_type="application/json")


def assert_refused(response: Any) -> None:
    assert response.status_code == 400, response.content
    errors = response.json()
    assert errors, response.content
    assert set(errors) <= WRITABLE | {"non_field_errors", "detail"}, errors


@FUZZ
@given(payload=bodies)
def test_creating_a_job_from_any_body(api: APIClient, payload: dict[str, Any]) -> None:
    with transaction.atomic():
        response = send(api, "post", JOBS, {**VALID, **payload})
        event(f"HTTP {response.status_code}")
        if response.status_code == 201:
            Job.objects.get(pk=response.json()["id"]).full_clean()
        else:
            assert_refused(response)
            assert not Job.objects.exists()
        transaction.set_rollback(True)


@FUZZ
@given(payload=bodies)
def test_editing_a_job_with_any_body(api: APIClient, payload: dict[str, Any]) -> None:
    with transaction.atomic():
        saved = job()
        saved.save()
        before = Job.objects.values().get()
        response = send(api, "patch", f"{JOBS}{saved.pk}/", payload)
        event(f"HTTP {response.status_code}")
        if response.status_code == 200:
            Job.objects.get().full_clean()
        else:
            assert_refused(response)
            assert Job.objects.values().get() == before
        transaction.set_rollback(True)


@FUZZ
@given(payload=bodies)
def test_trying_any_schedule(api: APIClient, payload: dict[str, Any]) -> None:
    schedule = {name: value for name, value in payload.items() if name in SCHEDULE_FIELDS}
    response = send(api, "post", "/api/schedule/upcoming/", schedule)
    event(f"HTTP {response.status_code}")
    if response.status_code != 200:
        assert_refused(response)
    assert not Job.objects.exists()


SCHEDULE_FIELDS = {"cron", "interval", "run_at", "timezone", "start_at", "end_at"}
