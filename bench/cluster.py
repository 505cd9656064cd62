"""A PostgreSQL cluster of the bench's own (initdb in a temporary directory), which it may
stop, crash and start again without touching the shared server on 5432.

Run as root (as bench/chaos.py and bench/partition.py are): the server runs as the
``postgres`` user; the data directory is deleted on the way out.
"""

from __future__ import annotations

import contextlib
import glob
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg

BIN = Path(sorted(glob.glob("/usr/lib/postgresql/*/bin"))[-1])
SETTINGS = {
    "max_connections": "300",
    "fsync": "off",  # a crash here is the server process's, never the machine's
    "log_min_messages": "warning",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def as_postgres(*args: str) -> None:
    subprocess.run(
        ["runuser", "-u", "postgres", "--", *args],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )


class Cluster:
    """``start()``, ``stop()`` (``mode`` "immediate" is a crash), ``remove()``. Listens on
    ``addresses`` (127.0.0.1 and any other; trust for ``trusted``, a CIDR) on a free port."""

    def __init__(self, addresses: tuple[str, ...] = ("127.0.0.1",), trusted: str = "") -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="tablecron-pg-"))
        self.data = self.directory / "data"
        self.port = free_port()
        self.addresses = addresses
        shutil.chown(self.directory, "postgres")
        as_postgres(str(BIN / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres",
                    "--no-sync")  # fmt: skip
        if trusted:
            with open(self.data / "pg_hba.conf", "a") as hba:
                hba.write(f"host all all {trusted} trust\n")

    def start(self) -> None:
        options = " ".join(f"-c {name}={value}" for name, value in SETTINGS.items())
        options += f" -c listen_addresses={','.join(self.addresses)} -p {self.port}"
        options += f" -k {self.directory}"
        as_postgres(str(BIN / "pg_ctl"), "-D", str(self.data), "-o", options, "-w",
                    "-l", str(self.directory / "server.log"), "start")  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        as_postgres(str(BIN / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def remove(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):  # not running
            self.stop("immediate")
        shutil.rmtree(self.directory, ignore_errors=True)

    def connect(self, dbname: str = "postgres") -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(
            host="127.0.0.1", port=self.port, user="postgres", dbname=dbname, autocommit=True
        )

    def create_database(self, name: str) -> None:
        with self.connect() as conn:
            conn.execute(f'CREATE DATABASE "{name}"')

    def terminate_backends(self, dbname: str) -> int:
        """``pg_terminate_backend`` every other session on ``dbname``; returns how many."""
        with self.connect() as conn:
            rows = conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                [dbname],
            ).fetchall()
        return len(rows)

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with self.connect():
                    return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def env(self, address: str = "127.0.0.1") -> dict[str, str]:
        """The environment by which tests/settings.py reaches this cluster."""
        return {"PGHOST": address, "PGPORT": str(self.port), "PGUSER": "postgres"}
