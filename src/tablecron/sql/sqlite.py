"""SQLite: no row locks (writers take turns), text timestamps."""

from tablecron.sql.base import Statements


class SQLiteStatements(Statements):
    now_sql = "strftime('%%Y-%%m-%%d %%H:%%M:%%f', 'now')"
    # "WHERE true" tells SQLite's parser that ON CONFLICT is not a join's ON.
    insert_ignoring = "INSERT INTO {table} ({columns}) {select} WHERE true ON CONFLICT DO NOTHING"
