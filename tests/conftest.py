import os
from typing import Any

import pytest
from django.db import connection


def pytest_report_header() -> str:
    return f"tablecron test database: {os.environ.get('TABLECRON_TEST_DB', 'sqlite')}"


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
