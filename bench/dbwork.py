"""What the database does for the schedulers of ``bench/scheduler.py``, per run.

- statements: counted in the scheduler processes themselves (each statement their
  Django cursors execute; commits are not statements here, PostgreSQL counts those),
  written by each to a file under the bench's logs every 0.2 s and when it exits;
- rows written (inserted, updated, deleted) in the bench database's tablecron tables,
  and the index entries those writes added: every inserted row and every update that is
  not HOT adds one entry to each of its table's indexes (``pg_stat_user_tables``),
  partial indexes left out (notifications', whose failed runs and alerted jobs the
  bench's succeeding runs are not);
- WAL bytes (``pg_stat_wal``): the whole server's, so other work on the machine's
  PostgreSQL counts too.

PostgreSQL only; elsewhere only the statements are counted.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from django.db import connection

# Put before the code a scheduler process runs: counts the statements of its threads.
COUNTING = r"""
import atexit, os, threading
from django.db.backends import utils as _utils
_counts = {}
def _counted(original):
    def execute(self, *args, **kwargs):
        me = threading.get_ident()  # each thread writes only its own entry: none lost
        _counts[me] = _counts.get(me, 0) + 1
        return original(self, *args, **kwargs)
    return execute
_utils.CursorWrapper.execute = _counted(_utils.CursorWrapper.execute)
_utils.CursorWrapper.executemany = _counted(_utils.CursorWrapper.executemany)
def _write_counts():
    path = os.environ["TABLECRON_BENCH_STATEMENTS"]
    with open(path + ".tmp", "w") as out:
        out.write(str(sum(_counts.copy().values())))
    os.replace(path + ".tmp", path)
def _keep_writing():
    while True:
        threading.Event().wait(0.2)
        _write_counts()
threading.Thread(target=_keep_writing, daemon=True).start()
atexit.register(_write_counts)
"""

# What a scheduler process runs when it is not profiled: the command, as ``-m django``.
COMMAND = r"""
from django.core.management import execute_from_command_line
execute_from_command_line(["django", "tablecron", "scheduler"])
"""


class Work(NamedTuple):
    statements: int
    rows: int
    index_entries: int
    wal_bytes: int | None

    def __sub__(self, other: object) -> Work:
        assert isinstance(other, Work)
        wal = None
        if self.wal_bytes is not None and other.wal_bytes is not None:
            wal = self.wal_bytes - other.wal_bytes
        return Work(
            self.statements - other.statements,
            self.rows - other.rows,
            self.index_entries - other.index_entries,
            wal,
        )

    def per(self, runs: int) -> str:
        """Per run (a fire): statements, rows, index entries, WAL bytes."""
        n = max(runs, 1)
        wal = "-" if self.wal_bytes is None else f"{self.wal_bytes / n:,.0f}"
        return (
            f"{self.statements / n:.2f} statements, {self.rows / n:.2f} rows and "
            f"{self.index_entries / n:.2f} index entries written, {wal} WAL bytes"
        )


_TABLES = """
SELECT s.n_tup_ins + s.n_tup_upd + s.n_tup_del,
       (s.n_tup_ins + s.n_tup_upd - s.n_tup_hot_upd)
       * (SELECT COUNT(*) FROM pg_index AS i WHERE i.indrelid = s.relid AND i.indpred IS NULL)
FROM pg_stat_user_tables AS s WHERE s.relname LIKE 'tablecron%%'
"""


def statements(logs: Path) -> int:
    """Statements the schedulers whose counts are under ``logs`` executed so far."""
    total = 0
    for path in logs.glob("statements-*.txt"):
        try:
            total += int(path.read_text() or 0)
        except (OSError, ValueError):
            continue
    return total


def snapshot(logs: Path) -> Work:
    """The work so far (call ``commits()`` first: the server's counters lag ~1 s)."""
    counted = statements(logs)
    if connection.vendor != "postgresql":
        return Work(counted, 0, 0, None)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(_TABLES)
        rows = cursor.fetchall()
        cursor.execute("SELECT wal_bytes FROM pg_stat_wal")
        (wal,) = cursor.fetchone()
    return Work(counted, sum(int(r) for r, _ in rows), sum(int(i) for _, i in rows), int(wal))
