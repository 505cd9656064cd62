"""Jobs with a working-day calendar: validation, custom calendars that reschedule the
jobs using them, and the scheduler's claim honouring them."""

from datetime import UTC, date, datetime, time, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db.models import ProtectedError
from django.utils import timezone

from tablecron.executors.immediate import ImmediateExecutor
from tablecron.models import Calendar, CalendarDay, Job
from tablecron.scheduler import Scheduler
from tests.support.factories import ADD
from tests.support.scheduling import due, runs

pytestmark = pytest.mark.django_db


def daily(name: str = "j", **fields: object) -> Job:
    fields.setdefault("timezone", "UTC")
    return Job.objects.create(name=name, task=ADD, args=[1, 2], cron="0 9 * * *", **fields)


def first_fire(skipping: set[date]) -> datetime:
    """The first 09:00 UTC after now on a day not in ``skipping``."""
    now = timezone.now()
    day = now.date()
    while True:
        fire = datetime.combine(day, time(9), UTC)
        if fire > now and day not in skipping:
            return fire
        day += timedelta(days=1)


def test_an_unknown_calendar_is_a_field_error_with_close_matches() -> None:
    Calendar.objects.create(name="plant-shanghai", country="CN")
    job = Job(name="j", task=ADD, args=[1, 2], cron="0 9 * * *", calendar="US-CX")
    with pytest.raises(ValidationError) as caught:
        job.full_clean()
    assert "Did you mean: US-TX" in caught.value.message_dict["calendar"][0]
    job.calendar = "plant-shanghia"
    with pytest.raises(ValidationError) as caught:
        job.full_clean()
    assert "plant-shanghai" in caught.value.message_dict["calendar"][0]
    assert not Job.objects.exists()


def test_nth_needs_its_day() -> None:
    job = Job(name="j", task=ADD, args=[1, 2], cron="0 9 * * *", calendar="CN")
    job.calendar_rule = "nth"
    with pytest.raises(ValidationError) as caught:
        job.full_clean()
    assert list(caught.value.message_dict) == ["calendar_day"]


def test_a_calendar_cannot_be_named_as_a_country() -> None:
    with pytest.raises(ValidationError) as caught:
        Calendar(name="CN").full_clean()
    assert list(caught.value.message_dict) == ["name"]
    with pytest.raises(ValidationError) as caught:
        Calendar(name="plant", country="XX").full_clean()
    assert list(caught.value.message_dict) == ["country"]


def test_editing_a_custom_calendar_moves_its_jobs() -> None:
    plant = Calendar.objects.create(name="plant")  # no base country: every day works
    job = daily(calendar="plant")
    other = daily("other")
    assert job.next_run_at == first_fire(set())
    off = first_fire(set()).date()
    day = CalendarDay.objects.create(calendar=plant, day=off, kind="off")
    job.refresh_from_db()
    assert job.next_run_at == first_fire({off})
    assert job.version == 1
    day.delete()
    job.refresh_from_db()
    assert job.next_run_at == first_fire(set())
    plant.name = "plant-2"
    plant.save()
    job.refresh_from_db()
    assert job.calendar == "plant-2"
    assert Job.objects.get(pk=other.pk).version == 0  # the others are left alone


def test_a_calendar_in_use_cannot_be_deleted() -> None:
    plant = Calendar.objects.create(name="plant")
    daily(calendar="plant")
    with pytest.raises(ProtectedError):
        plant.delete()
    with pytest.raises(ProtectedError):
        Calendar.objects.all().delete()
    Job.objects.all().delete()
    plant.delete()


def test_the_scheduler_advances_past_days_off() -> None:
    plant = Calendar.objects.create(name="plant")
    first = first_fire(set())
    offs = {first.date() + timedelta(days=n) for n in range(3)}
    for day in offs:
        CalendarDay.objects.create(calendar=plant, day=day, kind="off")
    job = due(daily(calendar="plant"))
    scheduler = Scheduler(ImmediateExecutor())
    scheduler.run_once()
    assert [run.status for run in runs(job)] == ["succeeded"]
    job.refresh_from_db()
    assert job.next_run_at == first_fire(offs)


def test_a_country_code_keeps_the_job_to_its_working_days() -> None:
    job = daily(calendar="DE-BY", timezone="Europe/Berlin")
    christmas = date(2026, 12, 25)
    schedule = job.get_schedule()
    assert schedule is not None
    fire = schedule.next_after(datetime(2026, 12, 24, 12, tzinfo=UTC))
    assert fire is not None
    assert fire.date() == christmas + timedelta(days=3)  # 25, 26 Dec, Sunday 27th off
