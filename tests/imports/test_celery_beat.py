"""Importing django-celery-beat's real rows: each schedule kind, what is refused and why,
and the imported jobs' fire times against beat's own, across DST changes."""

import io
import time
from datetime import UTC, datetime, timedelta

import pytest
from django.apps import apps
from django.core.management import call_command
from django.utils import timezone

if not apps.is_installed("django_celery_beat"):  # see PEERS in tests/settings.py
    pytest.skip("django-celery-beat is not installed (the peers extra)", allow_module_level=True)

from celery import shared_task
from django_celery_beat.models import (
    ClockedSchedule,
    CrontabSchedule,
    IntervalSchedule,
    PeriodicTask,
    SolarSchedule,
)

import tablecron
from tablecron.executors.immediate import ImmediateExecutor
from tablecron.imports import Outcome, create
from tablecron.imports.celery_beat import read
from tablecron.models import Job
from tablecron.registry import tasks
from tablecron.scheduler import Scheduler
from tests.support.factories import ADD, T, next_cron
from tests.support.peers import beat_fires, fire_differences, tablecron_fires
from tests.support.scheduling import runs

pytestmark = pytest.mark.django_db
NOOP = T + "noop"
LAST_RUN = datetime(2026, 2, 27, 6, 0, 3, tzinfo=UTC)
# Crontabs in zones with DST, each imported and fired beside beat over DST_WINDOWS.
CRONTABS = {
    "office-hours": ("Europe/Berlin", {"minute": "*/15", "hour": "9-17", "day_of_week": "mon-fri"}),
    "in-the-gap": ("Europe/Berlin", {"minute": "30", "hour": "2"}),
    "hourly-ny": ("America/New_York", {"minute": "0"}),
    "twice-a-month": ("UTC", {"minute": "0", "hour": "0", "day_of_month": "1,15"}),
    "sunday-morning": ("Asia/Shanghai", {"minute": "0", "hour": "8", "day_of_week": "sun"}),
    "odd-months": ("Australia/Sydney", {"minute": "5", "hour": "*/6", "month_of_year": "*/2"}),
}


def crontab_task(name: str, zone: str, **fields: str) -> PeriodicTask:
    crontab = CrontabSchedule.objects.create(timezone=zone, **fields)
    return PeriodicTask.objects.create(name=name, task=NOOP, crontab=crontab)


def imported() -> dict[str, Outcome]:
    return {outcome.name: outcome for outcome in create(read())}


def test_crontabs_fire_when_beat_fires_them_but_at_two_dst_changes() -> None:
    tasks = {name: crontab_task(name, zone, **fields) for name, (zone, fields) in CRONTABS.items()}
    outcomes = imported()
    assert outcomes["office-hours"].detail == "cron '*/15 9-17 * * 1-5' in Europe/Berlin"
    assert outcomes["sunday-morning"].detail == "cron '0 8 * * 0' in Asia/Shanghai"  # 0: Sunday
    assert outcomes["odd-months"].detail == "cron '5 */6 * */2 *' in Australia/Sydney"
    differences, compared = fire_differences(
        tasks, lambda name, start, end: beat_fires(tasks[name].crontab.schedule, start, end)
    )
    assert compared > 2500
    # Where a DST change skips 02:30, beat fires at 03:30 and tablecron at 03:00 (Debian
    # cron's rule); where the clock goes back, beat fires the repeated 01:00 once and
    # tablecron, which keeps an hourly job's cadence, twice. Documented in migrating.md.
    assert differences == {
        ("in-the-gap", 3): (
            [datetime(2026, 3, 29, 1, 30, tzinfo=UTC)],
            [datetime(2026, 3, 29, 1, 0, tzinfo=UTC)],
        ),
        ("hourly-ny", 10): ([], [datetime(2026, 11, 1, 6, 0, tzinfo=UTC)]),
    }


def test_an_interval_keeps_its_phase_from_the_last_run() -> None:
    every = IntervalSchedule.objects.create(every=90, period=IntervalSchedule.MINUTES)
    PeriodicTask.objects.create(
        name="every-90-min", task=ADD, args="[1, 2]", interval=every, last_run_at=LAST_RUN
    )
    assert imported()["every-90-min"].created
    job = Job.objects.get(name="every-90-min")
    assert (job.interval, job.args, job.last_run_at) == (timedelta(minutes=90), [1, 2], LAST_RUN)
    end = LAST_RUN + timedelta(days=3)
    fires = tablecron_fires(job, LAST_RUN, end)
    assert len(fires) == 47
    assert fires == beat_fires(every.schedule, LAST_RUN, end)


def test_a_clocked_one_off_fields_and_message_options() -> None:
    at = datetime(2030, 5, 1, 12, tzinfo=UTC)
    clocked = ClockedSchedule.objects.create(clocked_time=at)
    PeriodicTask.objects.create(
        name="launch",
        task="testapp.greet",
        kwargs='{"who": "world"}',
        clocked=clocked,
        one_off=True,
        queue="reports",
        priority=5,
        description="Say hello once.",
    )
    ran = ClockedSchedule.objects.create(clocked_time=datetime(2020, 1, 1, tzinfo=UTC))
    PeriodicTask.objects.create(
        name="launched", task=NOOP, clocked=ran, one_off=True, last_run_at=LAST_RUN
    )
    crontab = CrontabSchedule.objects.create(minute="0", hour="4")
    PeriodicTask.objects.create(name="paused", task=NOOP, crontab=crontab, enabled=False)
    outcomes = imported()
    assert outcomes["launch"].notes == ("priority (5) is not carried over",)
    job = Job.objects.get(name="launch")
    assert (job.run_at, job.next_run_at, job.kwargs, job.queue) == (
        at,
        at,
        {"who": "world"},
        "reports",
    )
    assert job.description == "Say hello once."
    assert not Job.objects.get(name="launched").enabled  # a one-off that ran
    assert outcomes["paused"].detail == "cron '0 4 * * *' in UTC, paused"


def test_what_cannot_be_expressed_is_refused_with_a_reason() -> None:
    solar = SolarSchedule.objects.create(event="sunrise", latitude=48.85, longitude=2.35)
    PeriodicTask.objects.create(name="at-sunrise", task=NOOP, solar=solar)
    crontab_task("first-monday", "UTC", minute="0", hour="0", day_of_month="1-7", day_of_week="1")
    crontab_task("sunday-as-7", "UTC", minute="0", hour="0", day_of_week="7")
    crontab_task("unknown-task", "UTC", minute="0").__class__.objects.filter(
        name="unknown-task"
    ).update(task="proj.tasks.gone")
    crontab_task("celery.backend_cleanup", "UTC", minute="0", hour="4").__class__.objects.filter(
        name="celery.backend_cleanup"
    ).update(task="celery.backend_cleanup")
    every = IntervalSchedule.objects.create(every=1, period=IntervalSchedule.HOURS)
    PeriodicTask.objects.create(name="one-off-interval", task=NOOP, interval=every, one_off=True)
    PeriodicTask.objects.create(name="bad-args", task=ADD, interval=every, args="[1,")
    Job.objects.create(name="taken", task=NOOP, cron="@daily")
    crontab_task("taken", "UTC", minute="0")

    reasons = {name: o.detail for name, o in imported().items() if not o.created}
    assert reasons == {
        "at-sunrise": "a solar schedule (sunrise at 48.85, 2.35); tablecron has no sunrise or "
        "sunset schedules",
        "first-monday": "it runs on days that are both day 1-7 of the month and weekday 1; a "
        "cron expression runs on days that are either",
        "sunday-as-7": "celery cannot read its crontab (Invalid end range: 7 > 6.); beat never "
        "runs it",
        "unknown-task": "task: “proj.tasks.gone” is not a registered task. Choose one of: "
        + reasons["unknown-task"].split("Choose one of: ")[1],
        "celery.backend_cleanup": "celery's own result cleanup; tablecron prunes its runs itself",
        "one-off-interval": "a one-off crontab or interval task; give it a single run time instead",
        "bad-args": reasons["bad-args"],
        "taken": "name: Job with this Name already exists.",
    }
    assert reasons["bad-args"].startswith("its args are not JSON")
    assert list(Job.objects.values_list("name", flat=True)) == ["taken"]


@shared_task
def send_report(recipient: str) -> str:
    """A Celery task, as beat's rows name it."""
    return f"sent to {recipient}"


def test_a_celery_task_registered_as_migrating_md_shows_keeps_its_celery_name() -> None:
    # docs/migrating.md: a tablecron_jobs.py imports the Celery task and registers it.
    tablecron.register(send_report)
    try:
        every = IntervalSchedule.objects.create(every=1, period=IntervalSchedule.HOURS)
        PeriodicTask.objects.create(
            name="report", task=send_report.name, kwargs='{"recipient": "ops"}', interval=every
        )
        assert imported()["report"].created
        job = Job.objects.get(name="report")
        assert job.task == "tests.imports.test_celery_beat.send_report"
        assert job.registered_task is not None
        assert job.registered_task.func(**job.kwargs) == "sent to ops"
    finally:
        tasks.remove(send_report.name)


@pytest.mark.django_db(transaction=True)
def test_the_migration_procedure_of_migrating_md_imports_and_fires_each_job_once() -> None:
    """docs/migrating.md, "The steps", on beat's real tables: look, (beat stopped) import,
    start the scheduler; the imported jobs fire where beat would have, each once."""
    every = IntervalSchedule.objects.create(every=2, period=IntervalSchedule.SECONDS)
    last_beat_run = timezone.now() - timedelta(seconds=5)  # beat stopped since
    PeriodicTask.objects.create(
        name="sum", task=ADD, args="[1, 2]", interval=every, last_run_at=last_beat_run
    )
    crontab_task("nightly", "Europe/Paris", minute="0", hour="3")
    out = io.StringIO()
    call_command("tablecron", "import", "celery-beat", "--dry-run", stdout=out)
    assert "would create  sum" in out.getvalue()
    assert not Job.objects.exists()

    call_command("tablecron", "import", "celery-beat", stdout=io.StringIO())
    summed, nightly = Job.objects.get(name="sum"), Job.objects.get(name="nightly")
    first = summed.next_run_at
    assert first is not None
    # On beat's grid, the next point after the import: the fires missed are not made up.
    assert (first - last_beat_run) % timedelta(seconds=2) == timedelta(0)
    assert timezone.now() - timedelta(seconds=1) < first <= timezone.now() + timedelta(seconds=2)
    assert nightly.next_run_at == next_cron("0 3 * * *", "Europe/Paris")
    scheduler = Scheduler(ImmediateExecutor())
    scheduler.start()
    deadline = time.monotonic() + 10
    while len(runs(summed)) < 2 and time.monotonic() < deadline:
        scheduler.run_once()
    first_runs = runs(summed)[:2]
    assert [(run.scheduled_for, run.status, run.result) for run in first_runs] == [
        (first, "succeeded", 3),
        (first + timedelta(seconds=2), "succeeded", 3),
    ]
    assert runs(nightly) == []
