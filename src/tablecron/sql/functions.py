"""Query expressions the ORM lacks, each in its vendors' SQL: for aggregating many runs.

Django computes a difference of datetimes on SQLite, and truncates them there, in Python
functions called once per row, which costs seconds over a day of runs; these stay in
the database's own arithmetic everywhere.
"""

from __future__ import annotations

from typing import Any

from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import F, FloatField, Func
from django.db.models.sql.compiler import SQLCompiler


class EpochSeconds(Func):
    """Seconds since 1970-01-01 UTC of a datetime column, as a float."""

    output_field = FloatField()
    arity = 1

    def as_postgresql(
        self, compiler: SQLCompiler, connection: BaseDatabaseWrapper, **extra: Any
    ) -> Any:
        return self.as_sql(compiler, connection, template="EXTRACT(EPOCH FROM %(expressions)s)")

    def as_mysql(self, compiler: SQLCompiler, connection: BaseDatabaseWrapper, **extra: Any) -> Any:
        # Django stores UTC in DATETIME columns: a difference needs no time zone tables.
        template = "TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', %(expressions)s) / 1e6"
        return self.as_sql(compiler, connection, template=template)

    def as_sqlite(
        self, compiler: SQLCompiler, connection: BaseDatabaseWrapper, **extra: Any
    ) -> Any:
        template = "((julianday(%(expressions)s) - 2440587.5) * 86400.0)"
        return self.as_sql(compiler, connection, template=template)


def seconds_between(start: str, end: str) -> Any:
    """``end - start`` in seconds, of two datetime columns."""
    return EpochSeconds(F(end)) - EpochSeconds(F(start))
