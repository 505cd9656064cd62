"""The database's clock and connection hygiene for tablecron's long-lived threads.

The SQL tablecron writes itself is in ``tablecron.sql``.
"""

from __future__ import annotations

import time
from datetime import datetime

from django.db import connections

from tablecron.conf import settings
from tablecron.sql import aware, statements

__all__ = ["aware", "close_all_connections", "close_old_connections", "db_now"]


def db_now(using: str | None = None) -> datetime:
    """The current time on the database server, as an aware UTC datetime.

    Every scheduler on every host agrees on it, whatever their own clocks say.
    """
    return statements(using).now()


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
