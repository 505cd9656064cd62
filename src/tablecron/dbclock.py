"""The database's clock: every scheduler on every host agrees on it, whatever their own."""

from __future__ import annotations

from datetime import UTC, datetime

from django.db import connections
from django.utils.dateparse import parse_datetime

_NOW_SQL = {
    "postgresql": "SELECT CURRENT_TIMESTAMP",
    "mysql": "SELECT UTC_TIMESTAMP(6)",
    "sqlite": "SELECT strftime('%Y-%m-%d %H:%M:%f', 'now')",
}


def db_now(using: str = "default") -> datetime:
    """The current time on the database server, as an aware UTC datetime."""
    connection = connections[using]
    with connection.cursor() as cursor:
        cursor.execute(_NOW_SQL.get(connection.vendor, "SELECT CURRENT_TIMESTAMP"))
        value = cursor.fetchone()[0]
    if isinstance(value, str):
        parsed = parse_datetime(value)
        assert parsed is not None, value
        value = parsed
    assert isinstance(value, datetime), value
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)
