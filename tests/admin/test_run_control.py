"""A run in the operator's hands, in the admin: its output read and followed, stopping it
(button and action), running it again (button and action), and "Run now with…"."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from tablecron.audit import RUN_ACTIONS
from tablecron.executors.thread import ThreadExecutor
from tablecron.models import Job, JobRun, RunOutput, RunStatus, RunTrigger
from tablecron.scheduler import Scheduler
from tests.support.audit import trail
from tests.support.factories import T, job
from tests.support.processes import wait_for

pytestmark = pytest.mark.django_db

RUNS = reverse("admin:tablecron_jobrun_changelist")
VIEW = ("view_job", "view_jobrun")


def page_of(run: JobRun) -> str:
    return reverse("admin:tablecron_jobrun_change", args=[run.pk])


def url(name: str, obj: Job | JobRun) -> str:
    return reverse(f"admin:tablecron_{name}", args=[obj.pk])


def a_job(name: str = "adder", **fields: object) -> Job:
    saved = job(name=name, **fields)
    saved.save()
    return saved


def a_run(target: Job, status: str, minutes_ago: int = 5, **fields: object) -> JobRun:
    at = timezone.now() - timedelta(minutes=minutes_ago)
    ended = status not in (RunStatus.SCHEDULED, RunStatus.RUNNING)
    started = status != RunStatus.SCHEDULED and status != RunStatus.MISSED
    values: dict[str, object] = {
        "job": target,
        "scheduled_for": at,
        "status": status,
        "started_at": at if started else None,
        "finished_at": at + timedelta(seconds=3) if ended else None,
        "args": [2, 3],
        "kwargs": {},
        **fields,
    }
    return JobRun.objects.create(**values)


def acts() -> list[dict[str, object]]:
    """The audit trail's entries of runs (run now, rerun, cancel), oldest first."""
    return [entry for entry in trail() if entry["action"] in RUN_ACTIONS]


def messages_of(response: object) -> list[str]:
    return [str(message) for message in response.context["messages"]]  # type: ignore[attr-defined]


def user(*codenames: str, name: str = "someone") -> Client:
    """A client signed in as staff user ``name`` holding the viewer's permissions and
    ``codenames``."""
    account, _ = User.objects.get_or_create(username=name, defaults={"is_staff": True})
    account.user_permissions.set(
        Permission.objects.filter(
            content_type__app_label="tablecron", codename__in=(*VIEW, *codenames)
        )
    )
    client = Client()
    client.force_login(account)
    return client


# -- cancel ------------------------------------------------------------------------


def test_cancel_a_run_that_has_not_started_ends_it_and_is_audited() -> None:
    run = a_run(a_job(), RunStatus.SCHEDULED)
    client = user("cancel_jobrun")
    assert "Cancel run</button>" in client.get(page_of(run)).content.decode()

    response = client.post(url("jobrun_cancel", run), follow=True)
    assert response.redirect_chain == [(page_of(run), 302)]
    assert messages_of(response) == ["The run is cancelled: it had not started."]
    run.refresh_from_db()
    assert (run.status, run.cancel_requested_by, run.error) == (
        "cancelled",
        "someone",
        "Cancelled by someone.",
    )
    assert [(e["user"], e["via"], e["action"], e["run"]) for e in acts()] == [
        ("someone", "admin", "cancel", run.pk)
    ]
    assert "Cancel run</button>" not in response.content.decode()  # nothing left to stop


def test_cancel_a_running_run_asks_its_process_to_stop() -> None:
    run = a_run(a_job(), RunStatus.RUNNING)
    response = user("cancel_jobrun").post(url("jobrun_cancel", run), follow=True)
    assert messages_of(response) == ["The run was asked to stop: it ends within about a second."]
    run.refresh_from_db()
    assert run.status == "running"  # until its process stops it
    assert run.cancel_requested_at is not None
    page = response.content.decode()
    assert "Cancel run</button>" not in page  # asked already
    assert re.search(r"<strong>Asked to stop</strong>.*by someone", page)
    assert "Stopping, so far" in page

    again = user("cancel_jobrun").post(url("jobrun_cancel", run), follow=True)
    assert messages_of(again) == ["Someone had already asked the run to stop."]


def test_cancel_a_run_that_has_ended_changes_nothing() -> None:
    run = a_run(a_job(), RunStatus.SUCCEEDED)
    client = user("cancel_jobrun")
    assert "Cancel run</button>" not in client.get(page_of(run)).content.decode()
    response = client.post(url("jobrun_cancel", run), follow=True)
    assert messages_of(response) == ["The run had already ended (succeeded): nothing to stop."]
    run.refresh_from_db()
    assert (run.status, run.cancel_requested_at) == ("succeeded", None)
    assert acts() == []


def test_cancel_needs_a_post_and_the_permission() -> None:
    run = a_run(a_job(), RunStatus.SCHEDULED)
    assert user("cancel_jobrun").get(url("jobrun_cancel", run)).status_code == 405
    viewer = user(name="viewer")
    assert "Cancel run</button>" not in viewer.get(page_of(run)).content.decode()
    assert viewer.post(url("jobrun_cancel", run)).status_code == 403
    assert (
        user("cancel_jobrun")
        .post(reverse("admin:tablecron_jobrun_cancel", args=[run.pk + 100]))
        .status_code
        == 404
    )
    run.refresh_from_db()
    assert run.status == "scheduled"


def test_the_cancel_action_says_what_happened_to_each_run() -> None:
    target = a_job()
    waiting = [a_run(target, RunStatus.SCHEDULED, minutes) for minutes in (1, 2)]
    running = a_run(target, RunStatus.RUNNING, 3)
    ended = a_run(target, RunStatus.FAILED, 4)
    chosen = [*waiting, running, ended]
    response = user("cancel_jobrun").post(
        RUNS,
        {"action": "cancel_runs", "_selected_action": [run.pk for run in chosen]},
        follow=True,
    )
    assert messages_of(response) == [
        "2 runs cancelled: they had not started.",
        "1 run asked to stop: it ends within about a second.",
        "1 run had already ended: nothing to stop.",
    ]
    statuses = dict(JobRun.objects.values_list("pk", "status"))
    assert [statuses[run.pk] for run in chosen] == ["cancelled", "cancelled", "running", "failed"]
    assert sorted(e["run"] for e in acts()) == sorted(run.pk for run in chosen[:3])


# -- run again ---------------------------------------------------------------------


@pytest.mark.parametrize("status", ["failed", "timed_out", "lost", "missed"])
def test_run_again_repeats_a_failed_run_with_its_arguments(status: str) -> None:
    target = a_job(args=[1, 1])
    failed = a_run(target, status)
    client = user("run_job")
    assert "Run again</button>" in client.get(page_of(failed)).content.decode()

    response = client.post(url("jobrun_rerun", failed), follow=True)
    again = JobRun.objects.get(rerun_of=failed)
    assert response.redirect_chain == [(page_of(again), 302)]
    assert messages_of(response) == ["It will run again shortly, with the same arguments."]
    assert (again.args, again.trigger, again.status) == ([2, 3], "manual", "scheduled")
    page = response.content.decode()
    assert f'Runs again</dt><dd><a href="{page_of(failed)}">' in page
    original = client.get(page_of(failed)).content.decode()
    assert f'Run again as</dt><dd><a href="{page_of(again)}">' in original
    assert [(e["user"], e["via"], e["action"], e["run"]) for e in acts()] == [
        ("someone", "admin", "rerun", again.pk)
    ]


def test_only_failed_runs_of_existing_jobs_run_again() -> None:
    target = a_job()
    succeeded = a_run(target, RunStatus.SUCCEEDED)
    orphan = a_run(target, RunStatus.FAILED, 6)
    JobRun.objects.filter(pk=orphan.pk).update(job=None, job_name="gone")
    client = user("run_job")
    for run in (succeeded, orphan):
        assert "Run again</button>" not in client.get(page_of(run)).content.decode()
        response = client.post(url("jobrun_rerun", run), follow=True)
        assert response.redirect_chain == [(page_of(run), 302)]
        assert "Only a failed, timed-out, lost or missed run" in messages_of(response)[0]
    assert not JobRun.objects.filter(rerun_of__isnull=False).exists()


def test_run_again_needs_the_run_permission() -> None:
    failed = a_run(a_job(), RunStatus.FAILED)
    viewer = user("cancel_jobrun", "view_output", name="viewer")
    assert "Run again</button>" not in viewer.get(page_of(failed)).content.decode()
    assert viewer.post(url("jobrun_rerun", failed)).status_code == 403
    assert user("run_job").get(url("jobrun_rerun", failed)).status_code == 405
    assert JobRun.objects.count() == 1


def test_the_run_again_action_skips_runs_that_did_not_fail() -> None:
    target = a_job()
    chosen = [
        a_run(target, RunStatus.FAILED, 1),
        a_run(target, RunStatus.LOST, 2),
        a_run(target, RunStatus.SUCCEEDED, 3),
        a_run(target, RunStatus.RUNNING, 4),
    ]
    response = user("run_job").post(
        RUNS,
        {"action": "rerun_runs", "_selected_action": [run.pk for run in chosen]},
        follow=True,
    )
    assert messages_of(response) == [
        "2 runs will run again shortly.",
        "2 runs skipped: only failed, timed-out, lost and missed runs of jobs that still "
        "exist are run again.",
    ]
    assert set(JobRun.objects.values_list("rerun_of", flat=True)) == {
        None,
        chosen[0].pk,
        chosen[1].pk,
    }


# -- run now with… -----------------------------------------------------------------


def test_run_now_with_shows_the_signature_and_the_job_s_arguments() -> None:
    target = a_job(task=T + "greet", args=[], kwargs={"who": "Ada"})
    Job.objects.filter(pk=target.pk).update(task="testapp.greet")
    client = user("run_job")
    assert "Run now with…</a>" in client.get(url("job_change", target)).content.decode()
    page = client.get(url("job_run", target)).content.decode()
    assert "testapp.greet(*, who: str, punctuation: str = &#x27;!&#x27;) -&gt; str" in page
    assert "Say hello." in page
    assert re.search(r'<textarea name="kwargs"[^>]*>\s*\{&quot;who&quot;: &quot;Ada&quot;\}<', page)
    assert re.search(r'<textarea name="args"[^>]*>\s*\[\]<', page)


def test_run_now_with_other_arguments_runs_once_with_them() -> None:
    target = a_job(args=[1, 2], interval=timedelta(hours=1), cron="")
    response = user("run_job").post(
        url("job_run", target), {"args": "[40]", "kwargs": '{"b": 2}'}, follow=True
    )
    run = JobRun.objects.get()
    assert response.redirect_chain == [(page_of(run), 302)]
    assert messages_of(response) == ["It will run shortly, with these arguments."]
    assert (run.args, run.kwargs, run.trigger) == ([40], {"b": 2}, RunTrigger.MANUAL)
    target.refresh_from_db()
    assert (target.args, target.kwargs) == ([1, 2], {})
    assert [(e["user"], e["via"], e["action"], e["changes"]) for e in acts()] == [
        ("someone", "admin", "run_now", {"args": [[1, 2], [40]], "kwargs": [{}, {"b": 2}]})
    ]


@pytest.mark.parametrize(
    ("args", "kwargs", "field", "error"),
    [
        ('["a", "b", "c"]', "{}", "args", "too many positional arguments"),
        ("[1]", '{"nope": 1}', "kwargs", "nope"),
        ('"text"', "{}", "args", "list"),
        ("[1", "{}", "args", "Enter a valid JSON."),
        ('["x"]', "{}", "args", "must be int"),
    ],
)
def test_run_now_with_arguments_that_do_not_fit_is_a_field_error(
    args: str, kwargs: str, field: str, error: str
) -> None:
    target = a_job()
    response = user("run_job").post(url("job_run", target), {"args": args, "kwargs": kwargs})
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert list(errors) == [field]
    assert error in " ".join(errors[field])
    assert 'class="errorlist' in response.content.decode()
    assert not JobRun.objects.exists()
    assert acts() == []


def test_run_now_with_empty_fields_runs_without_arguments() -> None:
    target = a_job(task=T + "noop", args=[])
    user("run_job").post(url("job_run", target), {"args": "", "kwargs": ""})
    assert JobRun.objects.values_list("args", "kwargs").get() == ([], {})


def test_run_now_with_needs_the_run_permission() -> None:
    target = a_job()
    editor = user("change_job", name="editor")
    assert "Run now with…" not in editor.get(url("job_change", target)).content.decode()
    assert editor.get(url("job_run", target)).status_code == 403
    assert editor.post(url("job_run", target), {"args": "[1]", "kwargs": "{}"}).status_code == 403
    assert not JobRun.objects.exists()


# -- following the output ----------------------------------------------------------


def test_the_output_endpoint_reads_on_from_an_offset() -> None:
    run = a_run(a_job(), RunStatus.RUNNING)
    RunOutput.objects.create(run=run, offset=0, text="first\n")
    client = user("view_output")
    first = client.get(url("jobrun_output", run)).json()
    assert first == {
        "text": "first\n",
        "next_offset": 6,
        "status": "running",
        "status_label": "running",
        "finished": False,
        "fields": {},
    }
    RunOutput.objects.create(run=run, offset=6, text="second\n")
    JobRun.objects.filter(pk=run.pk).update(
        status=RunStatus.FAILED, finished_at=timezone.now(), error="Traceback…\nValueError: no"
    )
    second = client.get(url("jobrun_output", run), {"offset": 6}).json()
    assert (second["text"], second["next_offset"], second["finished"]) == ("second\n", 13, True)
    assert ">failed</span>" in second["fields"]["status_column"]
    assert "<strong>Ended</strong>" in second["fields"]["story_column"]
    assert "ValueError: no" in second["fields"]["error_traceback"]
    for odd in ("x", "²", "-1"):
        assert client.get(url("jobrun_output", run), {"offset": odd}).json()["next_offset"] == 13


def test_the_output_is_only_for_those_who_may_read_it() -> None:
    run = a_run(a_job(), RunStatus.SUCCEEDED)
    RunOutput.objects.create(run=run, offset=0, text="2026 stdout the secret\n")
    reader = user("view_output").get(page_of(run)).content.decode()
    assert (
        '<pre class="tablecron-pre tablecron-output-text">2026 stdout the secret\n</pre>' in reader
    )
    viewer = user(name="viewer")
    page = viewer.get(page_of(run)).content.decode()
    assert "the secret" not in page
    assert "You may not read the output of runs" in page
    assert viewer.get(url("jobrun_output", run)).status_code == 403
    assert user("view_output").post(url("jobrun_output", run)).status_code == 405


@pytest.fixture
def scheduler() -> Iterator[Scheduler]:
    scheduler = Scheduler(ThreadExecutor(max_workers=2))
    yield scheduler
    scheduler.shutdown()


@pytest.mark.django_db(transaction=True)
def test_follow_a_running_run_and_stop_it(scheduler: Scheduler) -> None:
    """The page's follower's way, against a run executing in a real scheduler."""
    run = a_job(task=T + "until_cancelled", args=[30]).run_now()
    client = user("view_output", "cancel_jobrun")
    page = client.get(page_of(run)).content.decode()
    assert 'data-active="true"' in page
    scheduler.run_once()
    read = {"text": "", "next_offset": 0, "finished": False}

    def follow() -> str:
        answer = client.get(url("jobrun_output", run), {"offset": read["next_offset"]}).json()
        read["text"] += answer["text"]
        read.update(next_offset=answer["next_offset"], finished=answer["finished"])
        return str(read["text"])

    wait_for(lambda: "stdout started" in follow(), 10, "the first line")
    client.post(url("jobrun_cancel", run))

    def ended() -> bool:
        scheduler.run_once()
        follow()
        return bool(read["finished"])

    wait_for(ended, 10, "the run to end")
    assert read["text"].endswith("stdout asked to stop\n")  # type: ignore[union-attr]
    assert read["text"].count("started") == 1  # type: ignore[union-attr]
    run.refresh_from_db()
    assert (run.status, run.error) == ("cancelled", "Cancelled by someone.")
    assert 'data-active="false"' in client.get(page_of(run)).content.decode()


def test_the_audit_trail_names_reruns_and_cancels(admin_client: Client) -> None:
    target = a_job()
    a_run(target, RunStatus.FAILED).rerun()
    a_run(target, RunStatus.SCHEDULED, 9).cancel(by="ops")
    trail_url = reverse("admin:tablecron_job_audit")
    page = admin_client.get(trail_url).content.decode()
    assert re.search(r"<td>run again \(<a href=\"/admin/tablecron/jobrun/\d+/change/\">", page)
    assert re.search(r"<td>run cancelled \(<a href=", page)
    only = admin_client.get(trail_url, {"kind": "cancel"}).content.decode()
    assert "run cancelled (" in only
    assert "run again (" not in only


def test_run_now_with_a_task_no_longer_registered_says_so() -> None:
    target = a_job()
    Job.objects.filter(pk=target.pk).update(task=T + "not_registered")
    client = user("run_job")
    assert "not registered" in client.get(url("job_run", target)).content.decode()
    response = client.post(url("job_run", target), {"args": "[1]", "kwargs": "{}"})
    assert list(response.context["form"].errors) == ["__all__"]
    assert "is not a registered task" in response.content.decode()
    assert not JobRun.objects.exists()


# -- issue 20: secrets and the cap on manual runs, in these doors --------------------

SECRET = {"user": "ops", "password": "hunter2"}


def test_an_operator_runs_with_the_secrets_that_run_now_with_shows_masked() -> None:
    """Issue 20, item 8: an operator (run_job, not change_job) sees the job's secrets
    masked in Run now with…; sent back masked, they run with the job's own."""
    target = a_job(task=T + "async_noop", args=[], kwargs=SECRET)
    client = user("run_job")
    page = client.get(url("job_run", target)).content.decode()
    assert "hunter2" not in page
    assert "&quot;password&quot;: &quot;********&quot;" in page
    client.post(url("job_run", target), {"args": "[]", "kwargs": json.dumps(
        {"user": "other", "password": "********"})})  # fmt: skip
    assert JobRun.objects.get().kwargs == {"user": "other", "password": "hunter2"}


def test_a_runs_arguments_are_masked_for_those_who_may_not_change_jobs() -> None:
    run = a_run(a_job(task=T + "async_noop", args=[]), "failed", args=[], kwargs=SECRET)
    assert "hunter2" not in user().get(page_of(run)).content.decode()
    assert "hunter2" in user("change_job", name="editor").get(page_of(run)).content.decode()


@pytest.mark.parametrize("way", ["button", "action", "run now with"])
def test_past_the_manual_runs_a_job_may_have_the_admin_says_so(way: str) -> None:
    """Issue 20, item 7: at MANUAL_RUNS_PER_JOB, Run again and Run now with… refuse with
    the reason, and add no run (not a server error)."""
    target = a_job()
    failed = a_run(target, "failed")
    for _ in range(3):
        target.run_now()
    client = user("run_job")
    if way == "button":
        response = client.post(url("jobrun_rerun", failed), follow=True)
        said = messages_of(response)
    elif way == "action":
        data = {"action": "rerun_runs", "_selected_action": [failed.pk]}
        said = messages_of(client.post(RUNS, data, follow=True))
    else:
        response = client.post(url("job_run", target), {"args": "[1]", "kwargs": "{}"})
        said = response.context["form"].non_field_errors()
    assert any("3 manual runs waiting or running already" in text for text in said), said
    assert JobRun.objects.filter(trigger=RunTrigger.MANUAL).count() == 3
