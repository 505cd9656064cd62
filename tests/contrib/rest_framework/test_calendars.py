"""The API with working-day calendars: create and update, the upcoming endpoints."""

import json
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import holidays
import pytest
from django.utils import translation

pytest.importorskip("rest_framework")

from tablecron.models import Calendar, Job
from tests.support.factories import ADD

pytestmark = pytest.mark.django_db

JOBS = "/api/jobs/"
BERLIN = ZoneInfo("Europe/Berlin")


def body(**fields: Any) -> dict[str, Any]:
    return {"name": "payroll", "task": ADD, "args": [1, 2], "cron": "0 9 * * *", **fields}


def test_create_with_the_last_working_day_and_its_upcoming_fires(api: Any) -> None:
    fields = {"timezone": "Europe/Berlin", "calendar": "DE-BY"}
    created = api.post(JOBS, body(**fields, calendar_rule="nth", calendar_day=-1), format="json")
    assert created.status_code == 201, created.content
    assert created.json()["calendar_day"] == -1
    assert "last working day of the month" in created.json()["schedule_description"]
    url = f"{JOBS}{created.json()['id']}/upcoming/"
    fires = [datetime.fromisoformat(t).astimezone(BERLIN) for t in api.get(url).json()["upcoming"]]
    bavaria = holidays.country_holidays("DE", subdiv="BY")
    for fire in fires:
        assert fire.hour == 9
        later = [fire.replace(day=d) for d in range(fire.day + 1, 32) if _exists(fire, d)]
        assert bavaria.is_working_day(fire.date())
        assert not any(bavaria.is_working_day(day.date()) for day in later)
    assert len({fire.month for fire in fires}) == len(fires)  # one a month


def _exists(fire: datetime, day: int) -> bool:
    try:
        fire.replace(day=day)
    except ValueError:
        return False
    return True


def test_update_to_a_custom_calendar_and_an_unknown_one(api: Any) -> None:
    Calendar.objects.create(name="plant-shanghai", country="CN")
    created = api.post(JOBS, body(), format="json").json()
    url = f"{JOBS}{created['id']}/"
    moved = api.patch(url, {"calendar": "plant-shanghai", "calendar_rule": "next"}, format="json")
    assert moved.status_code == 200, moved.content
    job = Job.objects.get()
    assert (job.calendar, job.calendar_rule) == ("plant-shanghai", "next")
    assert job.next_run_at == job.upcoming(1)[0]
    refused = api.patch(url, {"calendar": "plant-shanghia"}, format="json")
    assert refused.status_code == 400
    assert "plant-shanghai" in refused.json()["calendar"][0]
    assert Job.objects.get().calendar == "plant-shanghai"


def test_trying_a_schedule_with_a_calendar(api: Any) -> None:
    tried = api.post(
        "/api/schedule/upcoming/",
        {"cron": "0 9 * * *", "timezone": "Asia/Shanghai", "calendar": "CN", "count": 10},
        format="json",
    )
    assert tried.status_code == 200, tried.content
    china = holidays.country_holidays("CN")
    zone = ZoneInfo("Asia/Shanghai")
    fires = [datetime.fromisoformat(t).astimezone(zone) for t in tried.json()["upcoming"]]
    assert len(fires) == 10
    assert all(china.is_working_day(fire.date()) for fire in fires)
    unknown = api.post(
        "/api/schedule/upcoming/", {"cron": "0 9 * * *", "calendar": "XX"}, format="json"
    )
    assert unknown.status_code == 400
    assert "calendar" in unknown.json()


def test_an_unknown_rule_is_named_by_its_choices_in_the_active_language(api: Any) -> None:
    # As a JSON client writes it: ASCII, the lone surrogate escaped.
    sent = json.dumps(body(calendar="CN", calendar_rule="sideways\ud800"))
    refused = api.post(JOBS, sent, content_type="application/json")
    assert refused.status_code == 400
    assert refused.json() == {"calendar_rule": ["Choose one of: skip, next, previous, nth."]}
    with translation.override("zh-hans"):
        chinese = api.post(JOBS, sent, content_type="application/json")
    assert chinese.json()["calendar_rule"] == ["请从以下选项中选择：skip, next, previous, nth。"]
