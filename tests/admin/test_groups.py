"""The admin with concurrency groups: a job's group typed in its form makes the group,
operators raise its limit in the group list, and a waiting run says why."""

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import translation

from tablecron.db import db_now
from tablecron.models import ConcurrencyGroup, Job, JobRun
from tests.support.admin_forms import form_data

pytestmark = pytest.mark.django_db


def test_a_group_typed_on_a_job_is_made_with_limit_one(admin_client: Client) -> None:
    answer = admin_client.post(
        reverse("admin:tablecron_job_add"), form_data(concurrency_group="warehouse")
    )
    assert answer.status_code == 302, answer.context["adminform"].form.errors
    assert Job.objects.get().concurrency_group == "warehouse"
    assert ConcurrencyGroup.objects.get(name="warehouse").limit == 1
    listing = admin_client.get(reverse("admin:tablecron_concurrencygroup_changelist"))
    assert b"warehouse" in listing.content
    assert b"?concurrency_group=warehouse" in listing.content


def test_a_limit_below_one_is_refused_on_its_field(admin_client: Client) -> None:
    group = ConcurrencyGroup.objects.create(name="warehouse")
    url = reverse("admin:tablecron_concurrencygroup_change", args=[group.pk])
    answer = admin_client.post(url, {"name": "warehouse", "limit": "0", "description": ""})
    assert answer.status_code == 200
    assert list(answer.context["adminform"].form.errors) == ["limit"]
    answer = admin_client.post(url, {"name": "warehouse", "limit": "3", "description": ""})
    assert answer.status_code == 302
    assert ConcurrencyGroup.objects.get().limit == 3


def test_a_waiting_run_says_why_on_its_page_and_in_the_list(admin_client: Client) -> None:
    job = Job.objects.create(name="load", task=form_data()["task"], args=[1], cron="0 9 * * *")
    Job.objects.filter(pk=job.pk).update(concurrency_group="warehouse")
    now = db_now()
    JobRun.objects.create(
        job=job, scheduled_for=now, status="running", worker="w", concurrency_group="warehouse"
    )
    waiting = JobRun.objects.create(
        job=job,
        scheduled_for=now.replace(year=now.year - 1),
        not_before=now,
        waiting_since=now,
        concurrency_group="warehouse",
    )
    reason = "waiting for group warehouse: 1 of 1 running"
    with translation.override("en"):
        page = admin_client.get(reverse("admin:tablecron_jobrun_change", args=[waiting.pk]))
        listing = admin_client.get(reverse("admin:tablecron_jobrun_changelist"))
    assert reason in page.content.decode()
    assert reason in listing.content.decode()
    with translation.override("zh-hans"):
        page = admin_client.get(
            reverse("admin:tablecron_jobrun_change", args=[waiting.pk]),
            HTTP_ACCEPT_LANGUAGE="zh-hans",
        )
    assert "warehouse" in page.content.decode()
    assert reason not in page.content.decode()


def test_the_group_list_counts_runs_holding_a_slot_and_waiting(admin_client: Client) -> None:
    job = Job.objects.create(name="load", task=form_data()["task"], args=[1], cron="0 9 * * *")
    now = db_now()
    for n, worker in enumerate(["w", "", ""]):
        JobRun.objects.create(
            job=job,
            scheduled_for=now.replace(year=now.year - n),
            worker=worker,
            status="scheduled",
            waiting_since=None if worker else now,
            concurrency_group="warehouse",
        )
    ConcurrencyGroup.objects.create(name="warehouse", limit=1)
    listing = admin_client.get(reverse("admin:tablecron_concurrencygroup_changelist"))
    cells = listing.content.decode()
    assert '<td class="field-running_column">1</td>' in cells
    assert '<td class="field-waiting_column">2</td>' in cells
