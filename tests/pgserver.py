"""A throwaway PostgreSQL server for tests: its own cluster in a temporary folder.

``PostgresServer`` runs ``initdb`` in a fresh temporary folder, starts the
cluster with ``pg_ctl`` on a free loopback port (no Unix socket outside that
folder, trust authentication for loopback only) and removes everything on
``stop()``. Nothing is shared between test runs. When the tests run as root the
cluster runs as the ``postgres`` system user (``initdb`` refuses root).

    with PostgresServer() as pg:
        url = pg.create_database("mydb")   # postgresql+psycopg://postgres@127.0.0.1:PORT/mydb
"""

from __future__ import annotations

import atexit
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import Self

__all__ = ["PostgresNotInstalled", "PostgresServer", "find_pg_bin"]

SUPERUSER = "postgres"


class PostgresNotInstalled(RuntimeError):
    """initdb / pg_ctl were not found."""


def find_pg_bin() -> Path:
    """The folder of ``initdb`` and ``pg_ctl``: on PATH, else the newest /usr/lib/postgresql/*/bin."""
    initdb = shutil.which("initdb")
    if initdb and shutil.which("pg_ctl"):
        return Path(initdb).resolve().parent
    for folder in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if os.access(f"{folder}/initdb", os.X_OK) and os.access(f"{folder}/pg_ctl", os.X_OK):
            return Path(folder)
    raise PostgresNotInstalled(
        "PostgreSQL's initdb/pg_ctl were not found: run `bash scripts/ensure_postgres.sh`"
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PostgresServer:
    """A PostgreSQL cluster of our own on 127.0.0.1, removed on stop.

    Args:
        settings: extra ``postgresql.conf`` settings (name -> value).
        start_timeout_s: how long to wait for the server to accept connections.
    """

    def __init__(self, settings: dict[str, str] | None = None, *, start_timeout_s: float = 60.0):
        self.bin = find_pg_bin()
        self.settings = {
            # durability is not what a test needs: fast commits
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "max_connections": "300",
            "shared_buffers": "64MB",
            **(settings or {}),
        }
        self.start_timeout_s = start_timeout_s
        self.folder: Path | None = None
        self.port = 0
        self._started = False
        self._as_user = os.geteuid() == 0

    # ---- paths and commands

    @property
    def data_dir(self) -> Path:
        assert self.folder is not None
        return self.folder / "data"

    @property
    def log_file(self) -> Path:
        assert self.folder is not None
        return self.folder / "server.log"

    def _run(self, *args: str, timeout_s: float = 120) -> subprocess.CompletedProcess:
        command = [str(a) for a in args]
        if self._as_user:
            command = ["runuser", "-u", SUPERUSER, "--", *command]
        done = subprocess.run(
            command, check=False, capture_output=True, text=True, timeout=timeout_s
        )
        if done.returncode != 0:
            raise RuntimeError(
                f"{' '.join(command)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
            )
        return done

    # ---- lifecycle

    def start(self) -> PostgresServer:
        """Create the cluster, start it and wait until it accepts connections."""
        self.folder = Path(tempfile.mkdtemp(prefix="oqtant-pg-"))
        if self._as_user:
            entry = pwd.getpwnam(SUPERUSER)
            os.chown(self.folder, entry.pw_uid, entry.pw_gid)
        self.folder.chmod(0o700)
        atexit.register(self.stop)
        self._run(
            self.bin / "initdb",
            "-D",
            self.data_dir,
            "-U",
            SUPERUSER,
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        )
        self.port = _free_port()
        options = [
            "-c listen_addresses=127.0.0.1",
            f"-c port={self.port}",
            f"-c unix_socket_directories={self.folder}",
            *(f"-c {k}={v}" for k, v in self.settings.items()),
        ]
        self._run(
            self.bin / "pg_ctl",
            "-D",
            self.data_dir,
            "-l",
            self.log_file,
            "-o",
            " ".join(options),
            "-w",
            "-t",
            str(int(self.start_timeout_s)),
            "start",
        )
        self._started = True
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        import psycopg

        deadline = time.monotonic() + self.start_timeout_s
        while True:
            try:
                with psycopg.connect(self.dsn("postgres"), connect_timeout=2):
                    return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        "PostgreSQL did not accept connections:\n" + self.log_tail()
                    ) from None
                time.sleep(0.1)

    def stop(self) -> None:
        """Stop the server (fast shutdown) and remove its folder."""
        if self.folder is None:
            return
        if self._started:
            try:
                self._run(
                    self.bin / "pg_ctl",
                    "-D",
                    self.data_dir,
                    "-m",
                    "immediate",
                    "-w",
                    "stop",
                    timeout_s=60,
                )
            except (RuntimeError, subprocess.TimeoutExpired):
                pass
            self._started = False
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- databases

    def dsn(self, database: str = "postgres") -> str:
        """A libpq connection string (for psycopg)."""
        return f"host=127.0.0.1 port={self.port} user={SUPERUSER} dbname={database}"

    def url(self, database: str = "postgres") -> str:
        """A SQLAlchemy URL for ``database`` (psycopg 3 driver)."""
        return f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str | None = None) -> str:
        """Create a fresh, empty database; returns its SQLAlchemy URL."""
        import psycopg

        name = name or f"db_{uuid.uuid4().hex[:12]}"
        if not name.replace("_", "").isalnum():
            raise ValueError(f"database name must be letters, digits and _: {name!r}")
        with psycopg.connect(self.dsn("postgres"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """Drop a database, disconnecting whoever still uses it."""
        import psycopg

        with psycopg.connect(self.dsn("postgres"), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def log_tail(self, chars: int = 3000) -> str:
        """The end of the server's log."""
        try:
            return self.log_file.read_text()[-chars:]
        except OSError:
            return "(no log)"
