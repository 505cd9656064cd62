"""tablecron on a database of its own (``DATABASE``), where its router sends it: run in
the suite where TABLECRON_TEST_SECOND_DB=1 adds that database."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.db import DatabaseError, connections, router

from tablecron.checks import check_settings
from tablecron.db import db_now
from tablecron.models import Job
from tablecron.sql import statements
from tests.support.factories import ADD

pytestmark = [
    pytest.mark.skipif("tablecron" not in settings.DATABASES, reason="one database only"),
    pytest.mark.django_db(transaction=True, databases="__all__"),
]


def test_every_query_goes_to_tablecrons_database() -> None:
    assert router.db_for_write(Job) == router.db_for_read(Job) == "tablecron"
    assert statements().alias == "tablecron"
    assert db_now().tzinfo is not None
    Job.objects.create(name="j", task=ADD, args=[1], interval=timedelta(hours=1))
    with connections["tablecron"].cursor() as cursor:
        cursor.execute("SELECT name FROM tablecron_job")
        assert list(cursor.fetchall()) == [("j",)]
    with pytest.raises(DatabaseError), connections["default"].cursor() as cursor:
        cursor.execute("SELECT name FROM tablecron_job")  # never migrated there


def test_the_setup_passes_its_checks() -> None:
    assert [m.id for m in check_settings(None)] == []
