import os
from typing import Any

import pytest
from django.conf import settings
from django.db import connection


def pytest_report_header() -> str:
    second = " (tablecron on a second database)" if "tablecron" in settings.DATABASES else ""
    return f"tablecron test database: {os.environ.get('TABLECRON_TEST_DB', 'sqlite')}{second}"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """With tablecron on a second database, every database test may use both."""
    if "tablecron" not in settings.DATABASES:
        return
    for item in items:
        if (marker := item.get_closest_marker("django_db")) is not None:
            kwargs = {**marker.kwargs, "databases": "__all__"}
            # First, so that it is the closest: a test's own @django_db comes before a
            # marker appended to it.
            item.add_marker(pytest.mark.django_db(*marker.args, **kwargs), append=False)


@pytest.fixture
def vendor() -> str:
    return connection.vendor


@pytest.fixture
def api(admin_user: Any) -> Any:
    """A REST framework client signed in (by session) as a superuser. API tests only."""
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_login(admin_user)
    return client
