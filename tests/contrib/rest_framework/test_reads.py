"""The REST API's runs, tasks, a schedule's upcoming fire times and OpenAPI schema."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

pytest.importorskip("rest_framework")

from django.test import override_settings
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from drf_spectacular.drainage import GENERATOR_STATS
from drf_spectacular.validation import validate_schema
from rest_framework.test import APIClient

from tablecron.models import Job, JobRun, RunStatus, RunTrigger
from tablecron.registry import tasks
from tests.support.factories import (
    ADD,
    CELERY_WORKER,
    TASK_ID,
    in_future,
    job,
    runs_of_each_kind,
)

pytestmark = pytest.mark.django_db

RUNS = "/api/runs/"
JOBS_LIST = "/api/jobs/"
T0 = datetime(2030, 1, 1, 9, 0, tzinfo=UTC)


def times(texts: list[str]) -> list[datetime | None]:
    return [parse_datetime(text) for text in texts]


# -- runs ---------------------------------------------------------------------------------


@pytest.fixture
def runs() -> dict[str, JobRun]:
    first, second = job(name="first"), job(name="second")
    first.save()
    second.save()

    def run(owner: Job, hours: int, **fields: Any) -> JobRun:
        return JobRun.objects.create(job=owner, scheduled_for=T0 + timedelta(hours=hours), **fields)

    return {
        "old": run(first, 0, status=RunStatus.SUCCEEDED),
        "failed": run(first, 1, status=RunStatus.FAILED),
        "retry": run(first, 1, attempt=2, status=RunStatus.LOST, trigger=RunTrigger.RETRY),
        "manual": run(second, 2, trigger=RunTrigger.MANUAL),
    }


def ids(response: Any) -> list[int]:
    assert response.status_code == 200, response.data
    return [run["id"] for run in response.json()["results"]]


def test_runs_are_listed_newest_first(api: APIClient, runs: dict[str, JobRun]) -> None:
    expected = [runs[name].pk for name in ("manual", "retry", "failed", "old")]
    assert ids(api.get(RUNS)) == expected
    one = api.get(f"{RUNS}{runs['retry'].pk}/").json()
    assert (one["job_name"], one["attempt"], one["trigger"]) == ("first", 2, "retry")


def test_run_filters(api: APIClient, runs: dict[str, JobRun]) -> None:
    first = runs["old"].job
    assert first is not None

    def found(**query: Any) -> set[str]:
        by_id = {run.pk: name for name, run in runs.items()}
        return {by_id[pk] for pk in ids(api.get(RUNS, query))}

    assert found(job=first.pk) == {"old", "failed", "retry"}
    assert found(job_name="second") == {"manual"}
    assert found(status="failed") == {"failed"}
    assert found(status=["failed", "lost"]) == {"failed", "retry"}
    assert found(trigger="manual") == {"manual"}
    hour = T0 + timedelta(hours=1)
    assert found(scheduled_for_after=hour.isoformat()) == {"failed", "retry", "manual"}
    assert found(scheduled_for_before=hour.isoformat()) == {"old", "failed", "retry"}
    assert found(job=first.pk, status="succeeded", scheduled_for_before=hour.isoformat()) == {"old"}
    assert found(job=first.pk + 100) == set()


def test_a_deleted_jobs_runs_are_found_by_name(api: APIClient, runs: dict[str, JobRun]) -> None:
    Job.objects.filter(name="second").delete()
    (kept,) = api.get(RUNS, {"job_name": "second"}).json()["results"]
    assert (kept["id"], kept["job"]) == (runs["manual"].pk, None)


def test_the_schema_enumerates_time_zones_and_tasks_and_states_the_rules(api: APIClient) -> None:
    from tablecron.models import Job
    from tablecron.registry import tasks

    schema = api.get("/api/schema/", {"format": "json"}).json()
    components = schema["components"]["schemas"]

    def enum(component: str, field: str) -> list[str] | None:
        """The values the schema lists for ``field`` (drf-spectacular names enums apart)."""
        found = components[component]["properties"][field]
        for ref in found.get("allOf", []):
            found = components[ref["$ref"].rpartition("/")[2]]
        return found.get("enum")

    zones = enum("JobRequest", "timezone")
    assert zones is not None
    assert "Asia/Shanghai" in zones
    assert enum("JobRequest", "task") == [task.name for task in tasks]
    assert enum("PatchedJobRequest", "timezone") == enum("ScheduleUpcomingRequest", "timezone")
    assert enum("PatchedJobRequest", "timezone") == zones
    assert enum("Job", "timezone") is None  # as stored: whatever it holds
    assert "at most one of ``cron``, ``interval``," in components["JobRequest"]["description"]
    for zone in zones:  # each one a job may name
        Job(timezone=zone, cron="@daily").full_clean(exclude={"name", "task"})


@pytest.mark.parametrize(
    "query", [{"status": "exploded"}, {"trigger": "cosmic"}, {"scheduled_for_after": "soon"}]
)
def test_bad_run_filters_are_400(api: APIClient, query: dict[str, str]) -> None:
    response = api.get(RUNS, query)
    assert response.status_code == 400
    assert set(response.json()) == {next(iter(query)).removesuffix("_after")}


@pytest.mark.parametrize("query", ["job=true&job=", "job=1&job=2", "trigger=manual&trigger="])
def test_a_filter_given_twice_is_400(api: APIClient, runs: dict[str, JobRun], query: str) -> None:
    response = api.get(f"{RUNS}?{query}")
    assert response.status_code == 400, response.json()
    assert set(response.json()) == {query.partition("=")[0]}
    assert api.get(JOBS_LIST, {"enabled": ["true", "false"]}).status_code == 400
    assert api.get(f"{RUNS}?status=failed&status=lost").status_code == 200  # any of them


def test_runs_are_paged_by_cursor(api: APIClient, runs: dict[str, JobRun]) -> None:
    page = api.get(RUNS, {"page_size": 3}).json()
    assert len(page["results"]) == 3
    rest = api.get(page["next"]).json()
    assert [run["id"] for run in rest["results"]] == [runs["old"].pk]
    assert rest["next"] is None


def test_runs_are_read_only(api: APIClient, runs: dict[str, JobRun]) -> None:
    assert api.post(RUNS, {"job_name": "x"}, format="json").status_code == 405
    assert api.delete(f"{RUNS}{runs['old'].pk}/").status_code == 405
    assert JobRun.objects.count() == 4


def test_a_run_shows_its_result_duration_and_error(api: APIClient) -> None:
    run = JobRun.objects.create(
        job_name="gone",
        scheduled_for=T0,
        started_at=T0,
        finished_at=T0 + timedelta(seconds=90),
        status=RunStatus.FAILED,
        result={"rows": 3},
        error="Traceback ...",
    )
    data = api.get(f"{RUNS}{run.pk}/").json()
    assert (data["duration"], data["result"], data["error"]) == ("00:01:30", {"rows": 3}, run.error)


def test_a_run_shows_where_it_executed_and_its_time_queued_and_running(api: APIClient) -> None:
    now = timezone.now()
    runs = runs_of_each_kind(now)
    celery = api.get(f"{RUNS}{runs['celery'].pk}/").json()
    assert {key: celery[key] for key in ("executor", "queue", "engine_id", "worker")} == {
        "executor": "celery",
        "queue": "reports",
        "engine_id": TASK_ID,
        "worker": CELERY_WORKER,
    }
    assert parse_datetime(celery["queued_at"]) == runs["celery"].queued_at
    assert (celery["worker_host"], celery["time_queued"], celery["time_running"]) == (
        "host1",
        5.0,
        90.0,
    )
    assert celery["duration"] == "00:01:30"

    queued = api.get(f"{RUNS}{runs['queued'].pk}/").json()
    assert (queued["status"], queued["worker_host"], queued["time_running"]) == (
        "scheduled",
        "sched-host",
        None,
    )
    assert 180 <= queued["time_queued"] < 180 + (timezone.now() - now).total_seconds()

    running = api.get(f"{RUNS}{runs['running'].pk}/").json()
    assert (running["worker_host"], running["time_queued"]) == ("host2", 10.0)
    assert 60 <= running["time_running"] < 60 + (timezone.now() - now).total_seconds()

    pending = api.get(f"{RUNS}{runs['pending'].pk}/").json()
    assert [pending[key] for key in ("executor", "worker", "worker_host")] == ["", "", ""]
    assert [pending[key] for key in ("queued_at", "time_queued", "time_running")] == [None] * 3


def test_runs_are_filtered_by_executor_and_queue(api: APIClient) -> None:
    runs = runs_of_each_kind(timezone.now())

    def found(**query: str) -> set[str]:
        by_id = {run.pk: name for name, run in runs.items()}
        return {by_id[pk] for pk in ids(api.get(RUNS, query))}

    assert found(executor="celery") == {"celery", "queued"}
    assert found(executor="thread") == {"thread"}
    assert found(queue="reports") == {"celery", "queued"}
    assert found(executor="django_tasks", queue="reports") == set()
    assert found(executor="celery", status="scheduled") == {"queued"}


# -- tasks --------------------------------------------------------------------------------


def test_tasks_lists_the_registry(api: APIClient) -> None:
    listed = api.get("/api/tasks/").json()
    assert [task["name"] for task in listed] == [task.name for task in tasks]
    assert {"testapp.greet", ADD, "tests.testapp.tablecron_jobs.send_digest"} <= {
        t["name"] for t in listed
    }


def test_a_task_describes_its_parameters(api: APIClient) -> None:
    assert api.get(f"/api/tasks/{ADD}/").json() == {
        "name": ADD,
        "description": "Add two numbers.",
        "signature": "(a: int, b: int = 0) -> int",
        "is_async": False,
        "is_django_task": False,
        "parameters": [
            {
                "name": "a",
                "kind": "positional_or_keyword",
                "required": True,
                "default": None,
                "annotation": "int",
                "json_types": ["integer"],
            },
            {
                "name": "b",
                "kind": "positional_or_keyword",
                "required": False,
                "default": 0,
                "annotation": "int",
                "json_types": ["integer"],
            },
        ],
    }
    digest = api.get("/api/tasks/tests.testapp.tablecron_jobs.send_digest/").json()
    assert digest["is_django_task"] is True
    assert [(p["name"], p["kind"]) for p in digest["parameters"]] == [
        ("user_id", "positional_or_keyword"),
        ("full", "keyword_only"),
    ]
    assert api.get("/api/tasks/tests.testapp.tablecron_jobs.async_noop/").json()["is_async"] is True


def test_unknown_and_unregistered_tasks_are_404(api: APIClient) -> None:
    assert api.get("/api/tasks/os.system/").status_code == 404
    assert api.get("/api/tasks/tests.testapp.tablecron_jobs.not_registered/").status_code == 404


@override_settings(TABLECRON={"ALLOWED_TASKS": ["tests.testapp.tablecron_jobs.not_registered"]})
def test_allowed_tasks_are_listed(api: APIClient) -> None:
    name = "tests.testapp.tablecron_jobs.not_registered"
    try:
        assert api.get(f"/api/tasks/{name}/").json()["parameters"][0]["name"] == "x"
        assert name in {task["name"] for task in api.get("/api/tasks/").json()}
    finally:
        tasks.remove(name)


# -- a schedule's upcoming fire times ---------------------------------------------------


UPCOMING = "/api/schedule/upcoming/"


@pytest.mark.parametrize(
    "fields",
    [
        {"cron": "0 9 * * 1-5", "timezone": "Asia/Shanghai"},
        {"interval": "00:15:00", "start_at": "2031-06-01T00:00:00+02:00"},
        {"run_at": "2031-01-01T00:00:00Z"},
        {"cron": "*/10 * * * * *", "end_at": "2031-01-01T00:00:00Z"},
        {},
    ],
)
def test_upcoming_of_a_schedule_lists_its_fire_times_and_stores_nothing(
    api: APIClient, fields: dict[str, str]
) -> None:
    response = api.post(UPCOMING, {**fields, "count": 3}, format="json")
    assert response.status_code == 200, response.data
    as_values = {name: parse_datetime(v) or v for name, v in fields.items()}
    if "interval" in fields:
        as_values["interval"] = timedelta(minutes=15)
    assert times(response.json()["upcoming"]) == Job.upcoming_for(3, **as_values)
    assert set(response.json()) == {"upcoming"}
    assert not Job.objects.exists()


@pytest.mark.parametrize(
    ("fields", "field", "words"),
    [
        ({"cron": "0 25 * * *"}, "cron", "bad hour"),
        ({"cron": "@daily", "timezone": "Nowhere/Special"}, "timezone", "not a known time zone"),
        ({"run_at": "2031-01-01T09:00:00"}, "run_at", "time zone"),
        ({"interval": "-00:00:05"}, "interval", "at least one second"),
        ({"cron": "@daily", "interval": "60"}, "interval", "one kind"),
        (
            {"cron": "@daily", "start_at": "2031-01-02T00:00:00Z", "end_at": "2031-01-01T00:00Z"},
            "end_at",
            "later",
        ),
        # Without a schedule the model reports it as its constraint's, on no one field.
        (
            {"start_at": "2031-01-02T00:00:00Z", "end_at": "2031-01-01T00:00:00Z"},
            "non_field_errors",
            "The end must be later than the start.",
        ),
        ({"count": 101}, "count", "less than or equal to 100"),
        ({"count": 0}, "count", "greater than or equal to 1"),
    ],
)
def test_upcoming_of_a_schedule_refuses_bad_schedules_on_their_field(
    api: APIClient, fields: dict[str, Any], field: str, words: str
) -> None:
    response = api.post(UPCOMING, fields, format="json")
    assert response.status_code == 400
    assert words in " ".join(response.json()[field])
    assert not Job.objects.exists()


def test_upcoming_of_a_schedule_and_of_the_job_saved_with_it_agree(api: APIClient) -> None:
    fields = {"cron": "30 7 * * *", "timezone": "America/New_York"}
    tried = api.post(UPCOMING, fields, format="json").json()["upcoming"]
    created = api.post(
        "/api/jobs/", {**fields, "name": "n", "task": ADD, "args": [1]}, format="json"
    ).json()
    upcoming = api.get(f"/api/jobs/{created['id']}/upcoming/").json()["upcoming"]
    assert times(tried) == times(upcoming)
    assert parse_datetime(created["next_run_at"]) == times(tried)[0] > in_future()


# -- OpenAPI ------------------------------------------------------------------------------


def test_the_openapi_schema_is_valid_and_generated_without_warnings(
    api: APIClient, capsys: pytest.CaptureFixture[str]
) -> None:
    GENERATOR_STATS.reset()
    response = api.get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    schema = response.json()
    validate_schema(schema)
    assert capsys.readouterr().err == ""  # drf-spectacular reports its warnings there
    assert schema["info"]["title"] == "tablecron API"
    assert sorted(schema["paths"]) == [
        "/api/jobs/",
        "/api/jobs/{id}/",
        "/api/jobs/{id}/pause/",
        "/api/jobs/{id}/resume/",
        "/api/jobs/{id}/run/",
        "/api/jobs/{id}/upcoming/",
        "/api/runs/",
        "/api/runs/{id}/",
        "/api/runs/{id}/cancel/",
        "/api/runs/{id}/output/",
        "/api/runs/{id}/rerun/",
        "/api/schedule/upcoming/",
        "/api/tasks/",
        "/api/tasks/{name}/",
    ]


def test_the_schema_documents_actions_and_filters(api: APIClient) -> None:
    schema = api.get("/api/schema/", {"format": "json"}).json()
    paths, components = schema["paths"], schema["components"]["schemas"]
    run = paths["/api/jobs/{id}/run/"]["post"]
    assert "required" not in run["requestBody"]  # a run with other arguments, or none
    assert run["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/RunNowRequest"
    )
    assert components["RunNowRequest"]["properties"]["ignore_max_instances"]["type"] == ("boolean")
    assert run["responses"]["202"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/JobRun"
    )
    arguments = components["RunNowRequest"]["properties"]
    assert (arguments["args"]["type"], arguments["kwargs"]["type"]) == ("array", "object")
    assert "required" not in components["RunNowRequest"]
    output = paths["/api/runs/{id}/output/"]["get"]
    (offset,) = [p for p in output["parameters"] if p["name"] == "offset"]
    assert (offset["schema"]["type"], offset["schema"]["minimum"]) == ("integer", 0)
    assert set(components["RunOutput"]["properties"]) == {
        "text", "offset", "next_offset", "status", "finished"
    }  # fmt: skip
    cancel = paths["/api/runs/{id}/cancel/"]["post"]["responses"]["200"]
    assert cancel["content"]["application/json"]["schema"]["$ref"].endswith("/CancelledRun")
    how = components["CancelledRun"]["properties"]["cancel"]
    assert how["allOf"] == [{"$ref": "#/components/schemas/CancelEnum"}]
    assert components["CancelEnum"]["enum"] == ["cancelled", "requested"]
    upcoming = paths["/api/jobs/{id}/upcoming/"]["get"]
    assert {p["name"] for p in upcoming["parameters"]} == {"id", "count"}
    run_filters = {p["name"]: p for p in paths["/api/runs/"]["get"]["parameters"]}
    assert {"job", "job_name", "status", "trigger", "scheduled_for_after", "cursor"} <= set(
        run_filters
    )
    assert run_filters["job"]["description"] == "The job's id."
    assert run_filters["job"]["schema"]["maximum"] == 2**63 - 1
    assert {"executor", "queue"} <= set(run_filters)
    assert "200" in paths["/api/schedule/upcoming/"]["post"]["responses"]
    # Read-only fields are not asked of clients: requests have their own components.
    assert "next_run_at" not in components["JobRequest"]["properties"]
    assert components["JobRequest"]["required"] == ["name", "task"]
    assert components["RunStatusEnum"]["enum"][0] == "scheduled"
    assert "Celery workers" in components["JobRequest"]["properties"]["queue"]["description"]
    run = components["JobRun"]["properties"]
    assert run["time_queued"]["type"] == run["time_running"]["type"] == "number"
    assert run["time_queued"]["nullable"] is True
    assert run["worker_host"]["type"] == "string"
    assert run["queued_at"]["format"] == "date-time"
    assert {"executor", "queue", "engine_id", "worker"} <= set(run)
    assert (run["args"]["type"], run["kwargs"]["type"]) == ("array", "object")
    assert run["args"]["nullable"] is run["rerun_of"]["nullable"] is True
    assert {"claimed_by", "cancel_requested_at", "cancel_requested_by"} <= set(run)
    assert "output" not in run


@pytest.mark.parametrize(
    ("path", "method", "codes"),
    [
        ("/api/jobs/", "get", ["200", "400", "401", "403", "404"]),
        ("/api/jobs/", "post", ["201", "400", "401", "403", "415"]),
        ("/api/jobs/{id}/", "get", ["200", "401", "403", "404"]),
        ("/api/jobs/{id}/", "patch", ["200", "400", "401", "403", "404", "415"]),
        ("/api/jobs/{id}/", "delete", ["204", "401", "403", "404"]),
        ("/api/jobs/{id}/run/", "post", ["202", "400", "401", "403", "404", "409", "415"]),
        ("/api/jobs/{id}/pause/", "post", ["200", "401", "403", "404", "415"]),
        ("/api/jobs/{id}/upcoming/", "get", ["200", "400", "401", "403", "404"]),
        ("/api/runs/", "get", ["200", "400", "401", "403", "404"]),
        ("/api/runs/{id}/output/", "get", ["200", "400", "401", "403", "404"]),
        ("/api/runs/{id}/cancel/", "post", ["200", "401", "403", "404", "409", "415"]),
        ("/api/runs/{id}/rerun/", "post", ["201", "401", "403", "404", "409", "415"]),
        ("/api/tasks/", "get", ["200", "401", "403"]),
        ("/api/tasks/{name}/", "get", ["200", "401", "403", "404"]),
        ("/api/schedule/upcoming/", "post", ["200", "400", "401", "403", "415"]),
    ],
)
def test_the_schema_documents_every_status_an_operation_answers(
    api: APIClient, path: str, method: str, codes: list[str]
) -> None:
    responses = api.get("/api/schema/", {"format": "json"}).json()["paths"][path][method]
    assert list(responses["responses"]) == codes
    for code in codes:
        if code.startswith("4"):
            assert "application/json" in responses["responses"][code]["content"]


def test_the_schema_states_the_limits_the_server_enforces(api: APIClient) -> None:
    components = api.get("/api/schema/", {"format": "json"}).json()["components"]["schemas"]
    sent = components["JobRequest"]["properties"]
    assert (sent["name"]["minLength"], sent["name"]["maxLength"]) == (1, 200)
    assert (sent["task"]["minLength"], sent["task"]["maxLength"]) == (1, 200)
    assert sent["timezone"]["maxLength"] == 64
    assert sent["description"]["maxLength"] == 10_000
    assert (sent["args"]["type"], sent["kwargs"]["type"]) == ("array", "object")
    assert sent["max_instances"]["minimum"] == 1
    # null before the first run: a nullable reference to the one status enum
    status = components["Job"]["properties"]["last_status"]
    assert status["nullable"] is True
    assert status["allOf"] == [{"$ref": "#/components/schemas/RunStatusEnum"}]


def test_the_schema_is_yaml_by_default(api: APIClient) -> None:
    response = api.get("/api/schema/")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.oai.openapi")
    assert response.content.startswith(b"openapi: 3.")
