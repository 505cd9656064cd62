"""The admin's job form and its upcoming fire times endpoint."""

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client, override_settings
from django.urls import reverse

from tablecron.command_task import TASK_NAME
from tablecron.models import CodeStatus, Job
from tests.support.admin_forms import form_data
from tests.support.factories import ADD, YEARLY, job, signed_in

pytestmark = pytest.mark.django_db

ADD_URL = reverse("admin:tablecron_job_add")
UPCOMING = reverse("admin:tablecron_job_upcoming")


def errors_of(response: Any) -> dict[str, list[str]]:
    assert response.status_code == 200, "the form was accepted"
    form = response.context["adminform"].form
    return {name: list(messages) for name, messages in form.errors.items()}


def test_a_cron_job_is_created_and_scheduled(admin_client: Client) -> None:
    response = admin_client.post(ADD_URL, form_data())
    assert response.status_code == 302
    created = Job.objects.get(name="nightly")
    assert (created.cron, created.timezone, created.args) == ("0 9 * * 1", "Asia/Shanghai", [1])
    assert created.next_run_at == created.upcoming(1)[0]


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"cron": "0 25 * * *"}, "cron", "is not a valid cron expression"),
        ({"cron": "0 9 * *"}, "cron", "A cron expression has 5 fields"),
        ({"cron": ""}, "cron", "Enter a cron expression, or choose another kind"),
        ({"timezone": "Mars/Olympus"}, "timezone", "is not a known time zone"),
        ({"args": '["one", 2, 3]'}, "args", "These arguments do not fit"),
        ({"args": '"x"'}, "args", "JSON list"),
        ({"args": "[1", "kwargs": '{"c": 1}'}, "args", "Enter a valid JSON"),
        ({"kwargs": '{"c": 1}'}, "kwargs", "These arguments do not fit"),
        ({"args": '["x"]'}, "args", "must be int"),
        ({"task": "os.system"}, "task", "Select a valid choice"),
        ({"schedule_kind": "interval"}, "interval", "Enter an interval, or choose"),
        ({"schedule_kind": "interval", "interval": "00:00:00.5"}, "interval", "at least one"),
        ({"schedule_kind": "once"}, "run_at", "Enter when to run"),
        (
            {
                "end_at_0": "2026-01-01",
                "end_at_1": "00:00",
                "start_at_0": "2026-02-01",
                "start_at_1": "00:00",
            },
            "end_at",
            "The end must be later than the start",
        ),
        ({"timeout": "00:00:00"}, "timeout", "longer than zero"),
        ({"queue": "two words"}, "queue", "Enter a queue name of letters, digits"),
        ({"notify_webhook": "http://169.254.169.254/"}, "notify_webhook", "internal address"),
        ({"notify_webhook": "http://[::ffff:127.0.0.1]/"}, "notify_webhook", "internal address"),
    ],
)
def test_each_error_is_shown_on_its_field(
    admin_client: Client, fields: dict[str, str], field: str, message: str
) -> None:
    errors = errors_of(admin_client.post(ADD_URL, form_data(**fields)))
    assert field in errors, errors
    assert message in " ".join(errors[field])
    assert "__all__" not in errors
    assert not Job.objects.exists()


def test_the_queue_is_chosen_in_the_execution_fieldset(admin_client: Client) -> None:
    page = admin_client.get(ADD_URL).content.decode()
    execution = page[page.index(">Execution</h2>") :].split("</fieldset>")[0]
    assert 'name="queue"' in execution
    assert "for Celery workers started with -Q reports" in execution  # its help text
    assert admin_client.post(ADD_URL, form_data(queue="reports.daily")).status_code == 302
    assert Job.objects.get().queue == "reports.daily"


def test_notifications_are_set_in_their_fieldset(admin_client: Client) -> None:
    page = admin_client.get(ADD_URL).content.decode()
    fieldset = page[page.index(">Notifications</h2>") :].split("</fieldset>")[0]
    for name in ("notify", "notify_emails", "notify_webhook", "alert_after"):
        assert f'name="{name}"' in fieldset
    sent = form_data(
        notify="on",
        notify_emails="ops@example.com, dev@example.com",
        notify_webhook="https://hooks.example.com/x",
        alert_after="1 00:00:00",
    )
    assert admin_client.post(ADD_URL, sent).status_code == 302
    saved = Job.objects.get()
    assert saved.notify
    assert saved.notify_emails == "ops@example.com, dev@example.com"
    assert saved.notify_webhook == "https://hooks.example.com/x"
    assert saved.alert_after == timedelta(days=1)
    change = admin_client.get(reverse("admin:tablecron_job_change", args=[saved.pk]))
    assert ">Last success:</label>" in change.content.decode()


def test_the_other_kinds_fields_are_cleared_on_save(admin_client: Client) -> None:
    target = job(name="switch", cron=YEARLY)
    target.save()
    url = reverse("admin:tablecron_job_change", args=[target.pk])
    # The cron field still holds text (hidden by the script): the chosen kind wins.
    data = form_data(name="switch", schedule_kind="interval", interval="00:15:00", cron=YEARLY)
    assert admin_client.post(url, data).status_code == 302
    target.refresh_from_db()
    assert (target.cron, target.interval) == ("", timedelta(minutes=15))

    data = form_data(name="switch", schedule_kind="manual", interval="garbage", cron="bad")
    assert admin_client.post(url, data).status_code == 302
    target.refresh_from_db()
    assert (target.cron, target.interval, target.run_at, target.next_run_at) == (
        "",
        None,
        None,
        None,
    )


def test_the_form_opens_on_the_jobs_kind_of_schedule(admin_client: Client) -> None:
    target = job(name="pinger", cron="", interval=timedelta(seconds=30))
    target.save()
    page = admin_client.get(reverse("admin:tablecron_job_change", args=[target.pk]))
    assert page.context["adminform"].form["schedule_kind"].value() == "interval"


def test_tasks_are_offered_with_signature_and_docstring(admin_client: Client) -> None:
    page = admin_client.get(ADD_URL).content.decode()
    assert f'<option value="{ADD}">{ADD}</option>' in page
    blob = re.search(r'<script id="id_task_tasks" type="application/json">(.*?)</script>', page)
    assert blob is not None
    tasks = json.loads(blob.group(1))
    assert tasks[ADD] == {
        "signature": f"{ADD}(a: int, b: int = 0) -> int",
        "doc": "Add two numbers.",
    }
    report = tasks["demo.tablecron_jobs.write_report"]
    assert "beside the project" in report["doc"]  # the whole docstring

    assert '<input type="text" name="timezone"' in page
    assert '<option value="Asia/Shanghai">' in page  # time zones suggested as you type

    target = job(name="shown")
    target.save()
    change = admin_client.get(reverse("admin:tablecron_job_change", args=[target.pk]))
    signature = "tests.testapp.tablecron_jobs.add(a: int, b: int = 0)"
    assert f'<code class="tablecron-signature">{signature}' in change.content.decode()


def test_a_job_whose_task_was_removed_stays_editable(admin_client: Client) -> None:
    target = job(name="orphan")
    target.save()
    Job.objects.filter(pk=target.pk).update(task="gone.task")
    url = reverse("admin:tablecron_job_change", args=[target.pk])
    page = admin_client.get(url).content.decode()
    assert "gone.task (not registered)" in page
    errors = errors_of(admin_client.post(url, form_data(name="orphan", task="gone.task")))
    assert "is not a registered task" in errors["task"][0]


CALL_COMMAND = "django.core.management.call_command"


@override_settings(TABLECRON={"ALLOWED_TASKS": [CALL_COMMAND]})
def test_a_gateway_to_code_is_never_offered_nor_saved(client: Client) -> None:
    # Issue 20: with the escape hatch the docs once suggested, editing jobs ran any code.
    editor = signed_in(client, "editor", ("view_job", "add_job", "change_job"))
    assert f'value="{CALL_COMMAND}"' not in editor.get(ADD_URL).content.decode()
    shell = {"task": CALL_COMMAND, "args": '["shell"]', "kwargs": '{"command": "1"}'}
    errors = errors_of(editor.post(ADD_URL, form_data(**shell)))
    assert "Select a valid choice" in errors["task"][0]
    assert not Job.objects.exists()
    # A row that holds one already (written before the upgrade) cannot be saved with it.
    target = job(name="old")
    target.save()
    Job.objects.filter(pk=target.pk).update(task=CALL_COMMAND, args=["shell"], kwargs={})
    url = reverse("admin:tablecron_job_change", args=[target.pk])
    errors = errors_of(editor.post(url, form_data(name="old", **shell)))
    assert f"“{CALL_COMMAND}” runs whatever code or command" in errors["task"][0]


@override_settings(TABLECRON={"MANAGEMENT_COMMANDS": ["check"]})
def test_management_commands_are_offered_and_their_arguments_checked(
    admin_client: Client,
) -> None:
    assert f'value="{TASK_NAME}"' in admin_client.get(ADD_URL).content.decode()
    command = {"task": TASK_NAME, "kwargs": "{}"}
    errors = errors_of(admin_client.post(ADD_URL, form_data(args='["check", "--nope"]', **command)))
    assert "unrecognized arguments: --nope" in errors["args"][0]
    errors = errors_of(admin_client.post(ADD_URL, form_data(args='["shell"]', **command)))
    assert "“shell” is not a management command that may be scheduled" in errors["args"][0]
    assert admin_client.post(ADD_URL, form_data(args='["check"]', **command)).status_code == 302
    assert Job.objects.get().args == ["check"]


def test_upcoming_returns_the_next_fire_times(admin_client: Client) -> None:
    response = admin_client.post(UPCOMING, form_data(cron="0 9 * * 1"))
    data = response.json()
    expected = Job.upcoming_for(5, cron="0 9 * * 1", timezone="Asia/Shanghai")
    assert data["errors"] == {}
    assert data["times"] == [moment.isoformat() for moment in expected]
    assert data["description"] == "At 09:00, only on Monday (Asia/Shanghai)"
    assert data["html"].count("<li>") == 5
    assert not Job.objects.exists()


def test_upcoming_of_an_interval_a_one_off_and_a_manual_job(admin_client: Client) -> None:
    interval = admin_client.post(
        UPCOMING, form_data(schedule_kind="interval", interval="00:00:30", cron="bad")
    ).json()
    assert interval["errors"] == {}
    assert len(interval["times"]) == 5
    gaps = {
        datetime.fromisoformat(b) - datetime.fromisoformat(a)
        for a, b in zip(interval["times"], interval["times"][1:], strict=False)
    }
    assert gaps == {timedelta(seconds=30)}

    once = admin_client.post(
        UPCOMING, form_data(schedule_kind="once", run_at_0="2099-01-02", run_at_1="03:04:05")
    ).json()
    # Typed in the current time zone (Europe/Berlin in the tests).
    assert once["times"] == [datetime(2099, 1, 2, 2, 4, 5, tzinfo=UTC).isoformat()]

    manual = admin_client.post(UPCOMING, form_data(schedule_kind="manual")).json()
    assert manual["times"] == []
    assert "Run now" in manual["html"]


def test_upcoming_reports_field_errors(admin_client: Client) -> None:
    bad_cron = admin_client.post(UPCOMING, form_data(cron="61 * * * *")).json()
    assert list(bad_cron["errors"]) == ["cron"]
    assert "is not a valid cron expression" in bad_cron["errors"]["cron"][0]
    assert bad_cron["times"] == []

    bad_zone = admin_client.post(UPCOMING, form_data(timezone="Nowhere/Land")).json()
    assert list(bad_zone["errors"]) == ["timezone"]

    bad_start = admin_client.post(UPCOMING, form_data(start_at_0="not a date", start_at_1="x"))
    assert list(bad_start.json()["errors"]) == ["start_at"]


def test_upcoming_only_takes_posts_from_staff_who_may_edit_jobs(
    admin_client: Client, client: Client
) -> None:
    assert admin_client.get(UPCOMING).status_code == 405
    assert client.post(UPCOMING, form_data()).status_code == 302  # to the login page
    viewer = User.objects.create_user("viewer", password="pw", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_job"))
    client.force_login(viewer)
    assert client.post(UPCOMING, form_data()).status_code == 403


def test_a_viewer_sees_the_job_read_only(client: Client) -> None:
    viewer = User.objects.create_user("viewer", password="pw", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_job"))
    client.force_login(viewer)
    target = job(name="watched", cron="", interval=timedelta(minutes=5))
    target.save()
    page = client.get(reverse("admin:tablecron_job_change", args=[target.pk]))
    assert page.status_code == 200
    text = page.content.decode()
    assert 'name="_save"' not in text
    assert "Every 5 minutes" in text  # the upcoming fire times, server-side
    kind = text[text.index('class="form-row field-schedule_kind"') :].split("</div>")[:3]
    assert '<div class="readonly">Interval' in "".join(kind)


def test_code_owns_the_fields_of_a_declared_job(admin_client: Client) -> None:
    target = job(name="declared", cron=YEARLY, code_status=CodeStatus.DECLARED)
    target.save()
    job(name="typed-in").save()
    url = reverse("admin:tablecron_job_change", args=[target.pk])
    page = admin_client.get(url)
    form = page.context["adminform"].form
    # Its name (its key), what it does and when are code's, read-only; pausing and being
    # told stay people's.
    people = {"enabled", "notify", "notify_emails", "notify_webhook", "alert_after"}
    assert set(form.fields) == people
    assert "yes: declared in code" in page.content.decode()
    # Pausing stays people's; an edit of a field code owns is not taken.
    data = form_data(name="declared", enabled="", cron="0 1 * * *", args="[2]")
    assert admin_client.post(url, data).status_code == 302
    target.refresh_from_db()
    assert (target.enabled, target.cron, target.args) == (False, YEARLY, [1])

    jobs = reverse("admin:tablecron_job_changelist")
    listed = admin_client.get(jobs, {"code_status__exact": "declared"}).content.decode()
    assert ">declared<" in listed
    assert ">typed-in<" not in listed
    assert "?code_status__exact=removed" in listed
    editable = admin_client.get(reverse("admin:tablecron_job_change", args=[target.pk + 1]))
    assert "cron" in editable.context["adminform"].form.fields
