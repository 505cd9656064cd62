"""PostgreSQL: row locks with SKIP LOCKED, NOTIFY wake-ups, batches as one JSON text."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from tablecron.conf import settings
from tablecron.sql.base import Statements, Where, aware
from tablecron.sql.constants import CLAIMING_SETTING, NOTIFY_CHANNEL, RUN_LINKS
from tablecron.sql.rows import Advance, Finished, Holder, Inserted, NewRun, Row, columns

TYPES = {"int": "bigint", "bool": "boolean", "text": "text", "time": "timestamptz", "json": "jsonb"}
LOCK_TIMEOUT = "50ms"  # see writable()
LOCK_NOT_AVAILABLE = "55P03"  # the SQLSTATE of a lock_timeout


IDLE_SETTING = "'idle_in_transaction_session_timeout'"


def idle_limit() -> str:
    """How long (ms) the server keeps a claim's or a batch's transaction open while its
    scheduler sends nothing: half of ``LOST_AFTER``. A scheduler cut off from the server
    in the middle of one would otherwise hold its rows locked, and the jobs among them
    unclaimable by the others, until TCP gives up on the connection (many minutes); the
    server ends the session instead, and its transaction rolls back."""
    return str(max(1, int(settings.LOST_AFTER * 500)))


def isoformat_once() -> Callable[[datetime], str]:
    """``datetime.isoformat``, each distinct time formatted once: the rows of a batch
    share a few (the claim's now, the minute they fell due), and formatting times was
    most of encoding a row (a claim's row: 19 µs, 6 µs with this)."""
    seen: dict[datetime, str] = {}

    def isoformat(value: datetime) -> str:
        text = seen.get(value)
        if text is None:
            text = seen[value] = value.isoformat()
        return text

    return isoformat


class PostgreSQLStatements(Statements):
    skip_locked = True
    notifies = True
    finishes_in_one_statement = True
    listen_sql = f"LISTEN {NOTIFY_CHANNEL}"
    now_sql = "statement_timestamp()"
    time_param = "%s::timestamptz"

    # Larger batches than elsewhere: on InnoDB, batches of 5,000 held the claims back
    # (firing lateness p99 519 ms against 10 ms with 1,000, bench/retention.py).
    prune_batch = 5000
    # Two schedulers prune at once: each takes the rows the other does not hold.
    prune_lock = " FOR UPDATE SKIP LOCKED"

    def delete_runs(self, where: Where) -> tuple[int, datetime | None]:
        """One statement: the runs, their output, and the links of the runs that repeat
        them or ran after them (the foreign keys are checked at the commit, after all of
        it)."""
        unlinks = "".join(
            f"unlink_{link} AS ({self._unlink(link, 'SELECT id FROM doomed')}), "
            for link in RUN_LINKS
        )
        sql = (
            f"WITH doomed AS (SELECT id FROM {self.run} WHERE {where.sql} ORDER BY "
            f"scheduled_for LIMIT {self.prune_batch}{self.prune_lock}), "
            f"output AS (DELETE FROM {self.output} WHERE run_id IN (SELECT id FROM doomed)), "
            f"{unlinks.removesuffix(', ')} "
            f"DELETE FROM {self.run} WHERE id IN (SELECT id FROM doomed) RETURNING scheduled_for"
        )
        return self._deleted(self.execute(sql, where.params).rows)

    def begin_claim(self) -> datetime:
        """Also mutes the NOTIFY trigger for this transaction's writes: other schedulers
        need no wake-up for work that is already claimed; and bounds its idle time (see
        ``idle_limit()``)."""
        result = self.execute(
            f"SELECT set_config(%s, 'on', true), set_config({IDLE_SETTING}, %s, true), "
            f"{self.now_sql}",
            [CLAIMING_SETTING, idle_limit()],
        )
        return aware(result.rows[0][2])

    def writable(self, rows: Sequence[tuple[int, int | None]]) -> set[int]:
        """All of them, with a short ``lock_timeout`` for the rest of the transaction: a
        wait ends in a lock timeout long before PostgreSQL's deadlock check
        (``deadlock_timeout``, 1 s) would abort either side, and costs nothing when no
        row is busy. Its idle time is bounded too (see ``idle_limit()``)."""
        self.execute(
            f"SELECT set_config('lock_timeout', '{LOCK_TIMEOUT}', true), "
            f"set_config({IDLE_SETTING}, %s, true)",
            [idle_limit()],
        )
        return super().writable(rows)

    def is_lock_timeout(self, exc: BaseException) -> bool:
        return getattr(exc.__cause__, "sqlstate", None) == LOCK_NOT_AVAILABLE

    def finish_runs(self, rows: Sequence[Finished]) -> set[int]:
        """One statement: the jobs follow the runs ended."""
        if not rows:
            return set()
        source, params = self.values(Finished, rows)
        jobs = self.update_from(
            self.job,
            "ended AS e",
            "t.id = e.job_id AND (t.last_run_at = e.scheduled_for OR e.succeeded_at IS NOT NULL)",
            self._follow_ended("e.scheduled_for", "e.status", "e.succeeded_at"),
        )
        sql = (
            f"WITH ended AS ({self._end_runs(source)} RETURNING t.id, t.job_id, "
            "t.scheduled_for, t.status, v.succeeded_at), "
            f"jobs AS ({jobs}) SELECT id FROM ended"
        )
        return {pk for (pk,) in self.execute(sql, params).rows}

    def write_claim(
        self, advances: Sequence[Advance], rows: Sequence[NewRun], holder: Holder
    ) -> tuple[int, list[Inserted]]:
        """One statement, one round trip fewer a claim: the advance and the insert as two
        data-modifying CTEs (both see the claim's locked job rows as they were; neither
        reads what the other writes). The row without an id counts the jobs moved on."""
        if not rows:
            return super().write_claim(advances, rows, holder)
        advance, advance_params = self._advance_jobs(advances)
        insert, insert_params = self._insert_runs(rows, holder)
        sql = (
            f"WITH advanced AS ({advance} RETURNING 1), "
            f"inserted AS ({insert} RETURNING id, job_id, scheduled_for) "
            "SELECT NULL::bigint, (SELECT COUNT(*) FROM advanced), NULL::timestamptz "
            "UNION ALL SELECT id, job_id, scheduled_for FROM inserted"
        )
        advanced, inserted = 0, []
        for pk, job_id, at in self.execute(sql, [*advance_params, *insert_params]).rows:
            if pk is None:
                advanced = job_id
            else:
                inserted.append(Inserted(pk, job_id, aware(at)))
        return advanced, inserted

    def id_list(self, ids: Sequence[int]) -> tuple[str, list[Any]]:
        """One array parameter, written as text: psycopg would quote each id in Python."""
        return "SELECT unnest(%s::bigint[])", ["{" + ",".join(map(str, ids)) + "}"]

    def values(self, row_type: type[Row], rows: Sequence[Row]) -> tuple[str, list[Any]]:
        """The rows travel as one JSON text, each an array: psycopg quotes parameters in
        Python, and thousands of them (or arrays of them) cost more than the work. Arrays
        rather than objects: no names repeated in each row, and PostgreSQL reads a row's
        fields from a ``jsonb`` array in half the time ``json_to_recordset`` took."""
        select = ", ".join(
            f"(r->>{n})::{TYPES[kind]} AS {self.quote(name)}"
            for n, (name, kind) in enumerate(columns(row_type))
        )
        payload = json.dumps(rows, default=isoformat_once(), check_circular=False)
        return f"(SELECT {select} FROM jsonb_array_elements(%s::jsonb) AS r) AS v", [payload]
