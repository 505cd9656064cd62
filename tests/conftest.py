import os

import pytest
from django.db import connection


def pytest_report_header() -> str:
    return f"tablecron test database: {os.environ.get('TABLECRON_TEST_DB', 'sqlite')}"


@pytest.fixture
def vendor() -> str:
    return connection.vendor
