"""Small helpers shared by the tests."""

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.utils import timezone

from tablecron import schedules
from tablecron.models import Job

ADD = "tests.testapp.tablecron_jobs.add"
# Fires once a year, so the expected next run barely depends on when the test runs.
YEARLY = "0 9 1 1 *"
NEW_YEAR = "0 0 1 1 *"


def job(**fields: Any) -> Job:
    """An unsaved job with sensible defaults."""
    values: dict[str, Any] = {"name": "job", "task": ADD, "args": [1], "cron": YEARLY}
    values.update(fields)
    return Job(**values)


def next_cron(
    expression: str, zone: str = "Europe/Berlin", after: datetime | None = None
) -> datetime:
    fire = schedules.CronSchedule(expression, ZoneInfo(zone)).next_after(after or timezone.now())
    assert fire is not None
    return fire


def in_future(**delta: float) -> datetime:
    return datetime.now(UTC) + timedelta(**delta)
