"""The REST API's jobs: CRUD through the ORM, the actions, and the model's own validation."""

import json
import math
from base64 import b64encode
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("rest_framework")

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.test import override_settings
from django.utils.dateparse import parse_datetime
from django.utils.duration import duration_string
from rest_framework.exceptions import ValidationError as APIValidationError
from rest_framework.test import APIClient

from tablecron.command_task import TASK_NAME
from tablecron.contrib.rest_framework.serializers import JobSerializer
from tablecron.describe import describe_schedule
from tablecron.models import Job, JobRun, RunStatus, RunTrigger
from tests.support.bad_inputs import BAD_INPUTS
from tests.support.factories import ADD, YEARLY, T, in_future, job, next_cron, signed_in

pytestmark = pytest.mark.django_db

JOBS = "/api/jobs/"
VALID = {"name": "report", "task": ADD, "args": [1], "cron": YEARLY}


def detail(job: Job, action: str = "") -> str:
    return f"{JOBS}{job.pk}/{action + '/' if action else ''}"


def when(text: str | None) -> datetime | None:
    return parse_datetime(text) if text else None


def test_create_computes_next_run_and_ignores_read_only_fields(api: APIClient) -> None:
    sent = {**VALID, "timezone": "Asia/Shanghai", "next_run_at": "2001-01-01T00:00:00Z"}
    kept = {"version": 99, "last_status": "failed", "code_status": "declared"}
    response = api.post(JOBS, {**sent, **kept}, format="json")
    assert response.status_code == 201, response.data
    created = Job.objects.get()
    assert created.next_run_at == next_cron(YEARLY, zone="Asia/Shanghai")
    assert (created.version, created.last_status, created.code_status) == (0, "", "")
    data = response.json()
    assert data["id"] == created.pk
    assert when(data["next_run_at"]) == created.next_run_at
    assert when(data["created_at"]) == created.created_at
    assert data["last_status"] is None  # no run yet: null, not an empty string
    assert data["code_status"] is None  # made in the table
    assert data["schedule_description"] == describe_schedule(created)


def test_list_is_paginated_and_filters_by_name_task_and_enabled(api: APIClient) -> None:
    job(name="a").save()
    job(name="b", enabled=False).save()
    job(name="c", task="tests.testapp.tablecron_jobs.noop", args=[]).save()
    listed = api.get(JOBS).json()
    assert listed["count"] == 3
    assert [j["name"] for j in listed["results"]] == ["a", "b", "c"]
    assert [j["name"] for j in api.get(JOBS, {"name": "b"}).json()["results"]] == ["b"]
    assert [j["name"] for j in api.get(JOBS, {"enabled": "false"}).json()["results"]] == ["b"]
    noop = api.get(JOBS, {"task": "tests.testapp.tablecron_jobs.noop"}).json()["results"]
    assert [j["name"] for j in noop] == ["c"]
    page = api.get(JOBS, {"page_size": 2, "page": 2}).json()
    assert [j["name"] for j in page["results"]] == ["c"]


def test_retrieve_and_unknown_id(api: APIClient) -> None:
    saved = job(interval=timedelta(hours=26), cron="")
    saved.save()
    data = api.get(detail(saved)).json()
    assert data["name"] == "job"
    assert data["interval"] == "1 02:00:00"  # DRF's duration format: [DD] [HH:[MM:]]ss[.uuuuuu]
    assert api.get(f"{JOBS}{saved.pk + 1}/").status_code == 404


def test_patch_of_the_schedule_reschedules(api: APIClient) -> None:
    saved = job()
    saved.save()
    response = api.patch(detail(saved), {"cron": "0 6 * * *"}, format="json")
    assert response.status_code == 200, response.data
    saved.refresh_from_db()
    assert saved.next_run_at == next_cron("0 6 * * *")
    assert saved.version == 1
    assert when(response.json()["next_run_at"]) == saved.next_run_at
    assert response.json()["version"] == 1


def test_patch_writes_only_what_it_sends(api: APIClient) -> None:
    saved = job()
    saved.save()
    # Columns the scheduler owns, and a field someone else edits after the API loaded
    # the row, must survive: the API writes the sent fields alone.
    Job.objects.filter(pk=saved.pk).update(last_status=RunStatus.FAILED)
    response = api.patch(detail(saved), {"description": "Yearly."}, format="json")
    assert response.status_code == 200, response.data
    saved.refresh_from_db()
    assert (saved.description, saved.last_status, saved.version) == ("Yearly.", "failed", 0)
    assert saved.updated_at > saved.created_at


def test_a_job_names_its_queue(api: APIClient) -> None:
    response = api.post(JOBS, {**VALID, "queue": "reports"}, format="json")
    assert response.status_code == 201, response.data
    assert response.json()["queue"] == "reports"
    saved = Job.objects.get()
    assert saved.queue == "reports"
    assert api.patch(detail(saved), {"queue": "bulk:low-1"}, format="json").status_code == 200
    assert Job.objects.get().queue == "bulk:low-1"
    assert api.patch(detail(saved), {"queue": ""}, format="json").json()["queue"] == ""


def test_a_job_sets_its_notifications_and_shows_their_state(api: APIClient) -> None:
    sent = {**VALID, "notify": True, "notify_emails": "ops@example.com",
            "notify_webhook": "https://hooks.example.com/x", "alert_after": "01:00:00",
            "alert_state": "silent", "last_success_at": "2001-01-01T00:00:00Z"}  # fmt: skip
    response = api.post(JOBS, sent, format="json")
    assert response.status_code == 201, response.data
    saved = Job.objects.get()
    assert (saved.notify, saved.notify_emails) == (True, "ops@example.com")
    assert (saved.notify_webhook, saved.alert_after) == (sent["notify_webhook"], timedelta(hours=1))
    assert (saved.alert_state, saved.last_success_at) == ("ok", None)  # tablecron's to keep
    data = response.json()
    assert (data["alert_after"], data["alert_state"], data["last_success_at"]) == (
        "01:00:00", "ok", None
    )  # fmt: skip


@pytest.mark.parametrize(
    ("queue", "words"), [("two words", "Enter a queue name"), ("q" * 201, "at most 200")]
)
def test_a_bad_queue_is_the_models_field_error(api: APIClient, queue: str, words: str) -> None:
    expected = model_errors(job(queue=queue))["queue"]
    assert words in expected[0]
    created = api.post(JOBS, {**VALID, "queue": queue}, format="json")
    assert (created.status_code, created.json()) == (400, {"queue": expected})
    assert not Job.objects.exists()
    saved = job(queue="reports")
    saved.save()
    changed = api.patch(detail(saved), {"queue": queue}, format="json")
    assert (changed.status_code, changed.json()) == (400, {"queue": expected})
    assert Job.objects.get().queue == "reports"


def test_put_replaces_the_job(api: APIClient) -> None:
    saved = job()
    saved.save()
    replacement = {"name": "renamed", "task": ADD, "args": [2], "cron": "", "interval": "P1D"}
    response = api.put(detail(saved), replacement, format="json")
    assert response.status_code == 200, response.data
    saved.refresh_from_db()
    assert (saved.name, saved.args, saved.cron, saved.interval) == (
        "renamed",
        [2],
        "",
        timedelta(days=1),
    )


def test_a_put_without_a_field_gives_it_its_default(api: APIClient) -> None:
    saved = job(cron=YEARLY, description="yearly", max_retries=3)
    saved.save()
    at = in_future(days=2)
    # No cron in the body, a run_at: the job becomes a one-off, not a job with two kinds.
    response = api.put(detail(saved), {"name": "once", "task": ADD, "args": [1],
                                       "run_at": at.isoformat()}, format="json")  # fmt: skip
    assert response.status_code == 200, response.data
    saved.refresh_from_db()
    assert (saved.cron, saved.run_at, saved.next_run_at) == ("", at, at)
    assert (saved.description, saved.max_retries) == ("", 0)


def test_delete_unschedules_and_keeps_the_runs(api: APIClient) -> None:
    saved = job()
    saved.save()
    saved.run_now()
    assert api.delete(detail(saved)).status_code == 204
    assert not Job.objects.exists()
    run = JobRun.objects.get()
    assert (run.job, run.job_name) == (None, "job")


def test_run_adds_a_manual_run_and_leaves_the_schedule(api: APIClient) -> None:
    saved = job()
    saved.save()
    response = api.post(detail(saved, "run"))
    assert response.status_code == 202, response.data
    run = JobRun.objects.get()
    assert response.json()["id"] == run.pk
    assert (run.trigger, run.status, run.job) == (RunTrigger.MANUAL, RunStatus.SCHEDULED, saved)
    assert Job.objects.get().next_run_at == saved.next_run_at


def test_run_stops_at_the_manual_runs_a_job_may_have(api: APIClient) -> None:
    """Issue 20, item 7: 16 POSTs of run/ on a max_instances=1 job all ran at once. At
    most MANUAL_RUNS_PER_JOB (3) manual runs wait or run; beyond, 409 with the reason."""
    saved = job()
    saved.save()
    answers = [api.post(detail(saved, "run")).status_code for _ in range(5)]
    assert answers == [202, 202, 202, 409, 409]
    refused = api.post(detail(saved, "run"), {"ignore_max_instances": True}, format="json")
    assert refused.status_code == 409
    assert "MANUAL_RUNS_PER_JOB" in refused.json()["detail"]
    assert JobRun.objects.count() == 3
    JobRun.objects.update(status=RunStatus.SUCCEEDED)  # they ended: room again
    beside = api.post(detail(saved, "run"), {"ignore_max_instances": True}, format="json")
    assert beside.status_code == 202
    assert JobRun.objects.get(pk=beside.json()["id"]).ignore_max_instances
    bad = api.post(detail(saved, "run"), {"ignore_max_instances": [1]}, format="json")
    assert (bad.status_code, list(bad.json())) == (400, ["ignore_max_instances"])


@override_settings(TABLECRON={"NOTIFY_EMAIL_DOMAINS": ["example.com"]})
def test_recipients_outside_the_allowed_domains_are_a_field_error(api: APIClient) -> None:
    answer = api.post(JOBS, {**VALID, "notify_emails": "a@evil.org"}, format="json")
    assert answer.status_code == 400
    assert answer.json() == {
        "notify_emails": ["Notifications go to addresses at example.com only; these are not: "
                          "a@evil.org."]
    }  # fmt: skip
    created = api.post(JOBS, {**VALID, "notify_emails": "a@example.com"}, format="json")
    assert created.status_code == 201


def test_viewers_do_not_see_secrets(api: APIClient) -> None:
    """Issue 20, item 8: a viewer read job arguments and webhook URLs, tokens included.
    Values under keys that look secret and the webhook past its host are masked for
    anyone who may not change jobs; an editor sees them, to edit them."""
    secret = {"user": "ops", "password": "hunter2", "nested": {"api_key": "k-1"}}
    webhook = "https://hooks.slack.com/services/T0/B0/XYZSECRET"
    saved = job(task=T + "async_noop", args=[], kwargs=secret, notify_webhook=webhook)
    saved.save()
    masked = {"user": "ops", "password": "********", "nested": {"api_key": "********"}}
    for role, codenames in (("viewer", ["view_job"]), ("operator", ["view_job", "run_job"])):
        client = signed_in(APIClient(), role, codenames)
        for shown in (client.get(detail(saved)).json(), client.get(JOBS).json()["results"][0]):
            assert (shown["kwargs"], shown["notify_webhook"]) == (
                masked,
                "https://hooks.slack.com/********",
            )
    editor = signed_in(APIClient(), "editor", ["view_job", "change_job"])
    shown = editor.get(detail(saved)).json()
    assert (shown["kwargs"], shown["notify_webhook"]) == (secret, webhook)


def test_pause_and_resume(api: APIClient) -> None:
    saved = job()
    saved.save()
    paused = api.post(detail(saved, "pause"))
    assert paused.status_code == 200
    assert (paused.json()["enabled"], paused.json()["next_run_at"]) == (False, None)
    assert Job.objects.get().next_run_at is None
    resumed = api.post(detail(saved, "resume")).json()
    assert resumed["enabled"] is True
    assert when(resumed["next_run_at"]) == next_cron(YEARLY) == Job.objects.get().next_run_at


def test_pause_works_on_a_row_that_no_longer_validates(api: APIClient) -> None:
    saved = job()
    saved.save()
    Job.objects.filter(pk=saved.pk).update(task="removed.in.last.deploy")
    assert api.post(detail(saved, "pause")).status_code == 200
    assert not Job.objects.get().enabled


def test_upcoming(api: APIClient) -> None:
    saved = job(cron="", interval=timedelta(minutes=10))
    saved.save()
    response = api.get(detail(saved, "upcoming"), {"count": 3})
    assert response.status_code == 200
    upcoming = [when(text) for text in response.json()["upcoming"]]
    assert upcoming == saved.upcoming(3)
    assert len(api.get(detail(saved, "upcoming")).json()["upcoming"]) == 5
    # Repeated, or empty: not the one integer the schema says (DRF would take the last,
    # and an empty one for none).
    for bad in ("0", "101", "many", "", ["3", "4"], ["many", ""]):
        answer = api.get(detail(saved, "upcoming"), {"count": bad})
        assert answer.status_code == 400
        assert "count" in answer.json()


def test_upcoming_ends_at_the_calendars_end_for_a_viewer() -> None:
    """Issue 20, item 5: a rare cron expression near the end of the allowed range was a
    500 (cronsim ran past year 9999) for anyone who may view jobs; the series ends
    before 9000 instead, tried or stored."""
    viewer = signed_in(APIClient(), "viewer", ["view_job"])
    rare = {"cron": "0 0 * 2 1#5", "timezone": "UTC", "start_at": "8990-01-01T00:00:00Z"}
    only = [datetime(8996, 2, 29, tzinfo=UTC)]
    tried = viewer.post("/api/schedule/upcoming/", {**rare, "count": 100}, format="json")
    assert tried.status_code == 200, tried.content
    assert [when(text) for text in tried.json()["upcoming"]] == only
    saved = job(cron=rare["cron"], timezone="UTC", start_at=datetime(8990, 1, 1, tzinfo=UTC))
    saved.save()
    stored = viewer.get(detail(saved, "upcoming"), {"count": 100})
    assert stored.status_code == 200, stored.content
    assert [when(text) for text in stored.json()["upcoming"]] == only


# -- bad input: the model's errors, on the same fields, and nothing stored ----------------


class NotJSON(Exception):
    pass


def as_json(value: Any) -> Any:
    """A model value as a client would send it: durations and datetimes as DRF reads them."""
    if isinstance(value, timedelta):
        return duration_string(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list):
        return [as_json(item) for item in value]
    if isinstance(value, dict):
        return {key: as_json(item) for key, item in value.items()}
    if isinstance(value, float) and not math.isfinite(value):
        raise NotJSON(value)
    if value is not None and not isinstance(value, str | int | float | bool):
        raise NotJSON(value)  # Decimal, object(): a JSON body cannot carry them
    return value


def sendable(fields: dict[str, Any]) -> bool:
    try:
        as_json(fields)
    except (NotJSON, RecursionError):
        return False
    return True


API_CASES = [case for case in BAD_INPUTS if sendable(case[1])]


def test_the_api_is_tried_on_nearly_every_bad_input_of_the_model() -> None:
    # The non-JSON values and the 50,000-deep arguments, tested below.
    assert len(BAD_INPUTS) - len(API_CASES) <= 4


def body(payload: Any) -> dict[str, Any]:
    """A JSON request body, as clients write it: ASCII, any lone surrogate escaped."""
    return {"data": json.dumps(payload), "content_type": "application/json"}


def model_errors(candidate: Job) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as caught:
        candidate.full_clean()
    return caught.value.message_dict


@pytest.mark.parametrize(
    ("fields", "field", "words"),
    [pytest.param(fields, field, words, id=case) for case, fields, field, words in API_CASES],
)
def test_create_refuses_what_the_model_refuses(
    api: APIClient, fields: dict[str, Any], field: str, words: str
) -> None:
    expected = model_errors(job(**fields))[field]
    payload = {"name": "job", "task": ADD, "args": [1], "cron": YEARLY, **as_json(fields)}
    response = api.post(JOBS, **body(payload))
    assert response.status_code == 400
    assert response.json()[field] == expected
    assert words.lower() in " ".join(expected).lower()
    assert not Job.objects.exists()


@pytest.mark.parametrize(
    ("fields", "field"),
    [pytest.param(fields, field, id=case) for case, fields, field, _words in API_CASES],
)
def test_update_refuses_what_the_model_refuses(
    api: APIClient, fields: dict[str, Any], field: str
) -> None:
    saved = job()
    saved.save()
    edited = Job.objects.get()
    for name, value in fields.items():
        setattr(edited, name, value)
    expected = model_errors(edited)[field]
    before = Job.objects.values().get()
    response = api.patch(detail(saved), **body(as_json(fields)))
    assert response.status_code == 400
    assert response.json()[field] == expected
    assert Job.objects.values().get() == before


def test_values_json_cannot_carry_are_a_400_and_nothing_is_stored(api: APIClient) -> None:
    body = '{"name": "nan", "task": "' + ADD + '", "args": [NaN], "cron": "@daily"}'
    response = api.post(JOBS, body, content_type="application/json")
    assert response.status_code == 400
    assert "JSON parse error" in response.json()["detail"]
    assert not Job.objects.exists()


def test_type_errors_are_on_their_field(api: APIClient) -> None:
    payload = {**VALID, "interval": "soon", "max_instances": "two", "enabled": "perhaps"}
    errors = api.post(JOBS, {**payload, "cron": ""}, format="json").json()
    assert set(errors) == {"interval", "max_instances", "enabled"}
    assert not Job.objects.exists()


def test_required_fields(api: APIClient) -> None:
    errors = api.post(JOBS, {}, format="json").json()
    assert errors == {"name": ["This field is required."], "task": ["This field is required."]}


def test_duplicate_name_is_the_models_message(api: APIClient) -> None:
    job(name="report").save()
    response = api.post(JOBS, VALID, format="json")
    assert response.status_code == 400
    assert response.json() == {"name": ["Job with this Name already exists."]}
    assert Job.objects.count() == 1


def test_a_name_taken_between_validation_and_save_is_a_field_error() -> None:
    serializer = JobSerializer(data=VALID)
    assert serializer.is_valid(), serializer.errors
    job(name="report").save()  # another request wins the race
    with pytest.raises(APIValidationError) as caught:
        serializer.save()
    assert caught.value.detail == {"name": ["Job with this Name already exists."]}
    assert Job.objects.count() == 1


def test_aware_datetimes_in_any_offset_are_accepted(api: APIClient) -> None:
    start = in_future(days=1).replace(microsecond=0)
    payload = {**VALID, "start_at": start.astimezone().isoformat()}
    payload["end_at"] = (start + timedelta(days=400)).isoformat().replace("+00:00", "-05:00")
    response = api.post(JOBS, payload, format="json")
    assert response.status_code == 201, response.data
    created = Job.objects.get()
    assert created.start_at == start
    assert created.end_at == start + timedelta(days=400, hours=5)


@pytest.mark.parametrize("depth", [101, 5_000, 200_000])
def test_a_body_nested_too_deep_is_a_400_and_nothing_is_stored(api: APIClient, depth: int) -> None:
    nested = "[" * depth + "]" * depth
    raw = '{"name": "deep", "task": "' + ADD + '", "args": ' + nested + "}"
    response = api.post(JOBS, raw, content_type="application/json")
    assert response.status_code == 400
    assert "nested more than 100 levels" in response.json()["detail"]
    assert not Job.objects.exists()


@pytest.mark.parametrize("sent", ["1000000000 00:00:00", "P1000000000D", 10**20])
def test_a_duration_beyond_python_is_a_field_error(api: APIClient, sent: Any) -> None:
    response = api.post(JOBS, **body({**VALID, "cron": "", "interval": sent}))
    assert (response.status_code, list(response.json())) == (400, ["interval"])
    assert not Job.objects.exists()


def test_a_date_beyond_python_in_the_current_time_zone_is_a_field_error(api: APIClient) -> None:
    response = api.post(JOBS, **body({**VALID, "end_at": "9999-12-31T23:59:59-12:00"}))
    assert response.status_code == 400
    assert list(response.json()) == ["end_at"]
    assert not Job.objects.exists()


def test_bodies_are_json_only(api: APIClient) -> None:
    response = api.post(JOBS, VALID)  # multipart, the test client's default
    assert response.status_code == 415
    assert not Job.objects.exists()


# What a page on another site can send with a browser's credentials (HTTP Basic is sent
# by the browser itself), without the CORS preflight that JSON needs.
FOREIGN_BODIES = [
    ("text/plain", "x=y"),
    ("application/x-www-form-urlencoded", "x=y"),
    ("multipart/form-data; boundary=b", '--b\r\nContent-Disposition: form-data; name="x"'
                                        "\r\n\r\ny\r\n--b--\r\n"),
]  # fmt: skip


def basic(role: str, codenames: tuple[str, ...] = ()) -> APIClient:
    """A client that authenticates each request with HTTP Basic, as a browser does once
    the user has signed in to the API so."""
    signed_in(APIClient(), role, codenames)
    user = User.objects.get(username=role)
    user.set_password("secret")
    user.save()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Basic " + b64encode(f"{role}:secret".encode()).decode())
    return client


@pytest.mark.parametrize(("content_type", "payload"), FOREIGN_BODIES)
@pytest.mark.parametrize("action", ["run", "pause", "resume"])
def test_actions_take_json_only(content_type: str, payload: str, action: str) -> None:
    """Issue 20, item 4: run, pause and resume never read their body, so a foreign page's
    <form enctype=text/plain> ran a job with the browser's Basic credentials. Now any body
    but JSON is a 415, and nothing changes."""
    saved = job()
    saved.save()
    client = basic("superuser")
    response = client.generic("POST", detail(saved, action), payload, content_type=content_type)
    assert response.status_code == 415, response.content
    assert not JobRun.objects.exists()
    assert (Job.objects.get().enabled, Job.objects.get().version) == (True, saved.version)
    assert client.post(detail(saved, action)).status_code in (200, 202)  # no body: fine
    json_body = client.generic("POST", detail(saved, action), "{}", content_type="application/json")
    assert json_body.status_code in (200, 202)


def test_the_browsable_api_never_answers_500() -> None:
    """Every endpoint, asked for HTML by a browser with every kind of body: an answer,
    never a server error (the browsable API read a text/plain body while rendering the
    run's 202, and failed)."""
    saved = job()
    saved.save()
    run = JobRun.objects.create(job=saved, scheduled_for=saved.created_at, status="succeeded")
    client = basic("superuser")
    one = detail(saved)
    gets = [JOBS, one, f"{one}upcoming/", "/api/runs/", f"/api/runs/{run.pk}/", "/api/tasks/"]
    posts = [JOBS, f"{one}run/", f"{one}pause/", f"{one}resume/", "/api/schedule/upcoming/"]
    bodies = [*FOREIGN_BODIES, ("application/json", "{}"), ("application/json", "[")]
    for url in gets:
        assert client.get(url, HTTP_ACCEPT="text/html").status_code == 200, url
    for url in posts:
        for content_type, payload in bodies:
            response = client.generic(
                "POST", url, payload, content_type=content_type, HTTP_ACCEPT="text/html"
            )
            assert response.status_code < 500, (url, content_type)
    for content_type, payload in bodies:
        for method in ("PATCH", "PUT"):
            response = client.generic(
                method, one, payload, content_type=content_type, HTTP_ACCEPT="text/html"
            )
            assert response.status_code < 500, (method, content_type)


@pytest.mark.parametrize("pk", ["0.5", "abc", str(10**30), "-1"])
def test_any_wrong_id_is_a_json_404(api: APIClient, pk: str) -> None:
    for path in (f"{JOBS}{pk}/", f"{JOBS}{pk}/upcoming/", f"/api/runs/{pk}/"):
        response = api.get(path)
        assert (response.status_code, response["Content-Type"]) == (404, "application/json")


@pytest.mark.parametrize("size", ["0", "-5", "ten", "null"])
def test_a_bad_page_size_is_a_400(api: APIClient, size: str) -> None:
    for path in (JOBS, "/api/runs/"):
        response = api.get(path, {"page_size": size})
        assert (response.status_code, list(response.json())) == (400, ["page_size"])


def test_a_page_size_above_the_limit_is_capped(api: APIClient) -> None:
    assert api.get(JOBS, {"page_size": str(10**30)}).status_code == 200


@pytest.mark.parametrize("pk", [str(2**63), "0", "-1", "0.5", "4e155"])
def test_a_job_filter_that_no_id_can_match_is_a_400(api: APIClient, pk: str) -> None:
    response = api.get("/api/runs/", {"job": pk})
    assert (response.status_code, list(response.json())) == (400, ["job"])


@pytest.mark.parametrize(("sent", "names"), [("true", ["a"]), ("0", ["b"]), ("", ["a", "b"])])
def test_the_enabled_filter(api: APIClient, sent: str, names: list[str]) -> None:
    job(name="a").save()
    job(name="b", enabled=False).save()
    listed = api.get(JOBS, {"enabled": sent}).json()["results"]
    assert [found["name"] for found in listed] == names


def test_an_enabled_filter_that_is_no_boolean_is_a_400(api: APIClient) -> None:
    response = api.get(JOBS, {"enabled": "-58800"})
    assert (response.status_code, response.json()) == (400, {"enabled": ["Enter true or false."]})


def test_a_job_declared_in_code_takes_only_what_people_own(api: APIClient) -> None:
    """As in the admin: what it does and when is code's (the next sync would undo an edit);
    pausing and its notifications are people's."""
    declared = job(name="declared", cron=YEARLY, code_status="declared")
    declared.save()
    refused = api.patch(detail(declared), {"cron": "0 1 * * *", "args": [2]}, format="json")
    assert refused.status_code == 400
    assert set(refused.json()) == {"cron", "args"}
    assert "declared in code" in refused.json()["cron"][0]
    declared.refresh_from_db()
    assert (declared.cron, declared.args) == (YEARLY, [1])
    same = {"cron": YEARLY, "enabled": False, "notify_emails": "ops@example.com"}
    assert api.patch(detail(declared), same, format="json").status_code == 200
    declared.refresh_from_db()
    assert (declared.enabled, declared.notify_emails) == (False, "ops@example.com")
    # Its name is its key in code: a rename would split it in two at the next sync.
    renamed = api.patch(detail(declared), {"name": "renamed"}, format="json")
    assert (renamed.status_code, list(renamed.json())) == (400, ["name"])


CALL_COMMAND = "django.core.management.call_command"


@override_settings(TABLECRON={"ALLOWED_TASKS": [CALL_COMMAND]})
def test_an_editor_cannot_schedule_a_gateway_to_code(tmp_path: Path) -> None:
    # Issue 20: with the escape hatch the docs once suggested, this ran a shell command.
    editor = signed_in(APIClient(), "editor", ("view_job", "add_job", "change_job"))
    pwned = tmp_path / "pwned.txt"
    exploit = {
        "name": "pwn",
        "task": CALL_COMMAND,
        "args": ["shell"],
        "kwargs": {"command": f"open({str(pwned)!r}, 'w').write('pwned')"},
        "run_at": in_future(seconds=1).isoformat(),
    }
    response = editor.post(JOBS, exploit, format="json")
    assert response.status_code == 400, response.data
    assert "runs whatever code or command" in str(response.data["task"][0])
    assert not Job.objects.exists()
    tasks_listed = [task["name"] for task in editor.get("/api/tasks/").json()]
    assert CALL_COMMAND not in tasks_listed
    assert editor.get(f"/api/tasks/{CALL_COMMAND}/").status_code == 404


@override_settings(TABLECRON={"MANAGEMENT_COMMANDS": ["check"]})
def test_management_commands_are_scheduled_with_checked_arguments(api: APIClient) -> None:
    command = {"name": "check", "task": TASK_NAME, "cron": YEARLY}
    response = api.post(JOBS, {**command, "args": ["check", "--nope"]}, format="json")
    assert response.status_code == 400
    assert "unrecognized arguments: --nope" in str(response.data["args"][0])
    response = api.post(JOBS, {**command, "args": ["check", "--deploy"]}, format="json")
    assert response.status_code == 201, response.data
    described = api.get(f"/api/tasks/{TASK_NAME}/").json()
    assert [parameter["name"] for parameter in described["parameters"]] == [
        "command",
        "args",
        "options",
    ]
