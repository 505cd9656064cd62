"""The admin with working-day calendars: the preview shows their effect, and editing a
custom calendar moves the jobs that use it."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import holidays
import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone, translation

from tablecron.models import Calendar, CalendarDay, Job
from tests.support.admin_forms import form_data
from tests.support.factories import ADD

pytestmark = pytest.mark.django_db

UPCOMING = reverse("admin:tablecron_job_upcoming")
SHANGHAI = ZoneInfo("Asia/Shanghai")


def test_the_preview_keeps_to_working_days(admin_client: Client) -> None:
    data = form_data(cron="0 9 * * *", timezone="Asia/Shanghai", calendar="CN")
    with translation.override("en"):
        answer = admin_client.post(UPCOMING, data).json()
    assert answer["errors"] == {}
    assert answer["description"] == "At 09:00 (Asia/Shanghai), on working days in China"
    times = [datetime.fromisoformat(t).astimezone(SHANGHAI) for t in answer["times"]]
    china = holidays.country_holidays("CN")
    assert len(times) == 5
    assert all(china.is_working_day(t.date()) and t.hour == 9 for t in times)
    day, working = timezone.now().astimezone(SHANGHAI).date(), []
    while len(working) < 6:
        if china.is_working_day(day):
            working.append(day)
        day += timedelta(days=1)
    assert [t.date() for t in times] in (working[:5], working[1:6])  # today's 09:00 may be past


def test_the_preview_in_chinese(admin_client: Client) -> None:
    data = form_data(cron="0 9 * * *", calendar="DE-BY", calendar_rule="nth", calendar_day="-1")
    with translation.override("zh-hans"):
        answer = admin_client.post(UPCOMING, data, HTTP_ACCEPT_LANGUAGE="zh-hans").json()
    assert "每月最后一个工作日" in answer["description"]
    assert "德国" in answer["description"]


def test_an_unknown_calendar_in_the_preview_lists_close_matches(admin_client: Client) -> None:
    answer = admin_client.post(UPCOMING, form_data(calendar="DE-BX")).json()
    assert "DE-BY" in answer["errors"]["calendar"][0]
    assert answer["times"] == []


def test_editing_a_custom_calendar_in_the_admin_moves_its_jobs(admin_client: Client) -> None:
    add = admin_client.post(
        reverse("admin:tablecron_calendar_add"),
        {
            "name": "plant",
            "country": "",
            "days-TOTAL_FORMS": "0",
            "days-INITIAL_FORMS": "0",
            "days-MIN_NUM_FORMS": "0",
            "days-MAX_NUM_FORMS": "1000",
        },
    )
    assert add.status_code == 302
    plant = Calendar.objects.get(name="plant")
    job = Job.objects.create(
        name="j", task=ADD, args=[1, 2], cron="0 9 * * *", timezone="UTC", calendar="plant"
    )
    first = job.next_run_at
    assert first is not None
    change = admin_client.post(
        reverse("admin:tablecron_calendar_change", args=[plant.pk]),
        {
            "name": "plant",
            "country": "",
            "days-TOTAL_FORMS": "1",
            "days-INITIAL_FORMS": "0",
            "days-MIN_NUM_FORMS": "0",
            "days-MAX_NUM_FORMS": "1000",
            "days-0-day": first.date().isoformat(),
            "days-0-kind": "off",
            "days-0-note": "shutdown",
        },
    )
    assert change.status_code == 302
    job.refresh_from_db()
    assert job.next_run_at == first + timedelta(days=1)
    day = CalendarDay.objects.get()
    remove = admin_client.post(
        reverse("admin:tablecron_calendar_change", args=[plant.pk]),
        {
            "name": "plant",
            "country": "",
            "days-TOTAL_FORMS": "1",
            "days-INITIAL_FORMS": "1",
            "days-MIN_NUM_FORMS": "0",
            "days-MAX_NUM_FORMS": "1000",
            "days-0-id": str(day.pk),
            "days-0-calendar": str(plant.pk),
            "days-0-day": first.date().isoformat(),
            "days-0-kind": "off",
            "days-0-DELETE": "on",
        },
    )
    assert remove.status_code == 302
    job.refresh_from_db()
    assert job.next_run_at == first


def test_a_calendar_in_use_shows_its_jobs_instead_of_deleting(admin_client: Client) -> None:
    plant = Calendar.objects.create(name="plant")
    Job.objects.create(name="payroll", task=ADD, args=[1, 2], cron="0 9 * * *", calendar="plant")
    url = reverse("admin:tablecron_calendar_delete", args=[plant.pk])
    page = admin_client.get(url).content.decode()
    assert "payroll" in page
    admin_client.post(url, {"post": "yes"})
    assert Calendar.objects.filter(pk=plant.pk).exists()
    listing = admin_client.get(reverse("admin:tablecron_calendar_changelist")).content.decode()
    assert "1 job<" in listing
    Job.objects.create(name="unrelated", task=ADD, args=[1, 2], cron="0 9 * * *")
    jobs = admin_client.get(reverse("admin:tablecron_job_changelist"), {"calendar": "plant"})
    assert jobs.status_code == 200
    assert "payroll" in jobs.content.decode()
    assert "unrelated" not in jobs.content.decode()
