"""MySQL/MariaDB: SKIP LOCKED, no UPDATE … FROM, and an immediate deadlock check."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.db import transaction

from tablecron.sql.base import SCHEDULED, Statements, Where, aware
from tablecron.sql.constants import RUN_LINKS
from tablecron.sql.rows import Finished, Row, columns

CASTS = {
    "int": "%s",
    "bool": "%s",
    "text": "%s",
    "time": "CAST(%s AS DATETIME(6))",
    "json": "%s",
}


class MySQLStatements(Statements):
    skip_locked = True
    now_sql = "UTC_TIMESTAMP(6)"
    time_param = CASTS["time"]
    # RETURNING after it needs MariaDB (10.5+): MySQL has no INSERT … RETURNING.
    insert_ignoring = "INSERT IGNORE INTO {table} ({columns}) {select}"

    def delete_runs(self, where: Where) -> tuple[int, datetime | None]:
        """MySQL cannot delete from a table that a subquery reads, but deletes with a
        limit (RETURNING: MariaDB). Without ORDER BY: with it, MariaDB read and sorted
        the whole range for every batch; without, it reads the range's index in order
        and stops at the limit. The runs are locked first, and their output goes
        before them (InnoDB checks foreign keys at once)."""
        with transaction.atomic(using=self.alias):
            ids = [
                pk
                for (pk,) in self.execute(
                    f"SELECT id FROM {self.run} WHERE {where.sql} LIMIT {self.prune_batch} "
                    "FOR UPDATE SKIP LOCKED",
                    where.params,
                ).rows
            ]
            if not ids:
                return 0, None
            marks = ", ".join(["%s"] * len(ids))
            self.execute(f"DELETE FROM {self.output} WHERE run_id IN ({marks})", ids)
            # InnoDB checks each deleted row at once: doomed runs that repeat doomed
            # runs, or ran after them, let go too.
            for link in RUN_LINKS:
                self.execute(f"UPDATE {self.run} SET {link} = NULL WHERE {link} IN ({marks})", ids)
            sql = f"DELETE FROM {self.run} WHERE id IN ({marks}) RETURNING scheduled_for"
            return self._deleted(self.execute(sql, ids).rows)

    def writable(self, rows: Sequence[tuple[int, int | None]]) -> set[int]:
        """Those whose run and job rows it could lock first with SKIP LOCKED: InnoDB's
        deadlock check is immediate, so a batch must not wait at all."""
        runs = self.lock_free(self.run, [run_id for run_id, _ in rows])
        jobs = self.lock_free(self.job, [job_id for run_id, job_id in rows if run_id in runs])
        return {run_id for run_id, job_id in rows if run_id in runs and job_id in jobs}

    def finish_runs(self, rows: Sequence[Finished]) -> set[int]:
        """MariaDB has no UPDATE … RETURNING: when fewer runs were ended than written (some
        ended meanwhile elsewhere), those that now say what the rows say were ended here."""
        if not rows:
            return set()
        source, params = self.values(Finished, rows)
        count = self.execute(self._end_runs(source), params).matched
        self.execute(self._jobs_follow(source), params)
        if count == len(rows):
            return {row.id for row in rows}
        marks = ", ".join(["%s"] * len(rows))
        now = self.execute(
            f"SELECT id, status, finished_at FROM {self.run} WHERE id IN ({marks})",
            [row.id for row in rows],
        ).rows
        wanted = {(row.id, row.status, row.finished_at) for row in rows}
        return {pk for pk, status, at in now if (pk, status, aware(at)) in wanted}

    def _started(
        self, update: str, params: list[Any], run_ids: Sequence[int], held_by: str
    ) -> set[int]:
        """MariaDB has no UPDATE … RETURNING: one run is started if the update matched it;
        several are read and locked first, and the update starts those found waiting."""
        if len(run_ids) == 1:
            return set(run_ids) if self.execute(update, params).matched else set()
        with transaction.atomic(using=self.alias):
            marks, ids = self.id_list(run_ids)
            waiting = self.execute(
                f"SELECT id FROM {self.run} WHERE id IN ({marks}) AND status = %s "
                "AND worker = %s AND cancel_requested_at IS NULL FOR UPDATE",
                [*ids, SCHEDULED, held_by],
            ).rows
            if waiting:
                self.execute(update, params)
        return {pk for (pk,) in waiting}

    def values(self, row_type: type[Row], rows: Sequence[Row]) -> tuple[str, list[Any]]:
        cols = columns(row_type)
        first = ", ".join(f"{CASTS[kind]} AS {self.quote(name)}" for name, kind in cols)
        rest = ", ".join(CASTS[kind] for _, kind in cols)
        selects = " UNION ALL ".join([f"SELECT {first}"] + [f"SELECT {rest}"] * (len(rows) - 1))
        return f"({selects}) AS v", [value for row in rows for value in row]

    def update_from(self, table: str, source: str, on: str, assignments: dict[str, str]) -> str:
        """MySQL has no UPDATE … FROM: its multi-table UPDATE is driven from the values
        rows (STRAIGHT_JOIN), so InnoDB reaches each target row by primary key. Left to
        itself it could scan a small table, locking rows that other schedulers hold, and
        deadlock."""
        sets = ", ".join(f"t.{column} = {value}" for column, value in assignments.items())
        source = source.replace(" JOIN ", " STRAIGHT_JOIN ")
        return f"UPDATE {source} STRAIGHT_JOIN {table} AS t ON {on} SET {sets}"
