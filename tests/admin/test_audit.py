"""The audit trail through the admin: every write is the signed-in user's, once, with its
values; a job's history and the trail's page show them, filtered."""

import pytest
from django.contrib.admin.models import ADDITION, CHANGE, DELETION, LogEntry
from django.contrib.auth.models import User
from django.test import Client, override_settings
from django.urls import reverse

from tablecron.models import Job
from tests.support.admin_forms import form_data
from tests.support.audit import trail
from tests.support.factories import job

pytestmark = pytest.mark.django_db

JOBS = reverse("admin:tablecron_job_changelist")
TRAIL = reverse("admin:tablecron_job_audit")


def act(client: Client, action: str, *jobs: Job) -> None:
    data = {"action": action, "_selected_action": [each.pk for each in jobs]}
    if action == "delete_selected":
        data["post"] = "yes"
    assert client.post(JOBS, data).status_code == 302


def test_add_and_edit_in_the_form_are_recorded_once_each(admin_client: Client) -> None:
    response = admin_client.post(reverse("admin:tablecron_job_add"), form_data())
    assert response.status_code == 302
    nightly = Job.objects.get(name="nightly")
    change = reverse("admin:tablecron_job_change", args=[nightly.pk])
    admin_client.post(change, form_data(cron="0 10 * * 1", description="at ten"))
    entries = trail()
    assert [(e["flag"], e["user"], e["via"]) for e in entries] == [
        (ADDITION, "admin", "admin"),
        (CHANGE, "admin", "admin"),
    ]
    assert entries[1]["changes"] == {
        "description": ["", "at ten"],
        "cron": ["0 9 * * 1", "0 10 * * 1"],
    }


def test_the_actions_are_recorded_by_name(admin_client: Client) -> None:
    report = job(name="report")
    report.save()
    for action in ("run_now", "pause", "resume", "duplicate"):
        act(admin_client, action, report)
    act(admin_client, "delete_selected", report)
    mine = [e for e in trail() if e["via"] == "admin"]
    assert [(e["job"], e["action"], e["flag"]) for e in mine] == [
        ("report", "run_now", CHANGE),
        ("report", "pause", CHANGE),
        ("report", "resume", CHANGE),
        ("report (copy)", "duplicate", ADDITION),
        ("report", "", DELETION),
    ]
    assert mine[1]["changes"] == {"enabled": [True, False]}


def test_a_jobs_history_shows_each_change_with_its_values(admin_client: Client) -> None:
    report = job(name="report", description="old words")
    report.save()
    with_admin = Job.objects.get(pk=report.pk)
    with_admin.description = "new words"
    with_admin.save()
    job(name="other").save()
    page = admin_client.get(reverse("admin:tablecron_job_history", args=[report.pk]))
    text = page.content.decode()
    assert "<del>old words</del> → <ins>new words</ins>" in text
    assert "other" not in text.split('id="change-history"')[1]


def test_the_trail_filters_by_door_user_change_field_and_job(admin_client: Client) -> None:
    report = job(name="report")
    report.save()  # by code
    act(admin_client, "pause", report)
    job(name="other", description="x").save()

    def rows(**query: str) -> int:
        return admin_client.get(TRAIL, query).content.decode().count("<tr><td")

    assert rows() == 3
    assert rows(via="admin") == 1
    assert rows(via="code") == 2
    assert rows(user="admin") == 1
    assert rows(kind="pause") == 1
    assert rows(kind="added") == 2
    assert rows(field="enabled") == 3  # added with it, and the pause
    assert rows(field="description") == 2
    assert rows(job="oth") == 1


def test_django_logs_the_admins_writes_itself_when_the_trail_is_off(admin_client: Client) -> None:
    with override_settings(TABLECRON={"AUDIT_TRAIL": False}):
        admin_client.post(reverse("admin:tablecron_job_add"), form_data())
        (entry,) = LogEntry.objects.all()
        assert entry.change_message == '[{"added": {}}]'
        history = admin_client.get(reverse("admin:tablecron_job_history", args=[entry.object_id]))
        assert history.status_code == 200


def test_who_may_not_view_jobs_may_not_read_the_trail(client: Client) -> None:
    client.force_login(User.objects.create_user("staff", is_staff=True))
    assert client.get(TRAIL).status_code == 403


def test_the_delete_page_records_the_deletion(admin_client: Client) -> None:
    doomed = job(name="doomed")
    doomed.save()
    url = reverse("admin:tablecron_job_delete", args=[doomed.pk])
    assert admin_client.post(url, {"post": "yes"}).status_code == 302
    entry = trail()[-1]
    assert (entry["job"], entry["flag"], entry["user"], entry["via"]) == (
        "doomed",
        DELETION,
        "admin",
        "admin",
    )
