"""Who may do what in the admin: each role against every view and every action of
tablecron's admin, as one matrix."""

from collections.abc import Callable
from datetime import timedelta

import pytest
from django.db import transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from tablecron.models import Job, JobRun, RunTrigger, SchedulerInstance
from tests.support.admin_forms import form_data
from tests.support.factories import job, signed_in

pytestmark = pytest.mark.django_db

VIEW = ("view_job", "view_jobrun", "view_schedulerinstance")
ROLES: dict[str, tuple[str, ...] | None] = {
    "anonymous": None,
    "nobody": (),  # staff, no permission
    "viewer": VIEW,
    "operator": (*VIEW, "run_job", "pause_job"),
    "editor": (*VIEW, "add_job", "change_job", "delete_job"),
    "superuser": (),
}
VIEWERS = {"viewer", "operator", "editor", "superuser"}
EDITORS = {"editor", "superuser"}


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


def action(name: str, target: str, worked: Callable[[Rows], bool]) -> Attempt:
    def attempt(client: Client, rows: Rows) -> bool:
        data = {"action": name, "_selected_action": [getattr(rows, target).pk], "post": "yes"}
        client.post(rows.url("job_changelist"), data)
        return worked(rows)

    return attempt


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
