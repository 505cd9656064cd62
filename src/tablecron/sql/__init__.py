"""All the SQL tablecron writes itself, one ``Statements`` object per database.

Most of tablecron goes through the ORM. The hot path (claim, advance, start, finish)
does not: there the ORM's query compilation cost more CPU than the database's work.
``statements()`` chooses the vendor's object once per database alias, as Django's
``connection.ops`` is chosen; code above it asks the object, never ``connection.vendor``.
"""

from __future__ import annotations

from django.db import connections

from tablecron.conf import settings
from tablecron.sql.base import Statements, aware
from tablecron.sql.constants import CLAIMING_SETTING, NOTIFY_CHANNEL

__all__ = ["CLAIMING_SETTING", "NOTIFY_CHANNEL", "Statements", "aware", "statements"]


_chosen: dict[str, Statements] = {}


def statements(alias: str | None = None) -> Statements:
    """The statements for the database ``alias`` (its vendor's subclass), made once; by
    default for tablecron's database, the ``DATABASE`` setting."""
    alias = alias or settings.DATABASE
    if alias not in _chosen:
        _chosen[alias] = _for_vendor(connections[alias].vendor)(alias)
    return _chosen[alias]


def _for_vendor(vendor: str) -> type[Statements]:
    if vendor == "postgresql":
        from tablecron.sql.postgresql import PostgreSQLStatements

        return PostgreSQLStatements
    if vendor == "mysql":
        from tablecron.sql.mysql import MySQLStatements

        return MySQLStatements
    from tablecron.sql.sqlite import SQLiteStatements

    return SQLiteStatements
