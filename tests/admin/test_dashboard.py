"""The dashboard page: what it shows, in a constant number of queries."""

import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone, translation

from tablecron.admin import dashboard
from tablecron.models import Job, JobRun, RunStatus, SchedulerInstance
from tests.support.factories import job, jobs_with_history

pytestmark = pytest.mark.django_db

DASHBOARD = reverse("admin:tablecron_dashboard")


def queries_for_page(client: Client) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(DASHBOARD)
    assert response.status_code == 200
    return len(captured)


def test_the_query_count_does_not_grow_with_the_jobs(admin_client: Client) -> None:
    now = timezone.now()
    jobs_with_history(10, now, prefix="few")
    few = queries_for_page(admin_client)
    jobs_with_history(190, now, prefix="many")
    assert Job.objects.count() == 200
    assert queries_for_page(admin_client) == few


def test_it_shows_the_next_day_the_last_day_failures_and_schedulers(admin_client: Client) -> None:
    now = timezone.now()
    job(name="half-hourly", cron="*/30 * * * *").save()
    job(name="paused", cron="* * * * *", enabled=False).save()
    failing = job(name="flaky-export", cron="")  # manual: it fires on no timeline
    failing.save()
    for minutes, status in ((30, RunStatus.SUCCEEDED), (90, RunStatus.FAILED)):
        JobRun.objects.create(
            job=failing,
            scheduled_for=now - timedelta(minutes=minutes),
            started_at=now - timedelta(minutes=minutes),
            finished_at=now - timedelta(minutes=minutes - 1),
            status=status,
            error="Traceback (most recent call last):\nKeyError: 'customer'",
        )
    SchedulerInstance.objects.create(
        id="host-a:12:abc", host="host-a", pid=12, started_at=now, heartbeat_at=now
    )
    response = admin_client.get(DASHBOARD)
    page = response.content.decode()
    # From this half hour on, for 24 hours: the half-hourly job's 47 next fires (not this
    # half hour's, which is past); the paused one none.
    assert "About 47 fires of 1 job in the next 24 hours, in half-hour bars." in page
    assert "Every 30 minutes (" in page  # in the top schedules, with its time zone
    failed_run = JobRun.objects.get(status=RunStatus.FAILED)
    assert reverse("admin:tablecron_jobrun_change", args=[failed_run.pk]) in page
    assert "KeyError: &#x27;customer&#x27;" in page
    assert ">50 %<" in page  # the flaky job's success rate
    assert "host-a:12:abc" in page
    assert page.count("<svg") >= 5


def test_a_fast_schedule_is_extrapolated_within_the_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dashboard, "FIRE_BUDGET", 100)
    job(name="every-second", cron="", interval=timedelta(seconds=1)).save()
    now = timezone.now()
    line = dashboard.timeline(now, 1)
    seconds_left = (line.start + dashboard.HORIZON - now).total_seconds()
    assert line.total == pytest.approx(seconds_left, rel=0.01)
    assert line.top[0].name == "every-second"


def test_it_says_when_no_scheduler_is_alive(admin_client: Client) -> None:
    assert "No scheduler is running" in admin_client.get(DASHBOARD).content.decode()


def test_who_may_not_view_jobs_may_not_see_it(client: Client) -> None:
    staff = User.objects.create_user("staff", password="x", is_staff=True)
    client.force_login(staff)
    assert client.get(DASHBOARD).status_code == 403


def test_the_job_list_and_the_app_index_link_to_it(admin_client: Client) -> None:
    for page in (
        reverse("admin:tablecron_job_changelist"),
        reverse("admin:app_list", args=["tablecron"]),
    ):
        assert DASHBOARD in admin_client.get(page).content.decode()


def test_the_last_day_counts_each_run_in_its_hour_with_its_timings() -> None:
    now = timezone.now()
    target = job(name="hourly", cron="0 * * * *")
    target.save()
    this_hour = now.replace(minute=0, second=0, microsecond=0)
    two_hours_ago = this_hour - timedelta(hours=2)
    cases = [
        (now - timedelta(seconds=1), RunStatus.SUCCEEDED),
        (two_hours_ago + timedelta(minutes=10), RunStatus.FAILED),
        (two_hours_ago + timedelta(minutes=50), RunStatus.SUCCEEDED),
        (now - timedelta(hours=25), RunStatus.SUCCEEDED),  # before the day shown
    ]
    for at, status in cases:
        JobRun.objects.create(
            job=target,
            scheduled_for=at,
            started_at=at + timedelta(seconds=2),
            finished_at=at + timedelta(seconds=5),
            status=status,
        )
    hours = {hour.start: hour for hour in dashboard.last_day(now)}
    assert len(hours) == 24
    assert sum(hour.total for hour in hours.values()) == 3
    latest = hours[(now - timedelta(seconds=1)).replace(minute=0, second=0, microsecond=0)]
    assert latest.by_status == {"succeeded": 1}
    earlier = hours[two_hours_ago]
    assert earlier.by_status == {"failed": 1, "succeeded": 1}
    # Within a millisecond: SQLite's julianday() is a double of days (microsecond noise).
    assert earlier.duration is not None
    assert earlier.lateness is not None
    assert abs(earlier.duration - timedelta(seconds=3)) < timedelta(milliseconds=1)
    assert abs(earlier.lateness - timedelta(seconds=2)) < timedelta(milliseconds=1)


def test_the_summary_counts_a_day_in_thousands(admin_client: Client) -> None:
    job(name="every-minute", cron="* * * * *").save()
    page = admin_client.get(DASHBOARD).content.decode()
    summary = r"About 1,\d{3} fires of 1 job in the next 24 hours, in half-hour bars\."
    assert re.search(summary, page), page
    assert re.search(r"<td>1,\d{3}</td>", page)  # the schedules that fire most
    with translation.override("zh-hans"):
        chinese = admin_client.get(DASHBOARD).content.decode()
    assert re.search(r"1 个任务在未来 24 小时内约触发 1\d{3} 次，每根柱为半小时。", chinese)


BAR = re.compile(
    r'<nav aria-label="Breadcrumbs">\s*<(ol|div) class="breadcrumbs">(.*?)</\1>', re.DOTALL
)


@pytest.mark.parametrize(
    ("url", "crumbs"),
    [
        (DASHBOARD, ["Home", "Scheduled jobs", "Dashboard"]),
        (reverse("admin:tablecron_job_audit"), ["Home", "Scheduled jobs", "Jobs", "Audit trail"]),
    ],
)
def test_the_breadcrumbs_sit_in_the_admins_breadcrumb_bar(
    admin_client: Client, url: str, crumbs: list[str]
) -> None:
    # The element the admin's stylesheet draws as the bar: the one Django's own pages
    # use (an <ol> of <li> from Django 6.1, a <div> of links before).
    changelist = admin_client.get(reverse("admin:tablecron_job_changelist")).content.decode()
    django_bar = BAR.search(changelist)
    assert django_bar
    bar = BAR.search(admin_client.get(url).content.decode())
    assert bar
    assert bar.group(1) == django_bar.group(1)
    text = re.sub(r"<[^>]+>", "", re.sub(r"</li>|&rsaquo;", "|", bar.group(2)))
    assert [" ".join(crumb.split()) for crumb in text.split("|") if crumb.strip()] == crumbs


def test_the_timeline_keeps_to_a_jobs_calendar() -> None:
    from datetime import UTC, datetime, time

    from tablecron.models import Calendar, CalendarDay

    plant = Calendar.objects.create(name="plant")
    now = timezone.now()
    for day in (1, 2):  # tomorrow and the day after are days off
        CalendarDay.objects.create(calendar=plant, day=now.date() + timedelta(days=day), kind="off")
    job(name="hourly", cron="0 * * * *", timezone="UTC").save()
    job(name="hourly-on-working-days", cron="0 * * * *", timezone="UTC", calendar="plant").save()
    line = dashboard.timeline(now, 2)
    fires = {group.name: group.fires for group in line.top}
    midnight = datetime.combine(now.date() + timedelta(days=1), time(), UTC)
    today = int((midnight - now).total_seconds() // 3600)  # hours left today, none after
    assert fires["hourly"] >= 23
    assert fires.get("hourly-on-working-days", 0) == today
