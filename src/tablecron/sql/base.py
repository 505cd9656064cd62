"""The statements every database shares; each vendor's module overrides what differs.

Statements are final SQL in the DB-API "format" style: ``%s`` stands for a parameter and
``%%`` for a literal percent sign. Table names are filled in when the object is made;
nothing else is templated. Every statement is executed with a parameter list, so the
drivers read ``%%`` the same way everywhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple

from django.apps import apps
from django.db import connections, transaction
from django.utils.dateparse import parse_datetime

from tablecron.sql.constants import RUN_LINKS
from tablecron.sql.rows import Advance, Finished, Holder, Inserted, NewRun, Row, columns


class Where(NamedTuple):
    """A condition on the run table and its parameters."""

    sql: str
    params: tuple[Any, ...]

    def from_time(self, at: datetime) -> Where:
        """Only the runs scheduled at ``at`` or later: the next batch starts its index scan
        where the last one ended, not at the dead entries of the rows already deleted."""
        return Where(f"{self.sql} AND scheduled_for >= %s", (*self.params, at))


RUNNING = "running"  # RunStatus.RUNNING: models import nothing from here, nor this from them
SCHEDULED = "scheduled"


class Result(NamedTuple):
    """What a statement did: the rows it matched (``cursor.rowcount``), and those it
    returned."""

    matched: int
    rows: list[tuple[Any, ...]]


class Statements:
    """The SQL of tablecron's hot paths on one database alias.

    Capability flags, read by the code above instead of the vendor's name:
    ``skip_locked`` — ``SELECT … FOR UPDATE SKIP LOCKED`` exists, so claims lock their
    rows (elsewhere, SQLite, writers take turns); ``notifies`` — committed changes are
    announced with ``NOTIFY`` on ``listen_sql``'s channel; ``finishes_in_one_statement``
    — ``finish_runs()`` is a single statement, so outside a transaction it commits
    alone, all or nothing.
    """

    skip_locked = False
    finishes_in_one_statement = False
    notifies = False
    listen_sql = ""
    now_sql = "CURRENT_TIMESTAMP"  # overridden: this one has no fraction of a second
    time_param = "%s"  # a time parameter where nothing else gives it its type
    insert_ignoring = "INSERT INTO {table} ({columns}) {select} ON CONFLICT DO NOTHING"

    def __init__(self, alias: str) -> None:
        self.alias = alias
        # From the app registry: this package imports no models (they sit above it).
        quote = connections[alias].ops.quote_name
        self.job = quote(apps.get_model("tablecron", "Job")._meta.db_table)
        self.run = quote(apps.get_model("tablecron", "JobRun")._meta.db_table)
        self.output = quote(apps.get_model("tablecron", "RunOutput")._meta.db_table)

    # -- running a statement ---------------------------------------------------------

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Result:
        """Run one statement; returns the rows it matched and those it returned."""
        connection = connections[self.alias]
        adapt = connection.ops.adapt_datetimefield_value
        values = [adapt(p) if isinstance(p, datetime) else p for p in params]
        with connection.cursor() as cursor:
            cursor.execute(sql, values)
            rows = cursor.fetchall() if cursor.description else []
            return Result(int(cursor.rowcount), rows)

    # -- the clock -------------------------------------------------------------------

    def now(self) -> datetime:
        """The database server's current time: every host agrees on it."""
        return aware(self.execute(f"SELECT {self.now_sql}").rows[0][0])

    def begin_claim(self) -> datetime:
        """Called first in a claim's transaction; returns the database's now."""
        return self.now()

    def soonest(self, tasks: Sequence[str]) -> tuple[datetime, datetime | None]:
        """The database's now, and the soonest time a job of one of ``tasks`` or a run
        waiting for any scheduler falls due. One statement, no transaction."""
        marks = ", ".join(["%s"] * len(tasks))
        now, next_job, next_run = self.execute(
            f"SELECT {self.now_sql}, "
            f"(SELECT MIN(next_run_at) FROM {self.job} WHERE enabled AND task IN ({marks})), "
            f"(SELECT MIN(not_before) FROM {self.run} WHERE status = %s AND worker = '')",
            [*tasks, SCHEDULED],
        ).rows[0]
        times = [aware(t) for t in (next_job, next_run) if t is not None]
        return aware(now), min(times, default=None)

    # -- locks -----------------------------------------------------------------------

    def lock_free(self, table: str, ids: Sequence[int | None]) -> set[int | None]:
        """Lock the rows of ``table`` (``self.job`` or ``self.run``) among ``ids`` that no
        other transaction holds, without waiting; returns their ids (and None, which
        stands for no row). Without row locks (SQLite's writers take turns): all."""
        if not self.skip_locked:
            return set(ids) | {None}
        wanted = sorted({pk for pk in ids if pk is not None})
        if not wanted:
            return {None}
        marks = ", ".join(["%s"] * len(wanted))
        sql = f"SELECT id FROM {table} WHERE id IN ({marks}) FOR UPDATE SKIP LOCKED"
        return {pk for (pk,) in self.execute(sql, wanted).rows} | {None}

    def active_and_followed(self, job_ids: Sequence[int]) -> tuple[dict[int, int], set[int]]:
        """What every claim reads of its jobs, in one statement: how many runs of each
        of ``job_ids`` are claimed or running (they count against ``max_instances``;
        jobs with none are left out), and which of them other jobs run after
        (``Job.after``, by its index). Not the ORM's, which prepares each id in Python."""
        if not job_ids:
            return {}, set()
        ids, params = self.id_list(job_ids)
        sql = (
            f"SELECT job_id, COUNT(*) FROM {self.run} WHERE status IN (%s, %s) "
            f"AND job_id IN ({ids}) GROUP BY job_id "
            f"UNION ALL SELECT DISTINCT after_id, -1 FROM {self.job} WHERE after_id IN ({ids})"
        )
        active, followed = {}, set()
        for job_id, count in self.execute(sql, [SCHEDULED, RUNNING, *params, *params]).rows:
            if count < 0:  # the second SELECT's
                followed.add(job_id)
            else:
                active[job_id] = count
        return active, followed

    def id_list(self, ids: Sequence[int]) -> tuple[str, list[Any]]:
        """What goes inside ``IN (…)`` for ``ids``, and its parameters."""
        return ", ".join(["%s"] * len(ids)), list(ids)

    def writable(self, rows: Sequence[tuple[int, int | None]]) -> set[int]:
        """Of ``rows`` (run id, job id), the runs a batch may write in this transaction
        without ever waiting for a row while holding others: such a wait could deadlock
        with a person's bulk update or delete of jobs, which locks rows in its own order."""
        return {run_id for run_id, _ in rows}

    def is_lock_timeout(self, exc: BaseException) -> bool:
        """Whether ``exc`` ended a wait that ``writable()`` bounded."""
        return False

    # -- the hot path's writes -------------------------------------------------------

    def insert_runs(self, rows: Sequence[NewRun], holder: Holder) -> list[Inserted]:
        """Insert first attempts of runs in one statement, skipping any (job,
        scheduled_for) already recorded: the unique key, not a read before the write,
        decides. Returns the rows inserted."""
        if not rows:
            return []
        sql, params = self._insert_runs(rows, holder)
        _, inserted = self.execute(f"{sql} RETURNING id, job_id, scheduled_for", params)
        return [Inserted(pk, job_id, aware(at)) for pk, job_id, at in inserted]

    def _insert_runs(self, rows: Sequence[NewRun], holder: Holder) -> tuple[str, list[Any]]:
        source, params = self.values(NewRun, rows)
        names = [self.quote(name) for name in NewRun._fields if name != "held"]
        # What the runs share travels once (``holder``). Each run's name, queue and the
        # arguments it runs with are its job's, copied here by the database (the job's
        # row is locked by the claim): a rerun repeats them.
        held = "CASE WHEN v.held THEN {} ELSE {} END".format
        shared = {
            "job_name": "j.name",
            "trigger": "%s",
            "claimed_by": held("%s", "''"),
            "executor": held("%s", "''"),
            "queue": held("j.queue", "''"),
            "queued_at": held(self.time_param, "NULL"),
            "attempt": "1",
            "result": "NULL",
            "args": "j.args",
            "kwargs": "j.kwargs",
        }
        sql = self.insert_ignoring.format(
            table=self.run,
            columns=", ".join([*names, *map(self.quote, shared)]),
            select=f"SELECT {', '.join([*(f'v.{name}' for name in names), *shared.values()])} "
            f"FROM {source} JOIN {self.job} AS j ON j.id = v.job_id",
        )
        return sql, [*holder, *params]

    def write_claim(
        self, advances: Sequence[Advance], rows: Sequence[NewRun], holder: Holder
    ) -> tuple[int, list[Inserted]]:
        """A claim's writes: ``advance_jobs(advances)``, then ``insert_runs(rows,
        holder)``; returns how many jobs moved on, and the runs inserted."""
        return self.advance_jobs(advances), self.insert_runs(rows, holder)

    def advance_jobs(self, rows: Sequence[Advance]) -> int:
        """Move many claimed jobs on in one statement, each only if its version still
        matches, bumping it; returns how many were moved."""
        if not rows:
            return 0
        return self.execute(*self._advance_jobs(rows)).matched

    def _advance_jobs(self, rows: Sequence[Advance]) -> tuple[str, list[Any]]:
        source, params = self.values(Advance, rows)
        sql = self.update_from(
            self.job,
            source,
            "t.id = v.id AND t.version = v.version",
            {
                "next_run_at": "v.next_run_at",
                "version": "t.version + 1",
                "last_run_at": "COALESCE(v.last_run_at, t.last_run_at)",
                "last_status": "COALESCE(v.last_status, t.last_status)",
            },
        )
        return sql, params

    def finish_runs(self, rows: Sequence[Finished]) -> set[int]:
        """Record many ends of runs, each only while its run is still as the row expects
        (``was``, ``held_by``); a job's ``last_status`` follows the run that ended if it is
        the job's newest, and its ``last_success_at`` a success. The caller owns the
        transaction. Returns the ids of the runs ended."""
        if not rows:
            return set()
        source, params = self.values(Finished, rows)
        ended = self.execute(f"{self._end_runs(source)} RETURNING id", params).rows
        self.execute(self._jobs_follow(source), params)
        return {pk for (pk,) in ended}

    def _jobs_follow(self, source: str) -> str:
        """After ``_end_runs(source)``: the jobs of the runs ended follow them."""
        return self.update_from(
            self.job,
            f"{source} JOIN {self.run} AS r ON r.id = v.id",
            "t.id = r.job_id AND r.status = v.status "
            "AND (t.last_run_at = r.scheduled_for OR v.succeeded_at IS NOT NULL)",
            self._follow_ended("r.scheduled_for", "v.status", "v.succeeded_at"),
        )

    @staticmethod
    def _follow_ended(scheduled_for: str, status: str, succeeded_at: str) -> dict[str, str]:
        """The assignments that make a job follow a run that ended: its status if the
        run is its newest, the time of a success. One UPDATE, so each job row is
        written once."""
        return {
            "last_status": f"CASE WHEN t.last_run_at = {scheduled_for} THEN {status} "
            "ELSE t.last_status END",
            "last_success_at": f"CASE WHEN {succeeded_at} IS NOT NULL AND (t.last_success_at "
            f"IS NULL OR t.last_success_at < {succeeded_at}) THEN {succeeded_at} "
            "ELSE t.last_success_at END",
        }

    def _end_runs(self, source: str) -> str:
        return self.update_from(
            self.run,
            source,
            "t.id = v.id AND t.status = v.was AND (v.held_by = '' OR t.worker = v.held_by)",
            {
                "status": "v.status",
                "started_at": "COALESCE(v.started_at, t.started_at)",
                "finished_at": "v.finished_at",
                "result": "v.result",
                "error": "v.error",
            },
        )

    def start_run(
        self, run_id: int, held_by: str, now: datetime, *, worker: str = "", engine_id: str = ""
    ) -> bool:
        """Mark a claimed run running, if it is still waiting, held by ``held_by``; the
        ``worker`` that starts it (if another) holds it from now on. The one way a run
        starts after its claim: a message delivered twice starts it once, and one whose
        run someone asked to cancel never starts."""
        return bool(self.start_runs([run_id], held_by, now, worker=worker, engine_id=engine_id))

    def start_runs(
        self,
        run_ids: Sequence[int],
        held_by: str,
        now: datetime,
        *,
        worker: str = "",
        engine_id: str = "",
    ) -> set[int]:
        """``start_run()`` for the runs of one message, in one statement; returns the
        ids of those started."""
        marks, ids = self.id_list(run_ids)
        update = (
            f"UPDATE {self.run} SET status = %s, started_at = %s, worker = %s, "
            "engine_id = %s, queued_at = COALESCE(queued_at, %s) "
            f"WHERE id IN ({marks}) AND status = %s AND worker = %s "
            "AND cancel_requested_at IS NULL"
        )
        params = [RUNNING, now, worker or held_by, engine_id, now, *ids, SCHEDULED, held_by]
        return self._started(update, params, run_ids, held_by)

    def _started(
        self, update: str, params: list[Any], run_ids: Sequence[int], held_by: str
    ) -> set[int]:
        """Run ``start_runs()``'s ``update`` of ``run_ids``; the ids of the runs it started."""
        return {pk for (pk,) in self.execute(f"{update} RETURNING id", params).rows}

    def touch_last_run(self, job_id: int, scheduled_for: datetime, status: str) -> None:
        """The newest run speaks for its job in list views."""
        self.execute(
            f"UPDATE {self.job} SET last_run_at = %s, last_status = %s "
            "WHERE id = %s AND (last_run_at IS NULL OR last_run_at <= %s)",
            [scheduled_for, status, job_id, scheduled_for],
        )

    # -- retention -------------------------------------------------------------------

    prune_batch = 1000  # rows one pruning statement deletes at most: a short transaction
    prune_lock = ""  # appended to the pruning statement's SELECT

    def older_than(self, status: str, before: datetime) -> Where:
        """Runs in ``status`` scheduled before ``before``: a range of the (status,
        scheduled_for) index."""
        return Where("status = %s AND scheduled_for < %s", (status, before))

    def up_to(self, job_id: int, at: datetime, attempt: int) -> Where:
        """The finished runs of job ``job_id`` up to and including the run (``at``,
        ``attempt``): a range of the unique key (job, scheduled_for, attempt)."""
        return Where(
            "job_id = %s AND (scheduled_for < %s OR (scheduled_for = %s AND attempt <= %s)) "
            "AND status NOT IN (%s, %s)",
            (job_id, at, at, attempt, SCHEDULED, RUNNING),
        )

    def delete_runs(self, where: Where) -> tuple[int, datetime | None]:
        """Delete at most ``prune_batch`` of the runs ``where`` selects, oldest first, and
        their output, in one transaction; returns how many runs, and the newest
        scheduled_for among them. (SQLite: writers take turns, so both statements select
        the same runs.)"""
        doomed = (
            f"SELECT id FROM {self.run} WHERE {where.sql} "
            f"ORDER BY scheduled_for LIMIT {self.prune_batch}{self.prune_lock}"
        )
        with transaction.atomic(using=self.alias):
            self.execute(f"DELETE FROM {self.output} WHERE run_id IN ({doomed})", where.params)
            for link in RUN_LINKS:
                self.execute(self._unlink(link, doomed), [*where.params, *where.params])
            sql = f"DELETE FROM {self.run} WHERE id IN ({doomed}) RETURNING scheduled_for"
            return self._deleted(self.execute(sql, where.params).rows)

    def _unlink(self, link: str, doomed: str) -> str:
        """The runs that name one of the ``doomed`` runs in ``link`` (the run they repeat,
        or run after), and stay, forget it (what the link's SET_NULL does for the ORM's
        deletes). Where foreign keys are checked at the commit (PostgreSQL, SQLite), the
        doomed ones are left as they are."""
        return (
            f"UPDATE {self.run} SET {link} = NULL WHERE {link} IN ({doomed}) "
            f"AND id NOT IN ({doomed})"
        )

    @staticmethod
    def _deleted(rows: list[tuple[Any, ...]]) -> tuple[int, datetime | None]:
        return len(rows), max((aware(at) for (at,) in rows), default=None)

    def count_runs(self, where: Where) -> int:
        sql = f"SELECT COUNT(*) FROM {self.run} WHERE {where.sql}"
        return int(self.execute(sql, where.params).rows[0][0])

    def beyond_last(self, keep: int) -> list[tuple[int, datetime, int]]:
        """For each job with more than ``keep`` runs, the newest run that is not among its
        last ``keep``: (job id, scheduled_for, attempt). Costs a walk of ``keep`` entries
        of the unique key per job."""
        sql = (
            f"SELECT r.job_id, r.scheduled_for, r.attempt FROM (SELECT (SELECT x.id FROM "
            f"{self.run} AS x WHERE x.job_id = j.id ORDER BY x.scheduled_for DESC, x.attempt "
            f"DESC LIMIT 1 OFFSET {int(keep)}) AS id FROM {self.job} AS j) AS c "
            f"JOIN {self.run} AS r ON r.id = c.id"
        )
        return [(job_id, aware(at), attempt) for job_id, at, attempt in self.execute(sql).rows]

    # -- building blocks -------------------------------------------------------------

    def quote(self, name: str) -> str:
        return str(connections[self.alias].ops.quote_name(name))

    def values(self, row_type: type[Row], rows: Sequence[Row]) -> tuple[str, list[Any]]:
        """``rows`` as a derived table ``v`` with ``row_type``'s columns, and its
        parameters: what the batch statements join their tables to.

        Django's bulk_update() builds CASE expressions whose compilation alone cost ~3 ms
        a row here.
        """
        cols = columns(row_type)
        aliases = ", ".join(
            f"column{n} AS {self.quote(name)}" for n, (name, _) in enumerate(cols, 1)
        )
        row = "(" + ", ".join(["%s"] * len(cols)) + ")"
        params = [value for row_values in rows for value in row_values]
        return f"(SELECT {aliases} FROM (VALUES {', '.join([row] * len(rows))})) AS v", params

    def update_from(self, table: str, source: str, on: str, assignments: dict[str, str]) -> str:
        """``UPDATE table AS t`` joined to ``source`` (a values table, maybe joined on)."""
        sets = ", ".join(f"{column} = {value}" for column, value in assignments.items())
        return f"UPDATE {table} AS t SET {sets} FROM {source} WHERE {on}"


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
