"""Jobs that follow jobs in the admin: the form's kind of schedule "after another job",
the chain on a job's page, the schedule in words, and what a run's story says of it."""

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import translation

from tablecron.describe import describe_schedule
from tablecron.executors.immediate import ImmediateExecutor
from tablecron.models import Job, JobRun
from tablecron.scheduler import Scheduler
from tests.admin.test_runs import story
from tests.support.admin_forms import form_data
from tests.support.scheduling import due

pytestmark = pytest.mark.django_db(transaction=True)

NOOP = "tests.testapp.tablecron_jobs.noop"
FAIL = "tests.testapp.tablecron_jobs.fail"
ADD_URL = reverse("admin:tablecron_job_add")


def chain(task: str = NOOP) -> tuple[Job, Job]:
    first = Job.objects.create(name="import", task=task, interval=timedelta(hours=1))
    return first, Job.objects.create(name="export", task=NOOP, after=first)


def page(client: Client, name: str, obj: Job | JobRun) -> str:
    url = reverse(f"admin:tablecron_{name}_change", args=[obj.pk])
    response = client.get(url)
    assert response.status_code == 200
    return response.content.decode()


def test_the_form_makes_a_job_that_runs_after_another(admin_client: Client) -> None:
    first = Job.objects.create(name="import", task=NOOP, interval=timedelta(hours=1))
    data = form_data(name="export", schedule_kind="after", after=str(first.pk), cron="0 9 * * *")
    response = admin_client.post(ADD_URL, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    export = Job.objects.get(name="export")
    assert (export.after_id, export.cron, export.next_run_at) == (first.pk, "", None)


def test_the_form_asks_for_the_job_to_run_after(admin_client: Client) -> None:
    response = admin_client.post(ADD_URL, form_data(name="export", schedule_kind="after"))
    assert response.context["adminform"].form.errors["after"] == [
        "Choose the job to run after, or choose another kind of schedule."
    ]


def test_the_form_refuses_a_circle_on_after(admin_client: Client) -> None:
    first, export = chain()
    url = reverse("admin:tablecron_job_change", args=[first.pk])
    data = form_data(name="import", task=NOOP, args="[]", schedule_kind="after")
    response = admin_client.post(url, {**data, "after": str(export.pk)})
    errors = response.context["adminform"].form.errors["after"]
    assert errors == [
        "“import” cannot run after “export”: the chain would go round in a circle "
        "(import → export → import). Choose a job that does not follow this one."
    ]


def test_the_job_pages_show_the_chain_linked(admin_client: Client) -> None:
    first, export = chain()
    upstream = page(admin_client, "job", first)
    assert "Run after it" in upstream
    assert f'href="{reverse("admin:tablecron_job_change", args=[export.pk])}">export</a>' in (
        upstream
    )
    downstream = page(admin_client, "job", export)
    assert f'href="{reverse("admin:tablecron_job_change", args=[first.pk])}">import</a>' in (
        downstream
    )
    assert "After “import” succeeds" in downstream
    assert "It runs each time the job it runs after succeeds." in downstream


def test_the_job_list_words_the_schedule_in_both_languages(admin_client: Client) -> None:
    _first, export = chain()
    listed = admin_client.get(reverse("admin:tablecron_job_changelist")).content.decode()
    assert "After “import” succeeds" in listed
    with translation.override("zh-hans"):
        assert describe_schedule(export) == "在 “import” 成功之后"


def test_the_story_of_a_success_names_the_runs_it_started(admin_client: Client) -> None:
    first, export = chain()
    due(first)
    scheduler = Scheduler(ImmediateExecutor())
    scheduler.run_once()
    scheduler.run_once()
    upstream_run, follower_run = JobRun.objects.get(job=first), JobRun.objects.get(job=export)
    steps = story(page(admin_client, "jobrun", upstream_run))
    assert [step[1] for step in steps][-2:] == ["Ended", "Triggered"]
    assert "“export”" in steps[-1][2]
    followed = page(admin_client, "jobrun", follower_run)
    assert "after a success of “import”" in story(followed)[0][2]
    assert reverse("admin:tablecron_jobrun_change", args=[upstream_run.pk]) in followed


def test_the_story_of_a_failure_says_it_triggered_nothing(admin_client: Client) -> None:
    first, _export = chain(FAIL)
    due(first)
    Scheduler(ImmediateExecutor()).run_once()
    failed = JobRun.objects.get(job=first)
    assert failed.status == "failed"
    steps = story(page(admin_client, "jobrun", failed))
    assert steps[-1][1] == "Ran nothing after it"
    assert "did not trigger “export”: it runs after success only" in steps[-1][2]


def test_the_preview_of_a_job_after_another_says_so(admin_client: Client) -> None:
    first = Job.objects.create(name="import", task=NOOP, interval=timedelta(hours=1))
    upcoming = reverse("admin:tablecron_job_upcoming")
    data = form_data(schedule_kind="after", after=str(first.pk))
    preview = admin_client.post(upcoming, data).json()
    assert (preview["errors"], preview["times"]) == ({}, [])
    assert preview["description"] == "After “import” succeeds"
    assert "It runs each time the job it runs after succeeds." in preview["html"]
    assert Job.objects.count() == 1
