"""Database helpers for long-running loops: the database's clock, connection hygiene."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from django.db import connections
from django.utils.dateparse import parse_datetime

from tablecron.conf import settings

_NOW_SQL = {
    "postgresql": "SELECT CURRENT_TIMESTAMP",
    "mysql": "SELECT UTC_TIMESTAMP(6)",
    "sqlite": "SELECT strftime('%Y-%m-%d %H:%M:%f', 'now')",
}


def db_now(using: str = "default") -> datetime:
    """The current time on the database server, as an aware UTC datetime.

    Every scheduler on every host agrees on it, whatever their own clocks say.
    """
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


def close_old_connections() -> None:
    """Close this thread's connections that are broken or older than CONNECTION_MAX_AGE.

    Django's own ``close_old_connections()`` closes every connection each time when
    CONN_MAX_AGE is 0 (its default): right for requests, ruinous for a loop that runs
    hundreds of jobs a second. tablecron's long-lived threads reuse a connection while
    it works and replace it once it failed, went away, or lived CONNECTION_MAX_AGE.
    """
    max_age = settings.CONNECTION_MAX_AGE
    for connection in connections.all(initialized_only=True):
        raw = connection.connection
        if raw is None or connection.in_atomic_block:
            continue
        if getattr(connection, "_tablecron_raw", None) is not raw:
            connection._tablecron_raw = raw  # type: ignore[attr-defined]
            connection._tablecron_born = time.monotonic()  # type: ignore[attr-defined]
        too_old = time.monotonic() - connection._tablecron_born > max_age  # type: ignore[attr-defined]
        broken = connection.errors_occurred and not connection.is_usable()
        if too_old or broken or not connection.get_autocommit():
            connection.close()
        else:
            connection.errors_occurred = False


def close_all_connections() -> None:
    """Close every connection of this thread (after a database error, before a retry)."""
    for connection in connections.all(initialized_only=True):
        connection.close()


Advance = tuple[int, int, datetime | None, datetime | None, str | None]


def advance_jobs(rows: list[Advance], using: str = "default") -> int:
    """Move many claimed jobs on in one statement; returns how many were moved.

    Each row is (id, version read, next_run_at, newest run's scheduled time or None,
    its status or None). A job is written only if its version still matches; its version
    is bumped. One UPDATE joined to the rows: Django's bulk_update() builds CASE
    expressions whose compilation alone cost ~3 ms a row here.
    """
    if not rows:
        return 0
    from tablecron.models import Job

    connection = connections[using]
    table = connection.ops.quote_name(Job._meta.db_table)
    params: list[Any]
    if connection.vendor == "postgresql":
        # Five array parameters, whatever the batch: psycopg parses a query with
        # thousands of placeholders in Python, slower than the update itself.
        sql, params = _advance_postgresql(table), [list(c) for c in zip(*rows, strict=True)]
    else:
        adapt = connection.ops.adapt_datetimefield_value
        params = []
        for pk, version, next_run_at, last_run_at, last_status in rows:
            params += [pk, version, adapt(next_run_at), adapt(last_run_at), last_status]
        sql = _ADVANCE_SQL[connection.vendor](table, len(rows))
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return int(cursor.rowcount)


def _set(target: str) -> str:
    """The SET list; MySQL wants the target columns qualified, the others refuse it."""
    return (
        f"{target}next_run_at = v.next_run_at, {target}version = j.version + 1, "
        f"{target}last_run_at = COALESCE(v.last_run_at, j.last_run_at), "
        f"{target}last_status = COALESCE(v.last_status, j.last_status)"
    )


def _advance_postgresql(table: str) -> str:
    return (
        f"UPDATE {table} AS j SET {_set('')} FROM UNNEST(%s::bigint[], %s::bigint[], "
        "%s::timestamptz[], %s::timestamptz[], %s::varchar[]) "
        "AS v(id, version, next_run_at, last_run_at, last_status) "
        "WHERE j.id = v.id AND j.version = v.version"
    )


def _advance_mysql(table: str, count: int) -> str:
    first = (
        "SELECT %s AS id, %s AS version, CAST(%s AS DATETIME(6)) AS next_run_at, "
        "CAST(%s AS DATETIME(6)) AS last_run_at, CAST(%s AS CHAR(20)) AS last_status"
    )
    rest = "SELECT %s, %s, CAST(%s AS DATETIME(6)), CAST(%s AS DATETIME(6)), CAST(%s AS CHAR(20))"
    rows = " UNION ALL ".join([first] + [rest] * (count - 1))
    # Driven from the VALUES rows (STRAIGHT_JOIN), InnoDB reaches each job by primary key.
    # Left to itself it could scan the small job table, locking rows that other
    # schedulers hold, and deadlock.
    return (
        f"UPDATE ({rows}) AS v STRAIGHT_JOIN {table} AS j "
        f"ON j.id = v.id AND j.version = v.version SET {_set('j.')}"
    )


def _advance_sqlite(table: str, count: int) -> str:
    # Not a WITH clause: Python's sqlite3 reports no rowcount for statements starting so.
    values = ", ".join(["(%s, %s, %s, %s, %s)"] * count)
    columns = (
        "column1 AS id, column2 AS version, column3 AS next_run_at, "
        "column4 AS last_run_at, column5 AS last_status"
    )
    return (
        f"UPDATE {table} AS j SET {_set('')} FROM (SELECT {columns} FROM (VALUES {values})) "
        "AS v WHERE j.id = v.id AND j.version = v.version"
    )


_ADVANCE_SQL = {
    "mysql": _advance_mysql,
    "sqlite": _advance_sqlite,
}


def run_sql(sql: str, params: list[Any], using: str = "default") -> int:
    """Run one statement on tablecron's tables (``{run}``, ``{job}`` in ``sql``); returns
    the rows it matched. For the per-run hot path, where the ORM's query compilation
    cost more CPU than the database work."""
    from tablecron.models import Job, JobRun

    connection = connections[using]
    quote = connection.ops.quote_name
    sql = sql.format(run=quote(JobRun._meta.db_table), job=quote(Job._meta.db_table))
    adapt = connection.ops.adapt_datetimefield_value
    params = [adapt(p) if isinstance(p, datetime) else p for p in params]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return int(cursor.rowcount)
