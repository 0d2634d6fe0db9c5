"""Configuration of the job service: one ``Settings``, read from ``OQTANT_*`` variables.

No configuration file is needed: every field has a default suited to a single
machine (a SQLite file in the user's data directory, loopback only, one worker
process). Any field can be overridden by an environment variable with the
``OQTANT_`` prefix (``OQTANT_DATABASE_URL``, ``OQTANT_WORKERS``, ...) or by a
command-line flag of ``oqtant serve``.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
from pathlib import Path
from typing import Literal

import platformdirs
from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from oqtant.backend import DEFAULT_BACKEND

__all__ = ["Settings", "default_data_dir"]

SECRET_FILE_NAME = "secret_key"
DATABASE_FILE_NAME = "oqtant.db"


IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def _networks(text: str) -> tuple[IPNetwork, ...]:
    """The comma-separated addresses or CIDR networks of ``text`` (blank: none)."""
    networks = []
    for entry in (e.strip() for e in text.split(",")):
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            raise ValueError(
                f"trusted_proxies: {entry!r} is not an IP address or CIDR network "
                "(e.g. 10.0.0.5, 10.0.0.0/8, ::1)"
            ) from None
    return tuple(networks)


def default_data_dir() -> Path:
    """Where the service keeps its database and secret key by default."""
    return Path(platformdirs.user_data_dir("oqtant"))


class Settings(BaseSettings):
    """Everything the service needs to start; environment variables ``OQTANT_<FIELD>``."""

    model_config = SettingsConfigDict(env_prefix="OQTANT_", extra="ignore")

    data_dir: Path = Field(default_factory=default_data_dir)
    database_url: str | None = None
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    secret_key: str | None = None
    token_ttl_minutes: int = Field(default=7 * 24 * 60, ge=1)
    workers: int = Field(default=1, ge=0)
    executor: Literal["process", "thread"] = "process"
    backend: str = DEFAULT_BACKEND
    sim_backend: str = "oqtant.server.queue.sim:SimulatorBackend"
    lease_seconds: float = Field(default=60.0, gt=0)
    poll_seconds: float = Field(default=0.25, gt=0)
    max_attempts: int = Field(default=3, ge=1)
    run_timeout_seconds: float = Field(default=900.0, gt=0)
    # the workers draw a stored run's console figures in slots no waiting run needs and
    # store them with it (else the console draws each when it is first asked for)
    figures_at_completion: bool = True
    shutdown_grace_seconds: float = Field(default=30.0, ge=0)
    # how long a SQLite write waits for the write lock before the request gets 503
    write_lock_timeout_seconds: float = Field(default=30.0, gt=0)
    max_body_bytes: int = Field(default=4 * 1024 * 1024, ge=1024)
    default_daily_limit: int = Field(default=100, ge=0)
    default_max_runs_per_job: int = Field(default=30, ge=1, le=30)
    default_max_pending_jobs: int = Field(default=20, ge=0)
    default_sim_daily_limit: int = Field(default=100, ge=0)
    default_sim_max_pending_jobs: int = Field(default=5, ge=0)
    # the shortest password `oqtant user add` and `oqtant user password` accept
    min_password_length: int = Field(default=8, ge=1)
    login_max_failures: int = Field(default=10, ge=1)
    login_window_seconds: float = Field(default=300.0, gt=0)
    login_max_delay_seconds: float = Field(default=60.0, gt=0)
    trusted_proxies: str = ""
    forwarded_header: Literal["x-forwarded-for", "forwarded"] = "x-forwarded-for"
    # a database server (PostgreSQL) that hangs: bounded waits, then 503
    db_connect_timeout_seconds: int = Field(default=5, ge=1)
    db_statement_timeout_seconds: float = Field(default=15.0, ge=0)
    db_lock_timeout_seconds: float = Field(default=5.0, ge=0)
    db_idle_in_transaction_timeout_seconds: float = Field(default=60.0, ge=0)
    db_read_timeout_seconds: float = Field(default=20.0, ge=0)
    db_pool_timeout_seconds: float = Field(default=10.0, gt=0)
    db_keepalive_seconds: int = Field(default=10, ge=1)

    @field_validator("database_url")
    @classmethod
    def _no_blank_url(cls, v: str | None) -> str | None:
        return v or None

    @field_validator("trusted_proxies")
    @classmethod
    def _proxy_networks(cls, v: str) -> str:
        _networks(v)  # raises ValueError naming the bad entry
        return v

    @property
    def trusted_proxy_networks(self) -> tuple[IPNetwork, ...]:
        """The networks of ``trusted_proxies``: peers whose forwarded-for header is believed."""
        return _networks(self.trusted_proxies)

    @model_validator(mode="after")
    def _answer_outlasts_statements(self) -> Settings:
        read, statement = self.db_read_timeout_seconds, self.db_statement_timeout_seconds
        if read and (not statement or read <= statement):
            raise ValueError(
                "db_read_timeout_seconds must be longer than db_statement_timeout_seconds "
                f"(got {read:g} and {statement:g}; 0 turns both off): the server's own "
                "statement timeout should end a slow statement before the client gives up"
            )
        return self

    @property
    def resolved_database_url(self) -> str:
        """The database URL; a SQLite file in ``data_dir`` when none is configured."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / DATABASE_FILE_NAME}"

    @property
    def is_sqlite(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")

    def ensure_data_dir(self) -> Path:
        """Create the data directory (mode 0700) if it is missing."""
        self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        return self.data_dir

    def resolved_secret_key(self) -> str:
        """The token-signing key: configured, or read from (or created in) the data directory.

        A generated key is stored in ``data_dir/secret_key`` with mode 0600, so
        tokens stay valid across restarts.
        """
        if self.secret_key:
            return self.secret_key
        path = self.ensure_data_dir() / SECRET_FILE_NAME
        if not path.exists():
            key = secrets.token_urlsafe(48)
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:  # another process created it first: use theirs
                pass
            else:
                with os.fdopen(fd, "w") as f:
                    f.write(key)
        key = path.read_text().strip()
        if not key:
            raise ValueError(f"secret key file {path} is empty; delete it to generate a new one")
        self.secret_key = key
        return key
