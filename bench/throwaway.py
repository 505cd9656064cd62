"""A throwaway database for a bench, beside the tests' (Django must be set up first)."""

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection


@contextmanager
def throwaway_database(name: str) -> Iterator[str]:
    """Creates the database ``name``_<pid> (on SQLite a file of that name in the temporary
    directory), migrated, for the default connection; drops it afterwards. The process id
    keeps two runs at once (a bench by hand, the test suite's) from dropping each other's."""
    name = f"{name}_{os.getpid()}"
    if connection.vendor == "sqlite":
        name = os.path.join(tempfile.gettempdir(), f"{name}.sqlite3")
    connection.settings_dict["TEST"]["NAME"] = name
    created = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        yield created
    finally:
        connection.creation.destroy_test_db(created, verbosity=0)
