"""Query expressions the ORM lacks, each in its vendors' SQL: for aggregating many runs.

Django computes a difference of datetimes on SQLite, and truncates them there, in Python
functions called once per row, which costs seconds over a day of runs; these stay in
the database's own arithmetic everywhere.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import DateTimeField, F, FloatField, Func, IntegerField, Value
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


class WholeHoursSince(Func):
    """Whole hours from ``start`` (a datetime) to a datetime column: one built-in call per
    row where the database has one, cheaper than arithmetic on epoch seconds."""

    output_field = IntegerField()

    def __init__(self, column: str, start: datetime) -> None:
        super().__init__(Value(start, output_field=DateTimeField()), F(column))

    def as_postgresql(
        self, compiler: SQLCompiler, connection: BaseDatabaseWrapper, **extra: Any
    ) -> Any:
        template = "FLOOR(EXTRACT(EPOCH FROM -(%(expressions)s)) / 3600)"  # column - start
        return self.as_sql(compiler, connection, template=template, arg_joiner=" - ")

    def as_mysql(self, compiler: SQLCompiler, connection: BaseDatabaseWrapper, **extra: Any) -> Any:
        return self.as_sql(compiler, connection, template="TIMESTAMPDIFF(HOUR, %(expressions)s)")

    def as_sqlite(
        self, compiler: SQLCompiler, connection: BaseDatabaseWrapper, **extra: Any
    ) -> Any:
        template = "CAST((julianday(%(expressions)s)) * -24 AS INTEGER)"  # column - start
        return self.as_sql(compiler, connection, template=template, arg_joiner=") - julianday(")
