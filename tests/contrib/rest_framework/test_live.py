"""The REST API over real HTTP: a live server, a plain HTTP client, Basic authentication."""

import base64
import json
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest

pytest.importorskip("rest_framework")

from django.contrib.auth.models import User
from drf_spectacular.validation import validate_schema
from pytest_django.live_server_helper import LiveServer

from tablecron.executors.immediate import ImmediateExecutor
from tablecron.models import Job, JobRun
from tablecron.scheduler import Scheduler
from tests.support.factories import ADD

pytestmark = pytest.mark.django_db(transaction=True)

Call = Callable[..., tuple[int, Any]]


def request(
    live_server: LiveServer, method: str, path: str, body: Any = None, user: str = ""
) -> tuple[int, Any]:
    """(status, decoded JSON) of one HTTP request; errors are answers too."""
    headers = {"Accept": "application/json"}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    if user:
        token = base64.b64encode(f"{user}:secret".encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    sent = urllib.request.Request(live_server.url + path, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(sent, timeout=10) as response:
            raw, status = response.read(), response.status
    except urllib.error.HTTPError as error:
        raw, status = error.read(), error.code
    return status, json.loads(raw) if raw else None


@pytest.fixture
def http(live_server: LiveServer) -> Call:
    """Requests as ``operator``, a superuser signing in with HTTP Basic authentication."""
    User.objects.create_superuser("operator", password="secret")

    def call(method: str, path: str, body: Any = None, user: str = "operator") -> Any:
        return request(live_server, method, path, body, user)

    return call


def test_a_job_from_creation_to_a_finished_run(http: Call) -> None:
    status, created = http("POST", "/api/jobs/", {"name": "sum", "task": ADD, "args": [2, 3]})
    assert status == 201, created
    assert created["next_run_at"] is None  # manual only
    url = f"/api/jobs/{created['id']}/"

    status, scheduled = http("PATCH", url, {"interval": "00:10:00"})
    assert (status, scheduled["interval"]) == (200, "00:10:00")
    assert scheduled["next_run_at"] is not None

    status, run = http("POST", f"{url}run/")
    assert (status, run["status"], run["trigger"]) == (202, "scheduled", "manual")
    Scheduler(ImmediateExecutor()).run_once()  # as a ``tablecron scheduler`` process would
    status, finished = http("GET", f"/api/runs/{run['id']}/")
    assert (status, finished["status"], finished["result"]) == (200, "succeeded", 5)
    status, runs = http("GET", f"/api/runs/?job={created['id']}&status=succeeded")
    assert [r["id"] for r in runs["results"]] == [run["id"]]

    assert http("DELETE", url)[0] == 204
    assert http("GET", url)[0] == 404
    assert JobRun.objects.get().job_name == "sum"


def test_bad_input_over_http_is_a_field_error_and_stores_nothing(http: Call) -> None:
    bad = {"name": "bad", "task": ADD, "args": [1, 2, 3], "cron": "0 24 * * *"}
    status, errors = http("POST", "/api/jobs/", bad)
    assert status == 400
    assert errors["cron"] == ["“0 24 * * *” is not a valid cron expression: bad hour."]
    assert errors["args"][0].startswith(
        "These arguments do not fit tests.testapp.tablecron_jobs.add("
    )
    assert set(errors) == {"cron", "args"}
    assert not Job.objects.exists()


def test_anonymous_and_wrong_password_get_401(http: Call, live_server: LiveServer) -> None:
    assert request(live_server, "GET", "/api/jobs/")[0] == 401
    User.objects.create_user("intruder", password="other")
    assert http("GET", "/api/jobs/", user="intruder")[0] == 401  # wrong password


def test_tasks_upcoming_and_schema_over_http(http: Call) -> None:
    status, task = http("GET", "/api/tasks/testapp.greet/")
    assert (status, [p["name"] for p in task["parameters"]]) == (200, ["who", "punctuation"])
    status, tried = http("POST", "/api/schedule/upcoming/", {"cron": "@daily", "count": 2})
    assert (status, len(tried["upcoming"])) == (200, 2)
    status, schema = http("GET", "/api/schema/?format=json")
    assert status == 200
    validate_schema(schema)
