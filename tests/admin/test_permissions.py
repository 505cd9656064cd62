"""Who may do what in the admin: each role against every view and every action of
tablecron's admin, as one matrix."""

from collections.abc import Callable
from datetime import timedelta

import pytest
from django.db import transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from tablecron.models import Job, JobRun, RunOutput, RunTrigger, SchedulerInstance
from tests.support.admin_forms import form_data
from tests.support.factories import job, signed_in

pytestmark = pytest.mark.django_db

VIEW = ("view_job", "view_jobrun", "view_schedulerinstance")
ROLES: dict[str, tuple[str, ...] | None] = {
    "anonymous": None,
    "nobody": (),  # staff, no permission
    "viewer": VIEW,
    "reader": (*VIEW, "view_output"),  # may read what runs print and log
    "operator": (*VIEW, "run_job", "pause_job", "cancel_jobrun"),
    "editor": (*VIEW, "add_job", "change_job", "delete_job"),
    "superuser": (),
}
VIEWERS = {"viewer", "reader", "operator", "editor", "superuser"}
EDITORS = {"editor", "superuser"}
OPERATORS = {"operator", "superuser"}
READERS = {"reader", "superuser"}
SECRET = "a secret line 7f3a"


class Rows:
    """The rows every attempt starts from: an enabled job, a paused one, a run, a
    scheduler."""

    def __init__(self) -> None:
        self.job = job(name="active")
        self.job.save()
        self.paused = job(name="paused", enabled=False)
        self.paused.save()
        now = timezone.now()
        self.run = JobRun.objects.create(job_name="gone", scheduled_for=now, status="succeeded")
        RunOutput.objects.create(run=self.run, offset=0, text=f"2026 stdout {SECRET}\n")
        self.waiting = JobRun.objects.create(job=self.job, scheduled_for=now, status="scheduled")
        self.failed = JobRun.objects.create(
            job=self.job, scheduled_for=now - timedelta(hours=1), status="failed"
        )
        self.scheduler = SchedulerInstance.objects.create(
            id="h:1:a", host="h", pid=1, started_at=now, heartbeat_at=now
        )

    def url(self, name: str, *args: object) -> str:
        return reverse(f"admin:tablecron_{name}", args=args)


Attempt = Callable[[Client, Rows], bool]  # whether it worked


def page(name: str, obj: str | None = None) -> Attempt:
    def attempt(client: Client, rows: Rows) -> bool:
        args = [getattr(rows, obj).pk] if obj else []
        return client.get(rows.url(name, *args)).status_code == 200

    return attempt


def action(
    name: str, target: str, worked: Callable[[Rows], bool], changelist: str = "job_changelist"
) -> Attempt:
    def attempt(client: Client, rows: Rows) -> bool:
        data = {"action": name, "_selected_action": [getattr(rows, target).pk], "post": "yes"}
        client.post(rows.url(changelist), data)
        return worked(rows)

    return attempt


def run_action(name: str, target: str, worked: Callable[[Rows], bool]) -> Attempt:
    return action(name, target, worked, "jobrun_changelist")


def button(name: str, target: str, worked: Callable[[Rows], bool]) -> Attempt:
    """A POST of one of the run page's buttons (its own view)."""

    def attempt(client: Client, rows: Rows) -> bool:
        client.post(rows.url(f"jobrun_{name}", getattr(rows, target).pk))
        return worked(rows)

    return attempt


def shows(name: str, obj: str, text: str) -> Attempt:
    """Whether the page shows ``text`` (a section, a button)."""

    def attempt(client: Client, rows: Rows) -> bool:
        response = client.get(rows.url(name, getattr(rows, obj).pk))
        return response.status_code == 200 and text in response.content.decode()

    return attempt


def output_json(client: Client, rows: Rows) -> bool:
    response = client.get(rows.url("jobrun_output", rows.run.pk))
    return response.status_code == 200 and SECRET in response.json()["text"]


def run_now_with(client: Client, rows: Rows) -> bool:
    client.post(rows.url("job_run", rows.job.pk), {"args": "[7]", "kwargs": "{}"})
    return JobRun.objects.filter(args=[7]).exists()


def cancelled(rows: Rows) -> bool:
    return JobRun.objects.get(pk=rows.waiting.pk).status == "cancelled"


def rerun(rows: Rows) -> bool:
    return JobRun.objects.filter(rerun_of=rows.failed).exists()


def add_job(client: Client, rows: Rows) -> bool:
    client.post(rows.url("job_add"), form_data(name="new"))
    return Job.objects.filter(name="new").exists()


def change_job(client: Client, rows: Rows) -> bool:
    data = form_data(name="active", description="edited")
    client.post(rows.url("job_change", rows.job.pk), data)
    return Job.objects.filter(description="edited").exists()


PAST = {"schedule_kind": "once", "run_at_0": "2020-01-01", "run_at_1": "00:00:00"}
FUTURE = {"schedule_kind": "once", "run_at_0": "2099-01-01", "run_at_1": "00:00:00"}


def add_job_due(when: dict[str, str]) -> Attempt:
    def attempt(client: Client, rows: Rows) -> bool:
        client.post(rows.url("job_add"), form_data(name="new", **when))
        return Job.objects.filter(name="new").exists()

    return attempt


def change_job_to(when: dict[str, str]) -> Attempt:
    def attempt(client: Client, rows: Rows) -> bool:
        client.post(rows.url("job_change", rows.job.pk), form_data(name="active", **when))
        return Job.objects.get(pk=rows.job.pk).run_at is not None

    return attempt


def duplicate_past_one_off(client: Client, rows: Rows) -> bool:
    """A copy of a one-off whose time has passed is due at once."""
    once = job(name="once", cron="", run_at=timezone.now() - timedelta(days=1))
    once.save()
    data = {"action": "duplicate", "_selected_action": [once.pk], "post": "yes"}
    client.post(rows.url("job_changelist"), data)
    return Job.objects.filter(name="once (copy)").exists()


def delete_job(client: Client, rows: Rows) -> bool:
    client.post(rows.url("job_delete", rows.job.pk), {"post": "yes"})
    return not Job.objects.filter(pk=rows.job.pk).exists()


def upcoming(client: Client, rows: Rows) -> bool:
    data = {"schedule_kind": "cron", "cron": "@daily", "timezone": "UTC", "enabled": "on"}
    return client.post(rows.url("job_upcoming"), data).status_code == 200


def delete_run(client: Client, rows: Rows) -> bool:
    client.post(rows.url("jobrun_delete", rows.run.pk), {"post": "yes"})
    return not JobRun.objects.filter(pk=rows.run.pk).exists()


def enabled(target: str) -> Callable[[Rows], bool]:
    return lambda rows: Job.objects.get(pk=getattr(rows, target).pk).enabled


MATRIX: dict[str, tuple[Attempt, set[str]]] = {
    "job list": (page("job_changelist"), VIEWERS),
    "job page": (page("job_change", "job"), VIEWERS),
    "job history": (page("job_history", "job"), VIEWERS),
    "job add page": (page("job_add"), EDITORS),
    "job delete page": (page("job_delete", "job"), EDITORS),
    "add a job": (add_job, EDITORS),
    "change a job": (change_job, EDITORS),
    "delete a job": (delete_job, EDITORS),
    # An edit that makes a job due at once runs it now (issue 20, item 3).
    "add a one-off job": (add_job_due(FUTURE), EDITORS),
    "add a job due at once": (add_job_due(PAST), {"superuser"}),
    "change a job to a one-off": (change_job_to(FUTURE), EDITORS),
    "change a job to be due at once": (change_job_to(PAST), {"superuser"}),
    "action duplicate a one-off due at once": (duplicate_past_one_off, {"superuser"}),
    "upcoming of a form": (upcoming, EDITORS),
    # Running now is its own permission: editing a job does not grant it.
    "action run now": (
        action(
            "run_now", "job", lambda rows: JobRun.objects.filter(trigger=RunTrigger.MANUAL).exists()
        ),
        {"operator", "superuser"},
    ),
    "action run now beside running ones": (
        action(
            "run_now_beside_running",
            "job",
            lambda rows: JobRun.objects.filter(ignore_max_instances=True).exists(),
        ),
        {"operator", "superuser"},
    ),
    "action pause": (
        action("pause", "job", lambda rows: not enabled("job")(rows)),
        {"operator", "editor", "superuser"},
    ),
    "action resume": (
        action("resume", "paused", enabled("paused")),
        {"operator", "editor", "superuser"},
    ),
    "action duplicate": (
        action("duplicate", "job", lambda rows: Job.objects.count() == 3),
        EDITORS,
    ),
    "action delete selected": (
        action("delete_selected", "job", lambda rows: Job.objects.count() == 1),
        EDITORS,
    ),
    "run list": (page("jobrun_changelist"), VIEWERS),
    "run page": (page("jobrun_change", "run"), VIEWERS),
    "delete a run": (delete_run, {"superuser"}),
    # A run's output may hold secrets: its own permission, on the page and its endpoint.
    "run page output": (shows("jobrun_change", "run", SECRET), READERS),
    "output endpoint": (output_json, READERS),
    "cancel button": (shows("jobrun_change", "waiting", "Cancel run</button>"), OPERATORS),
    "cancel a run": (button("cancel", "waiting", cancelled), OPERATORS),
    "action cancel runs": (run_action("cancel_runs", "waiting", cancelled), OPERATORS),
    # Running again is running the job now: run_job.
    "run again button": (shows("jobrun_change", "failed", "Run again</button>"), OPERATORS),
    "run a run again": (button("rerun", "failed", rerun), OPERATORS),
    "action run again": (run_action("rerun_runs", "failed", rerun), OPERATORS),
    "run now with… page": (page("job_run", "job"), OPERATORS),
    "run now with… button": (shows("job_change", "job", "Run now with…</a>"), OPERATORS),
    "run now with…": (run_now_with, OPERATORS),
    "scheduler list": (page("schedulerinstance_changelist"), VIEWERS),
    "scheduler page": (page("schedulerinstance_change", "scheduler"), VIEWERS),
}


def as_role(role: str) -> Client:
    return signed_in(Client(), role, ROLES[role])


def test_the_permission_matrix() -> None:
    """Each role against each view and action, each attempt on the same rows (rolled
    back after it)."""
    rows = Rows()
    clients = {role: as_role(role) for role in ROLES}
    expected, seen = {}, {}
    for what, (attempt, allowed) in MATRIX.items():
        for role, client in clients.items():
            expected[role, what] = role in allowed
            with transaction.atomic():
                seen[role, what] = attempt(client, rows)
                transaction.set_rollback(True)
    assert seen == expected


def test_the_job_page_shows_the_last_output_only_to_readers() -> None:
    rows = Rows()
    JobRun.objects.filter(pk=rows.failed.pk).update(started_at=rows.failed.scheduled_for)
    RunOutput.objects.create(run=rows.failed, offset=0, text=f"2026 stdout {SECRET}\n")
    seen = {}
    for role in ("viewer", "reader", "operator", "superuser"):
        page = as_role(role).get(rows.url("job_change", rows.job.pk)).content.decode()
        seen[role] = SECRET in page
        assert seen[role] != ("You may not read the output of runs" in page)
    assert seen == {"viewer": False, "reader": True, "operator": False, "superuser": True}


def test_the_run_list_offers_only_the_actions_a_role_may_take() -> None:
    rows = Rows()
    offered = {}
    for role in ("viewer", "reader", "operator", "editor"):
        page = as_role(role).get(rows.url("jobrun_changelist")).content.decode()
        names = ("cancel_runs", "rerun_runs", "delete_selected")
        offered[role] = {name for name in names if f'value="{name}"' in page}
    assert offered == {
        "viewer": set(),
        "reader": set(),
        "operator": {"cancel_runs", "rerun_runs"},
        "editor": set(),
    }


def test_the_job_list_offers_only_the_actions_a_role_may_take() -> None:
    rows = Rows()
    offered = {}
    for role in ("viewer", "operator", "editor"):
        page = as_role(role).get(rows.url("job_changelist")).content.decode()
        names = (
            "run_now",
            "run_now_beside_running",
            "pause",
            "resume",
            "duplicate",
            "delete_selected",
        )
        offered[role] = {name for name in names if f'value="{name}"' in page}
    assert offered == {
        "viewer": set(),
        "operator": {"run_now", "run_now_beside_running", "pause", "resume"},
        "editor": {"pause", "resume", "duplicate", "delete_selected"},
    }
