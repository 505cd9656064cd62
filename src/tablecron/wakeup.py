"""How a scheduler waits between loops: a plain timeout, or, where the database
announces committed changes (PostgreSQL's NOTIFY), until a change may have made
something due."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from django.db import connections

from tablecron.sql import statements

logger = logging.getLogger("tablecron")
SLICE = 0.5  # seconds


class Sleeper:
    """Waits out the timeout; ``stop()`` cuts it short."""

    def __init__(self, stopped: threading.Event) -> None:
        self.stopped = stopped

    @property
    def listening(self) -> bool:
        """Whether every committed change wakes it."""
        return False

    def wait(self, timeout: float) -> None:
        self.stopped.wait(timeout)

    def close(self) -> None:
        pass


class PostgresListener(Sleeper):
    """Waits for a notification on a connection of its own, at most ``timeout``."""

    def __init__(self, stopped: threading.Event, using: str) -> None:
        super().__init__(stopped)
        self.using = using
        self._connection: Any = None

    def wait(self, timeout: float) -> None:
        if timeout <= 0 or self.stopped.is_set():
            return
        deadline = time.monotonic() + timeout
        try:
            if not self.listening:  # changes made before LISTEN went unheard: look now
                self._connect()
                return
            connection = self._connection
            # In slices, so that stop() (from a signal handler) is heeded within one.
            while not self.stopped.is_set() and (left := deadline - time.monotonic()) > 0:
                if list(connection.notifies(timeout=min(left, SLICE), stop_after=1)):
                    return
        except Exception:
            logger.warning("tablecron: LISTEN connection failed; polling instead", exc_info=True)
            self.close()
            self.stopped.wait(timeout)

    @property
    def listening(self) -> bool:
        return self._connection is not None and not self._connection.closed

    def _connect(self) -> Any:
        if not self.listening:
            import psycopg

            wrapper = connections[self.using]
            params = wrapper.get_connection_params()
            params.pop("cursor_factory", None)
            params.pop("context", None)
            params.pop("prepare_threshold", None)
            self._connection = psycopg.connect(**params, autocommit=True)
            self._connection.execute(statements(self.using).listen_sql)
        return self._connection

    def close(self) -> None:
        if self._connection is not None:
            try:
                self._connection.close()
            finally:
                self._connection = None


def waiter_for(stopped: threading.Event) -> Sleeper:
    """How to wait on tablecron's database."""
    sql = statements()
    return PostgresListener(stopped, sql.alias) if sql.notifies else Sleeper(stopped)
