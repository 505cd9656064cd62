"""A run in the operator's hands through the REST API: its output, cancelling it, running
it again, and running a job once with other arguments."""

from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("rest_framework")

from django.contrib.auth.models import Permission, User
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from tablecron.executors.immediate import ImmediateExecutor
from tablecron.executors.thread import ThreadExecutor
from tablecron.models import Job, JobRun, RunStatus
from tablecron.scheduler import Scheduler
from tests.support.audit import trail
from tests.support.factories import T, job
from tests.support.processes import wait_for

pytestmark = pytest.mark.django_db

RUNS = "/api/runs/"


def ran(task: str, *args: Any, **fields: Any) -> JobRun:
    """A run of a new job of ``task``, executed here, to its end."""
    owner = job(name=f"{task}-{Job.objects.count()}", task=T + task, args=list(args), **fields)
    owner.save()
    run = owner.run_now()
    Scheduler(ImmediateExecutor()).run_once()
    run.refresh_from_db()
    assert run.finished_at is not None, run.status
    return run


def output(api: APIClient, run: JobRun, **query: Any) -> Any:
    response = api.get(f"{RUNS}{run.pk}/output/", query)
    assert response.status_code == 200, response.content
    return response.json()


def detail(run: JobRun, action: str) -> str:
    return f"{RUNS}{run.pk}/{action}/"


# -- output -------------------------------------------------------------------------------


def test_output_is_read_whole_or_from_an_offset(api: APIClient) -> None:
    run = ran("chatty", "hi", 2)
    whole = output(api, run)
    assert whole == {
        "text": run.output,
        "offset": 0,
        "next_offset": len(run.output),
        "status": "succeeded",
        "finished": True,
    }
    assert [line.split(" ", 2)[2] for line in whole["text"].splitlines()] == [
        "stdout hi out 0",
        "WARNING tests.chatty: hi log 0",
        "stderr hi err 0",
        "stdout hi out 1",
        "WARNING tests.chatty: hi log 1",
        "stderr hi err 1",
    ]
    middle = len(run.output) // 2
    rest = output(api, run, offset=middle)
    assert (rest["text"], rest["offset"], rest["next_offset"]) == (
        run.output[middle:],
        middle,
        len(run.output),
    )
    # Past the end: nothing more, and the same offset to ask for again.
    end = output(api, run, offset=whole["next_offset"])
    assert (end["text"], end["next_offset"]) == ("", whole["next_offset"])


def test_a_run_that_has_not_ended_says_so(api: APIClient) -> None:
    saved = job()
    saved.save()
    waiting = output(api, saved.run_now())
    assert waiting == {
        "text": "",
        "offset": 0,
        "next_offset": 0,
        "status": "scheduled",
        "finished": False,
    }


@pytest.mark.parametrize("offset", ["-1", "abc", "1.5", "1e3", "", ["1", "2"], ["x", ""]])
def test_an_offset_that_is_not_one_whole_number_from_0_is_a_400(
    api: APIClient, offset: str | list[str]
) -> None:
    run = ran("chatty", "hi", 1)
    response = api.get(detail(run, "output"), {"offset": offset})
    assert response.status_code == 400
    assert list(response.json()) == ["offset"]


def test_output_of_an_unknown_run_is_a_404(api: APIClient) -> None:
    assert api.get(f"{RUNS}999999/output/").status_code == 404
    assert api.get(f"{RUNS}nope/output/").status_code == 404


def test_the_run_list_and_a_run_read_no_output(api: APIClient) -> None:
    """Output is read at runs/{id}/output/ only: listing runs reads the run table alone,
    in as many queries for two runs as for twelve."""

    def listed() -> list[str]:
        with CaptureQueriesContext(connection) as queries:
            response = api.get(RUNS)
        assert response.status_code == 200
        return [query["sql"] for query in queries.captured_queries]

    runs = [ran("chatty", "x", 3) for _ in range(2)]
    few = listed()
    for _ in range(10):
        ran("chatty", "y", 3)
    many = listed()
    assert len(few) == len(many)
    assert not any("runoutput" in sql.lower() for sql in many)
    one = api.get(f"{RUNS}{runs[0].pk}/").json()
    assert "output" not in one
    assert {"args", "kwargs", "rerun_of", "claimed_by", "cancel_requested_at"} <= set(one)


# -- the permission to read output --------------------------------------------------------


def user_with(*codenames: str, **fields: Any) -> APIClient:
    user = User.objects.create_user(f"user{User.objects.count()}", **fields)
    user.user_permissions.set(
        Permission.objects.filter(content_type__app_label="tablecron", codename__in=codenames)
    )
    client = APIClient()
    client.force_login(user)
    return client


def test_output_needs_its_own_permission_beside_viewing_runs() -> None:
    run = ran("chatty", "secret", 1)
    url = detail(run, "output")
    assert user_with("view_jobrun").get(url).status_code == 403
    assert user_with("view_output").get(url).status_code == 403  # beside, not instead
    allowed = user_with("view_jobrun", "view_output").get(url)
    assert allowed.status_code == 200
    assert "secret out 0" in allowed.json()["text"]


@override_settings(TABLECRON={"API_PERMISSION_CLASSES": ["rest_framework.permissions.IsAdminUser"]})
def test_output_needs_its_permission_whatever_the_permission_classes() -> None:
    run = ran("chatty", "secret", 1)
    url = detail(run, "output")
    staff = user_with(is_staff=True)
    assert staff.get(f"{RUNS}{run.pk}/").status_code == 200  # the setting lets staff in
    refused = staff.get(url)
    assert refused.status_code == 403
    assert refused.json() == {"detail": "You do not have permission to read the output of runs."}
    assert user_with("view_output", is_staff=True).get(url).status_code == 200


@override_settings(TABLECRON={"API_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"]})
def test_an_open_api_keeps_output_closed() -> None:
    run = ran("chatty", "secret", 1)
    assert APIClient().get(f"{RUNS}{run.pk}/").status_code == 200
    assert APIClient().get(detail(run, "output")).status_code in (401, 403)


# -- cancel -------------------------------------------------------------------------------


def test_cancelling_a_run_that_has_not_started_ends_it(api: APIClient, admin_user: User) -> None:
    saved = job()
    saved.save()
    waiting = saved.run_now()
    response = api.post(detail(waiting, "cancel"))
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["id"], body["cancel"], body["status"]) == (waiting.pk, "cancelled", "cancelled")
    assert (body["error"], body["cancel_requested_by"]) == ("Cancelled by admin.", "admin")
    assert body["cancel_requested_at"] is not None
    waiting.refresh_from_db()
    assert (waiting.status, waiting.started_at) == (RunStatus.CANCELLED, None)
    (entry,) = [e for e in trail() if e["action"] == "cancel"]
    assert (entry["user"], entry["via"], entry["run"]) == ("admin", "api", waiting.pk)


@pytest.mark.parametrize("status", ["succeeded", "failed", "cancelled", "lost"])
def test_cancelling_a_run_that_had_ended_changes_nothing_and_says_so(
    api: APIClient, status: str
) -> None:
    saved = job()
    saved.save()
    ended = JobRun.objects.create(job=saved, scheduled_for=timezone.now(), status=status)
    before = JobRun.objects.values().get()
    response = api.post(detail(ended, "cancel"))
    assert response.status_code == 409
    label = RunStatus(status).label
    assert response.json() == {
        "detail": f"Run {ended.pk} had ended already ({label}): nothing changed."
    }
    assert JobRun.objects.values().get() == before
    assert not [e for e in trail() if e["action"] == "cancel"]


def test_a_second_cancel_while_the_first_is_carried_out_changes_nothing(api: APIClient) -> None:
    saved = job()
    saved.save()
    running = JobRun.objects.create(  # as a scheduler records a run it started
        job=saved, scheduled_for=timezone.now(), status="running", started_at=timezone.now()
    )
    first = api.post(detail(running, "cancel")).json()
    assert (first["cancel"], first["status"]) == ("requested", "running")
    second = api.post(detail(running, "cancel"))
    assert second.status_code == 409
    assert "being cancelled already (asked by admin at" in second.json()["detail"]


def test_cancel_of_an_unknown_run_is_a_404(api: APIClient) -> None:
    assert api.post(f"{RUNS}999999/cancel/").status_code == 404


@pytest.fixture
def scheduler() -> Iterator[Scheduler]:
    scheduler = Scheduler(ThreadExecutor(max_workers=2))
    yield scheduler
    scheduler.shutdown()


@pytest.mark.django_db(transaction=True)
def test_a_running_run_is_stopped_by_its_process(api: APIClient, scheduler: Scheduler) -> None:
    owner = job(name="waits", task=T + "until_cancelled", args=[30])
    owner.save()
    run = owner.run_now()
    scheduler.run_once()
    wait_for(lambda: "started" in output(api, run)["text"], 10, "the run to start")
    response = api.post(detail(run, "cancel"))
    assert (response.status_code, response.json()["cancel"]) == (200, "requested")

    def ended() -> bool:
        scheduler.run_once()
        return bool(output(api, run)["finished"])

    wait_for(ended, 10, "the run to stop")
    final = output(api, run)
    assert final["status"] == "cancelled"
    assert final["text"].splitlines()[-1].endswith("stdout asked to stop")


# -- rerun --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "status", ["failed", "timed_out", "lost", "missed", "cancelled", "succeeded"]
)
def test_a_rerun_is_a_new_run_with_the_same_arguments(api: APIClient, status: str) -> None:
    saved = job(args=[1])
    saved.save()
    first = JobRun.objects.create(
        job=saved, scheduled_for=timezone.now(), status=status, args=[2, 3], kwargs={}
    )
    response = api.post(detail(first, "rerun"))
    assert response.status_code == 201, response.content
    body = response.json()
    again = JobRun.objects.get(pk=body["id"])
    assert (again.rerun_of, again.args, again.kwargs) == (first, [2, 3], {})
    assert (body["rerun_of"], body["args"], body["trigger"], body["status"]) == (
        first.pk,
        [2, 3],
        "manual",
        "scheduled",
    )
    (entry,) = [e for e in trail() if e["action"] == "rerun"]
    assert (entry["user"], entry["via"], entry["run"]) == ("admin", "api", again.pk)


def test_a_rerun_of_a_run_that_has_not_ended_is_a_409(api: APIClient) -> None:
    saved = job()
    saved.save()
    waiting = saved.run_now()
    response = api.post(detail(waiting, "rerun"))
    assert response.status_code == 409
    assert response.json()["detail"] == (
        f"Run {waiting.pk} has not ended (scheduled): cancel it first."
    )
    assert JobRun.objects.count() == 1


def test_a_rerun_of_a_deleted_jobs_run_is_a_409(api: APIClient) -> None:
    saved = job()
    saved.save()
    orphan = JobRun.objects.create(job=saved, scheduled_for=timezone.now(), status="failed")
    saved.delete()
    response = api.post(detail(orphan, "rerun"))
    assert response.status_code == 409
    assert response.json()["detail"] == f"Run {orphan.pk} cannot run again: its job was deleted."
    assert JobRun.objects.count() == 1


def test_a_rerun_whose_arguments_no_longer_fit_is_a_409(api: APIClient) -> None:
    saved = job()  # add(a, b=0)
    saved.save()
    old = JobRun.objects.create(  # ran with a third argument, before the task changed
        job=saved, scheduled_for=timezone.now(), status="failed", args=[1, 2, 3], kwargs={}
    )
    response = api.post(detail(old, "rerun"))
    assert response.status_code == 409
    assert response.json()["detail"].startswith(f"Run {old.pk} cannot run again: These arguments")
    assert JobRun.objects.count() == 1


# -- run with other arguments -------------------------------------------------------------


def run_url(saved: Job) -> str:
    return f"/api/jobs/{saved.pk}/run/"


def test_run_with_other_arguments_leaves_the_job_as_it_is(api: APIClient) -> None:
    saved = job(args=[1, 2])
    saved.save()
    response = api.post(run_url(saved), {"args": [40], "kwargs": {"b": 2}}, format="json")
    assert response.status_code == 202, response.content
    assert (response.json()["args"], response.json()["kwargs"]) == ([40], {"b": 2})
    run = JobRun.objects.get()
    Scheduler(ImmediateExecutor()).run_once()
    run.refresh_from_db()
    assert (run.status, run.result) == ("succeeded", 42)
    saved.refresh_from_db()
    assert (saved.args, saved.kwargs) == ([1, 2], {})
    entry = trail()[-1]
    assert (entry["action"], entry["via"], entry["changes"]) == (
        "run_now",
        "api",
        {"args": [[1, 2], [40]], "kwargs": [{}, {"b": 2}]},
    )


@pytest.mark.parametrize("body", [None, {}, {"args": None, "kwargs": None}])
def test_run_without_arguments_runs_with_the_jobs(api: APIClient, body: Any) -> None:
    saved = job(args=[1, 2])
    saved.save()
    response = api.post(run_url(saved), body, format="json")
    assert response.status_code == 202, response.content
    Scheduler(ImmediateExecutor()).run_once()
    assert JobRun.objects.get().result == 3


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"args": [1, 2, 3]}, "args", "do not fit"),
        ({"kwargs": {"nope": 1}}, "kwargs", "do not fit"),
        ({"args": "1, 2"}, "args", "JSON list"),
        ({"kwargs": [1]}, "kwargs", "JSON object"),
        ({"args": ["x"]}, "args", ""),  # a str where the task wants an int
        ([1, 2], "non_field_errors", "dictionary"),
    ],
)
def test_run_with_arguments_that_do_not_fit_is_a_400_and_stores_nothing(
    api: APIClient, body: Any, field: str, words: str
) -> None:
    saved = job(args=[1, 2])
    saved.save()
    response = api.post(run_url(saved), body, format="json")
    assert response.status_code == 400, response.content
    assert list(response.json()) == [field]
    assert words in " ".join(response.json()[field])
    assert not JobRun.objects.exists()
    assert not [e for e in trail() if e["action"] == "run_now"]


def test_run_with_arguments_of_an_unknown_job_is_a_404(api: APIClient) -> None:
    response = api.post("/api/jobs/999999/run/", {"args": [1]}, format="json")
    assert response.status_code == 404
    assert response.json()["detail"]


# -- issue 20: secrets and the cap on manual runs, in these doors --------------------

SECRET = {"user": "ops", "password": "hunter2"}


def a_client(*codenames: str) -> APIClient:
    account = User.objects.create_user(f"u{User.objects.count()}")
    account.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    client = APIClient()
    client.force_login(account)
    return client


def test_a_runs_arguments_are_masked_for_those_who_may_not_change_jobs() -> None:
    """Issue 20, item 8: a run's arguments, as a job's, for anyone without change_job."""
    owner = job(task=T + "async_noop", args=[], kwargs=SECRET)
    owner.save()
    run = JobRun.objects.create(job=owner, scheduled_for=timezone.now(), kwargs=SECRET)
    viewer = a_client("view_jobrun")
    for shown in (viewer.get(f"{RUNS}{run.pk}/").json(), viewer.get(RUNS).json()["results"][0]):
        assert shown["kwargs"] == {"user": "ops", "password": "********"}
    editor = a_client("view_jobrun", "change_job")
    assert editor.get(f"{RUNS}{run.pk}/").json()["kwargs"] == SECRET


def test_an_operator_runs_with_the_secrets_it_reads_masked() -> None:
    """What an operator read masked and sends back to run/ runs with the job's own."""
    owner = job(task=T + "async_noop", args=[], kwargs=SECRET)
    owner.save()
    operator = a_client("view_job", "run_job")
    read = operator.get(f"/api/jobs/{owner.pk}/").json()["kwargs"]
    answer = operator.post(f"/api/jobs/{owner.pk}/run/", {"kwargs": read}, format="json")
    assert answer.status_code == 202, answer.content
    assert answer.json()["kwargs"] == {"user": "ops", "password": "********"}
    assert JobRun.objects.get().kwargs == SECRET


def test_a_rerun_past_the_manual_runs_a_job_may_have_is_a_409(api: APIClient) -> None:
    """Issue 20, item 7: rerun/ goes through run_now() and its cap: a 409 that says why."""
    saved = job()
    saved.save()
    failed = JobRun.objects.create(job=saved, scheduled_for=timezone.now(), status="failed")
    for _ in range(3):
        saved.run_now()
    response = api.post(detail(failed, "rerun"))
    assert response.status_code == 409
    assert "3 manual runs waiting or running already" in response.json()["detail"]
    assert JobRun.objects.count() == 4
