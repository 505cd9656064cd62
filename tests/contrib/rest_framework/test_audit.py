"""The audit trail through the API: every write and action is the request's user's."""

import pytest

pytest.importorskip("rest_framework")

from django.contrib.admin.models import ADDITION, CHANGE, DELETION
from rest_framework.test import APIClient

from tablecron.models import Job
from tests.support.audit import trail
from tests.support.factories import ADD, YEARLY

pytestmark = pytest.mark.django_db

JOBS = "/api/jobs/"


def test_writes_and_actions_through_the_api_are_the_users(api: APIClient) -> None:
    created = api.post(
        JOBS, {"name": "report", "task": ADD, "args": [1], "cron": YEARLY}, format="json"
    )
    assert created.status_code == 201
    url = f"{JOBS}{created.data['id']}/"
    assert api.patch(url, {"description": "weekly"}, format="json").status_code == 200
    for action in ("run", "pause", "resume"):
        assert api.post(f"{url}{action}/").status_code in (200, 202)
    assert api.delete(url).status_code == 204
    entries = trail()
    assert {(e["user"], e["via"]) for e in entries} == {("admin", "api")}
    assert [(e["flag"], e["action"]) for e in entries] == [
        (ADDITION, ""),
        (CHANGE, ""),
        (CHANGE, "run_now"),
        (CHANGE, "pause"),
        (CHANGE, "resume"),
        (DELETION, ""),
    ]
    assert entries[1]["changes"] == {"description": ["", "weekly"]}
    assert entries[3]["changes"] == {"enabled": [True, False]}
    assert not Job.objects.exists()
