"""Tables of the job service (SQLAlchemy 2 declarative; portable to SQLite and PostgreSQL).

The ``jobs`` and ``runs`` tables are the queue of record: a job's integer id
grows with submission, so ordering runs by ``(job_id, run)`` is FIFO order.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, deferred, mapped_column
from sqlalchemy.types import TypeDecorator

from oqtant.server.db import clock

__all__ = [
    "ACTIVE_STATUSES",
    "Base",
    "IdempotencyKey",
    "Job",
    "LoginAttempts",
    "OAuthCode",
    "RevokedToken",
    "RunFigure",
    "TERMINAL_STATUSES",
    "Run",
    "User",
    "UtcDateTime",
    "utcnow",
]

#: a job or run in these states is still in the queue (waiting or being executed)
ACTIVE_STATUSES = frozenset({"PENDING", "RUNNING"})
#: a job in these states is finished: nothing of it runs any more
TERMINAL_STATUSES = frozenset({"COMPLETE", "FAILED", "CANCELLED", "INCOMPLETE"})


def utcnow() -> datetime:
    """The current time of the service's clock (:mod:`oqtant.server.db.clock`), UTC."""
    return clock.now()


class UtcDateTime(TypeDecorator):
    """A timestamp stored as UTC and always returned timezone-aware (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    pass


class User(Base):
    """An account: name, argon2 password hash, admin flag and quotas."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    external_id: Mapped[str] = mapped_column(String(36), unique=True, index=True)
    name: Mapped[str] = mapped_column(String(100), unique=True, index=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    daily_limit: Mapped[int] = mapped_column(Integer)
    max_runs_per_job: Mapped[int] = mapped_column(Integer)
    max_pending_jobs: Mapped[int] = mapped_column(Integer)
    # simulator jobs per UTC day and at once (server defaults: see migration 0004)
    sim_daily_limit: Mapped[int] = mapped_column(Integer, server_default="100")
    sim_max_pending_jobs: Mapped[int] = mapped_column(Integer, server_default="5")
    # when a run of this user was last claimed: whose turn it is (crud.claim_next_run)
    last_claim_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    # a disabled account cannot log in and its tokens are refused
    disabled: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # tokens carry the generation they were issued in; revoking them bumps it
    token_generation: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class Job(Base):
    """A submitted job; its runs are rows of ``runs``."""

    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    external_id: Mapped[str] = mapped_column(String(36), unique=True, index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    job_type: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), default="PENDING")
    sim: Mapped[bool] = mapped_column(Boolean, default=False)
    input_count: Mapped[int] = mapped_column(Integer)
    notes: Mapped[str | None] = mapped_column(Text, nullable=True)
    time_submit: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    time_start: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    time_complete: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    failure_reason: Mapped[str | None] = mapped_column(Text, nullable=True)

    __table_args__ = (
        Index("ix_jobs_user_id_deleted_id", "user_id", "deleted", "id"),
        Index("ix_jobs_user_id_time_submit_sim", "user_id", "time_submit", "sim"),
        Index("ix_jobs_user_id_status_sim", "user_id", "status", "sim"),
        Index("ix_jobs_status_id", "status", "id", "input_count"),
    )


class Run(Base):
    """One run of a job: its input, lease while running, and output when done."""

    __tablename__ = "runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    run: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20), default="PENDING")
    values_json: Mapped[str] = mapped_column(Text)
    notes: Mapped[str | None] = mapped_column(Text, nullable=True)
    seed: Mapped[int] = mapped_column(Integer)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_owner: Mapped[str | None] = mapped_column(String(64), nullable=True)
    lease_expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    time_start: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    time_complete: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    duration_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    output_json: Mapped[str | None] = deferred(mapped_column(Text, nullable=True))
    # see summaries.output_summary
    summary_json: Mapped[str | None] = mapped_column(Text, nullable=True)
    raw_images_json: Mapped[str | None] = deferred(mapped_column(Text, nullable=True))

    __table_args__ = (
        UniqueConstraint("job_id", "run", name="uq_runs_job_id_run"),
        Index("ix_runs_status_job_id_run", "status", "job_id", "run"),
        Index("ix_runs_time_complete", "time_complete"),
    )


class RunFigure(Base):
    """One figure of a run (PNG), drawn by its worker as it completed or by the console later.

    ``kind``: an output figure (``tof``, ``fit``, ``slice_x``, ``slice_y``, ``it``), an
    input figure (``rf``, ``potential``, ``barriers``, ``lasers``) or ``thumb`` (the
    job list's small image). A run's figures never change once it is done.
    """

    __tablename__ = "run_figures"

    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    run: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), primary_key=True)
    png: Mapped[bytes] = mapped_column(LargeBinary)


class IdempotencyKey(Base):
    """The answer given to a submit with an ``Idempotency-Key``, replayed on retries."""

    __tablename__ = "idempotency_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(100))
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    response_json: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    __table_args__ = (UniqueConstraint("user_id", "key", name="uq_idempotency_user_key"),)


class OAuthCode(Base):
    """A single-use OAuth2 authorization code (stored as its SHA-256), bound to a PKCE challenge."""

    __tablename__ = "oauth_codes"

    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    client_id: Mapped[str] = mapped_column(String(200))
    redirect_uri: Mapped[str] = mapped_column(Text)
    code_challenge: Mapped[str] = mapped_column(String(200))
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    used: Mapped[bool] = mapped_column(Boolean, default=False)


class LoginAttempts(Base):
    """Failed logins of one key (``user:NAME`` or ``ip:ADDRESS``), for the login limiter.

    ``failures`` counts attempts reserved and not refunded by a correct password;
    a key is forgotten once its last failure is old enough (see
    :mod:`oqtant.server.auth.ratelimit`).
    """

    __tablename__ = "login_attempts"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_failure_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)


class RevokedToken(Base):
    """A console session ended by logging out: its token id is refused until it expires."""

    __tablename__ = "revoked_tokens"

    token_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
