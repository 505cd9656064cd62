"""Database helpers: the database's clock, connection hygiene, and the batch statements
of the hot path (claim, advance, finish), one per batch whatever its size."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from django.db import connections
from django.utils.dateparse import parse_datetime

from tablecron.conf import settings

_NOW_SQL = {
    "postgresql": "statement_timestamp()",
    "mysql": "UTC_TIMESTAMP(6)",
    "sqlite": "strftime('%Y-%m-%d %H:%M:%f', 'now')",
}


def now_sql(connection: Any) -> str:
    """An SQL expression for the database server's current time (of this statement)."""
    return _NOW_SQL.get(connection.vendor, "CURRENT_TIMESTAMP")


def db_now(using: str = "default") -> datetime:
    """The current time on the database server, as an aware UTC datetime.

    Every scheduler on every host agrees on it, whatever their own clocks say.
    """
    connection = connections[using]
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {now_sql(connection)}")
        value = cursor.fetchone()[0]
    return aware(value)


def aware(value: datetime | str) -> datetime:
    """A datetime as a database driver returned it (SQLite: text; MySQL: naive UTC), as
    an aware UTC datetime."""
    if isinstance(value, str):
        parsed = parse_datetime(value)
        assert parsed is not None, value
        value = parsed
    assert isinstance(value, datetime), value
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def close_old_connections() -> None:
    """Close this thread's connections that are broken or older than CONNECTION_RECYCLE.

    Django's own ``close_old_connections()`` closes every connection each time when
    CONN_MAX_AGE is 0 (its default): right for requests, ruinous for a loop that runs
    hundreds of jobs a second. tablecron's long-lived threads reuse a connection while
    it works and replace it once it failed, went away, or lived CONNECTION_RECYCLE.
    """
    max_age = settings.CONNECTION_RECYCLE
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


# Column kinds of a values table, as PostgreSQL types and MySQL casts.
_PG_TYPES = {"int": "bigint", "text": "text", "time": "timestamptz", "json": "text"}
_MYSQL_CASTS = {"int": "%s", "text": "%s", "time": "CAST(%s AS DATETIME(6))", "json": "%s"}


def values_table(
    columns: Sequence[tuple[str, str]], rows: Sequence[Sequence[Any]], connection: Any
) -> tuple[str, list[Any]]:
    """``rows`` as a derived table ``v`` with ``columns`` (name, kind: int, text, time or
    json), and its parameters: what the batch statements below join their tables to.

    Django's bulk_update() builds CASE expressions whose compilation alone cost ~3 ms a
    row here. On PostgreSQL the rows travel as one JSON text: psycopg quotes parameters
    in Python, and thousands of them (or arrays of them) cost more than the work.
    """
    quote = connection.ops.quote_name  # "trigger" is a reserved word in MySQL
    if connection.vendor == "postgresql":
        keys = [name for name, _ in columns]
        types = ", ".join(f"{quote(name)} {_PG_TYPES[kind]}" for name, kind in columns)
        select = ", ".join(
            f"r.{quote(name)}::jsonb AS {quote(name)}" if kind == "json" else f"r.{quote(name)}"
            for name, kind in columns
        )
        payload = json.dumps(
            [dict(zip(keys, row, strict=True)) for row in rows], default=datetime.isoformat
        )
        return f"(SELECT {select} FROM json_to_recordset(%s) AS r({types})) AS v", [payload]
    adapt = connection.ops.adapt_datetimefield_value
    params = [
        adapt(value) if isinstance(value, datetime) else value for row in rows for value in row
    ]
    if connection.vendor == "mysql":
        first = ", ".join(f"{_MYSQL_CASTS[kind]} AS {quote(name)}" for name, kind in columns)
        rest = ", ".join(_MYSQL_CASTS[kind] for _, kind in columns)
        selects = " UNION ALL ".join([f"SELECT {first}"] + [f"SELECT {rest}"] * (len(rows) - 1))
        return f"({selects}) AS v", params
    aliases = ", ".join(f"column{n} AS {quote(name)}" for n, (name, _) in enumerate(columns, 1))
    row = "(" + ", ".join(["%s"] * len(columns)) + ")"
    return f"(SELECT {aliases} FROM (VALUES {', '.join([row] * len(rows))})) AS v", params


def update_from(
    connection: Any, table: str, source: str, on: str, assignments: dict[str, str]
) -> str:
    """``UPDATE table AS t`` joined to ``source`` (a values table, maybe joined further).

    MySQL has no UPDATE … FROM: its multi-table UPDATE is driven from the values rows
    (STRAIGHT_JOIN), so InnoDB reaches each target row by primary key. Left to itself it
    could scan a small table, locking rows that other schedulers hold, and deadlock.
    """
    if connection.vendor == "mysql":
        sets = ", ".join(f"t.{column} = {value}" for column, value in assignments.items())
        source = source.replace(" JOIN ", " STRAIGHT_JOIN ")
        return f"UPDATE {source} STRAIGHT_JOIN {table} AS t ON {on} SET {sets}"
    sets = ", ".join(f"{column} = {value}" for column, value in assignments.items())
    return f"UPDATE {table} AS t SET {sets} FROM {source} WHERE {on}"


def execute_sql(
    sql: str, params: Sequence[Any], using: str = "default"
) -> tuple[int, list[tuple[Any, ...]]]:
    """Run one statement on tablecron's tables (``{run}``, ``{job}`` in ``sql``); returns
    the rows it matched and those it returned (RETURNING). For the hot paths, where the
    ORM's query compilation cost more CPU than the database work."""
    from tablecron.models import Job, JobRun

    connection = connections[using]
    quote = connection.ops.quote_name
    sql = sql.format(run=quote(JobRun._meta.db_table), job=quote(Job._meta.db_table))
    adapt = connection.ops.adapt_datetimefield_value
    params = [adapt(p) if isinstance(p, datetime) else p for p in params]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall() if cursor.description else []
        return int(cursor.rowcount), rows


def run_sql(sql: str, params: Sequence[Any], using: str = "default") -> int:
    """``execute_sql()`` for a statement returning nothing: the rows it matched."""
    return execute_sql(sql, params, using)[0]


LOCK_TIMEOUT = "50ms"  # see writable()


def writable(rows: Sequence[tuple[int, int | None]], using: str = "default") -> set[int]:
    """Of ``rows`` (run id, job id), the runs a batch may write in this transaction
    without ever waiting for a row while holding others: such a wait could deadlock with
    a person's bulk update or delete of jobs, which locks rows in its own order.

    PostgreSQL: all of them, with a short ``lock_timeout`` for the rest of the
    transaction: a wait ends in ``LockTimeout`` long before PostgreSQL's deadlock check
    (``deadlock_timeout``, 1 s) would abort either side, and costs nothing when no row is
    busy. MySQL/MariaDB, whose deadlock check is immediate: those whose run and job rows
    it could lock first with SKIP LOCKED. SQLite has no row locks: all of them.
    """
    connection = connections[using]
    if connection.vendor == "postgresql":
        execute_sql(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'", [], using)
    if connection.vendor != "mysql":
        return {run_id for run_id, _ in rows}
    runs = _lock("{run}", [run_id for run_id, _ in rows], using)
    jobs = _lock("{job}", [job_id for run_id, job_id in rows if run_id in runs], using)
    return {run_id for run_id, job_id in rows if run_id in runs and job_id in jobs}


def lock_rows(table: str, ids: Sequence[int | None], using: str = "default") -> set[int | None]:
    """Lock the rows of ``table`` (``{run}`` or ``{job}``) among ``ids`` that no other
    transaction holds, without waiting; returns their ids (and None, which stands for
    no row). SQLite has no row locks (its writers take turns): all of them there."""
    if not connections[using].features.has_select_for_update_skip_locked:
        return set(ids) | {None}
    return _lock(table, ids, using)


def _lock(table: str, ids: Sequence[int | None], using: str) -> set[int | None]:
    wanted = sorted({pk for pk in ids if pk is not None})
    if not wanted:
        return {None}
    marks = ", ".join(["%s"] * len(wanted))
    sql = f"SELECT id FROM {table} WHERE id IN ({marks}) FOR UPDATE SKIP LOCKED"
    return {pk for (pk,) in execute_sql(sql, wanted, using)[1]} | {None}


def is_lock_timeout(exc: BaseException) -> bool:
    """Whether ``exc`` is PostgreSQL's lock_not_available (a ``lock_timeout``)."""
    return getattr(exc.__cause__, "sqlstate", None) == "55P03"


Advance = tuple[int, int, datetime | None, datetime | None, str | None]
_ADVANCE = [
    ("id", "int"),
    ("version", "int"),
    ("next_run_at", "time"),
    ("last_run_at", "time"),
    ("last_status", "text"),
]


def advance_jobs(rows: list[Advance], using: str = "default") -> int:
    """Move many claimed jobs on in one statement; returns how many were moved.

    Each row is (id, version read, next_run_at, newest run's scheduled time or None,
    its status or None). A job is written only if its version still matches; its version
    is bumped.
    """
    if not rows:
        return 0
    connection = connections[using]
    source, params = values_table(_ADVANCE, rows, connection)
    sql = update_from(
        connection,
        "{job}",
        source,
        "t.id = v.id AND t.version = v.version",
        {
            "next_run_at": "v.next_run_at",
            "version": "t.version + 1",
            "last_run_at": "COALESCE(v.last_run_at, t.last_run_at)",
            "last_status": "COALESCE(v.last_status, t.last_status)",
        },
    )
    return int(execute_sql(sql, params, using)[0])


NewRun = tuple[int, str, datetime, datetime | None, datetime | None, str, str, str, str, datetime]
_NEW_RUN = [
    ("job_id", "int"),
    ("job_name", "text"),
    ("scheduled_for", "time"),
    ("started_at", "time"),
    ("finished_at", "time"),
    ("status", "text"),
    ("trigger", "text"),
    ("error", "text"),
    ("worker", "text"),
    ("not_before", "time"),
]


def insert_runs(rows: list[NewRun], using: str = "default") -> list[tuple[int, int, datetime]]:
    """Insert first attempts of runs in one statement, skipping any (job, scheduled_for)
    already recorded: the unique key, not a read before the write, is what decides.
    Returns (id, job_id, scheduled_for) of the rows inserted."""
    if not rows:
        return []
    connection = connections[using]
    source, params = values_table(_NEW_RUN, rows, connection)
    columns = ", ".join(connection.ops.quote_name(name) for name, _ in _NEW_RUN)
    select = f"SELECT {columns}, 1, NULL FROM {source}"
    insert = f"INTO {{run}} ({columns}, attempt, result) {select}"
    sql = {
        "postgresql": f"INSERT {insert} ON CONFLICT DO NOTHING",
        "mysql": f"INSERT IGNORE {insert}",
        # "WHERE true" tells SQLite's parser that ON CONFLICT is not a join's ON.
    }.get(connection.vendor, f"INSERT {insert} WHERE true ON CONFLICT DO NOTHING")
    _, inserted = execute_sql(sql + " RETURNING id, job_id, scheduled_for", params, using)
    return [(pk, job_id, aware(at)) for pk, job_id, at in inserted]


Finished = tuple[int, str, datetime | None, datetime, str | None, str]
_FINISHED = [
    ("id", "int"),
    ("status", "text"),
    ("started_at", "time"),
    ("finished_at", "time"),
    ("result", "json"),
    ("error", "text"),
]


def finish_runs(rows: list[Finished], using: str = "default") -> int:
    """Record many outcomes: (run id, status, started_at or None to keep it, finished_at,
    result as JSON text or None, error). Only runs still ``running`` are ended; a job's
    ``last_status`` follows the run that ended if it is the job's newest. Two statements;
    the caller owns the transaction. Returns how many runs were ended."""
    if not rows:
        return 0
    connection = connections[using]
    source, params = values_table(_FINISHED, rows, connection)
    ended = update_from(
        connection,
        "{run}",
        source,
        "t.id = v.id AND t.status = 'running'",
        {
            "status": "v.status",
            "started_at": "COALESCE(v.started_at, t.started_at)",
            "finished_at": "v.finished_at",
            "result": "v.result",
            "error": "v.error",
        },
    )
    if connection.vendor == "postgresql":  # one statement: the job follows the runs ended
        both = (
            f"WITH ended AS ({ended} RETURNING t.job_id, t.scheduled_for, t.status), "
            "newest AS (UPDATE {job} AS t SET last_status = e.status FROM ended AS e "
            "WHERE t.id = e.job_id AND t.last_run_at = e.scheduled_for) "
            "SELECT COUNT(*) FROM ended"
        )
        return int(execute_sql(both, params, using)[1][0][0])
    count = int(execute_sql(ended, params, using)[0])
    newest = update_from(
        connection,
        "{job}",
        f"{source} JOIN {{run}} AS r ON r.id = v.id",
        "t.id = r.job_id AND t.last_run_at = r.scheduled_for AND r.status = v.status",
        {"last_status": "v.status"},
    )
    execute_sql(newest, params, using)
    return count
