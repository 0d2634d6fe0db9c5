"""Every database operation of the service; keyword-only, each takes its ``session``.

Functions that write start their transaction with :func:`begin_write` and
commit before returning, so each is one atomic step.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import and_, bindparam, case, delete, func, insert, or_, select, update
from sqlalchemy.orm import Session, undefer

from oqtant.errors import JobError, QuotaExceededError
from oqtant.schemas.job import derive_job_type
from oqtant.server.auth.security import hash_code, hash_password
from oqtant.server.db.models import (
    ACTIVE_STATUSES,
    IdempotencyKey,
    Job,
    LoginAttempts,
    OAuthCode,
    RevokedToken,
    Run,
    User,
    UtcDateTime,
    utcnow,
)
from oqtant.server.db.session import begin_write, is_postgresql
from oqtant.server.summaries import output_summary, summary_json
from oqtant.server.schemas import JobSubmit
from oqtant.settings import Settings

__all__ = [
    "ClaimedRun",
    "TokenRejected",
    "delete_user",
    "revoke_session_token",
    "revoke_user_tokens",
    "set_user_disabled",
    "user_of_token",
    "NameTaken",
    "QueueInfo",
    "StateConflict",
    "cancel_job",
    "claim_next_run",
    "complete_run",
    "consume_oauth_code",
    "create_oauth_code",
    "create_user",
    "delete_job",
    "fail_run",
    "failed_runs",
    "get_job",
    "get_run",
    "get_runs_with_images",
    "get_user_by_external_id",
    "get_user_by_name",
    "job_limits",
    "list_users",
    "queue_info",
    "queue_jobs",
    "recent_run_seconds",
    "release_run",
    "renew_leases",
    "run_seed",
    "run_summaries",
    "output_summary",
    "summary_json",
    "search_jobs",
    "set_user_limits",
    "start_of_day",
    "submit_job",
]

TERMINAL_STATUSES = ("COMPLETE", "FAILED", "CANCELLED", "INCOMPLETE")
DEFAULT_RUN_SECONDS = 5.0


# Statements on the hot paths (submit, get, search) are built once: building a
# SQLAlchemy statement costs more than running it on SQLite.
_Q_USER = select(User).where(User.id == bindparam("user_id"))


def _q_today(sim: bool):
    return (
        select(func.count())
        .select_from(Job)
        .where(
            Job.user_id == bindparam("user_id"),
            Job.time_submit >= bindparam("since", type_=UtcDateTime),
            Job.sim.is_(sim),
        )
    )


def _q_pending(sim: bool):
    return (
        select(func.count())
        .select_from(Job)
        .where(
            Job.user_id == bindparam("user_id"),
            Job.status.in_(ACTIVE_STATUSES),
            Job.sim.is_(sim),
        )
    )


_Q_USER_BY_EXTERNAL_ID = select(User).where(User.external_id == bindparam("external_id"))
# (jobs submitted today, jobs pending or running) of one kind: hardware (False) or simulator
_Q_USAGE = {
    sim: select(
        _q_today(sim).scalar_subquery().label("today"),
        _q_pending(sim).scalar_subquery().label("pending"),
    )
    for sim in (False, True)
}
_Q_ACTIVE_ALL = select(func.count(), func.coalesce(func.sum(Job.input_count), 0)).where(
    Job.status.in_(ACTIVE_STATUSES)
)
_Q_IDEMPOTENT = select(IdempotencyKey.response_json).where(
    IdempotencyKey.user_id == bindparam("user_id"), IdempotencyKey.key == bindparam("key")
)
_Q_ACTIVE_BEFORE = select(func.count(), func.coalesce(func.sum(Job.input_count), 0)).where(
    Job.status.in_(ACTIVE_STATUSES), Job.id < bindparam("lo")
)
_Q_ACTIVE_SPAN = (
    select(Job.id, Job.input_count)
    .where(Job.status.in_(ACTIVE_STATUSES), Job.id >= bindparam("lo"), Job.id <= bindparam("hi"))
    .order_by(Job.id)
)
_RECENT = (
    select(Run.duration_s)
    .where(Run.status == "COMPLETE", Run.time_complete.is_not(None))
    .order_by(Run.time_complete.desc())
    .limit(50)
    .subquery()
)
_Q_RECENT_MEAN = select(func.avg(_RECENT.c.duration_s))
_Q_JOB = select(Job).where(
    Job.external_id == bindparam("external_id"),
    Job.user_id == bindparam("user_id"),
    Job.deleted.is_(False),
)
_Q_RUN = (
    select(Run)
    .options(undefer(Run.output_json))
    .where(Run.job_id == bindparam("job_id"), Run.run == bindparam("run"))
)
_Q_FAILED = (
    select(Run.run)
    .where(Run.job_id == bindparam("job_id"), Run.status == "FAILED")
    .order_by(Run.run)
)


_SUMMARY_COLUMNS = (
    Job.id,
    Job.external_id,
    Job.name,
    Job.job_type,
    Job.status,
    Job.time_submit,
    Job.time_start,
    Job.time_complete,
    Job.input_count,
    Job.notes,
    Job.sim,
)


class StateConflict(JobError):
    """The job is in a state that does not allow the operation (e.g. cancelling a finished job)."""


class NameTaken(ValueError):
    """A user with that name already exists."""


@dataclass(frozen=True)
class ClaimedRun:
    """A run a dispatcher holds the lease of."""

    run_id: int
    job_id: int
    job_external_id: str
    run: int
    values_json: str
    seed: int
    sim: bool
    attempt: int


@dataclass(frozen=True)
class QueueInfo:
    """Where a job stands in the queue: 1-based position (0 when not queued), seconds to wait."""

    queue_position: int
    est_time: int


def run_seed(job_external_id: str, run: int) -> int:
    """A deterministic 31-bit seed for one run of one job."""
    digest = hashlib.sha256(f"{job_external_id}:{run}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


def start_of_day(now: datetime) -> datetime:
    """Midnight UTC of ``now``'s day: daily limits reset then."""
    return now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def _lock_user(session: Session, user_id: int) -> User:
    """The user row, locked for the transaction on PostgreSQL (SQLite holds the write lock)."""
    if not is_postgresql(session):
        # SQLite: the write transaction already excludes other writers; the row is
        # usually in the session's identity map (looked up for authentication)
        user = session.get(User, user_id)
        if user is None:
            raise LookupError(f"no user with id {user_id}")
        return user
    return session.execute(_Q_USER.with_for_update(), {"user_id": user_id}).scalar_one()


# --------------------------------------------------------------------------- users


def create_user(
    *,
    session: Session,
    name: str,
    password: str,
    is_admin: bool = False,
    daily_limit: int,
    max_runs_per_job: int,
    max_pending_jobs: int,
    sim_daily_limit: int | None = None,
    sim_max_pending_jobs: int | None = None,
) -> User:
    """A new account; raises NameTaken when ``name`` exists.

    The simulator limits default to those of ``Settings`` (``default_sim_*``).
    """
    if not name or len(name) > 100 or name != name.strip():
        raise ValueError("a user name is 1 to 100 characters without surrounding spaces")
    if not password:
        raise ValueError("the password must not be empty")
    begin_write(session)
    if session.execute(select(User.id).where(User.name == name)).first():
        session.rollback()
        raise NameTaken(f"a user named {name!r} already exists")
    user = User(
        external_id=str(uuid.uuid4()),
        name=name,
        password_hash=hash_password(password),
        is_admin=is_admin,
        daily_limit=daily_limit,
        max_runs_per_job=max_runs_per_job,
        max_pending_jobs=max_pending_jobs,
        sim_daily_limit=_or_default(sim_daily_limit, "default_sim_daily_limit"),
        sim_max_pending_jobs=_or_default(sim_max_pending_jobs, "default_sim_max_pending_jobs"),
    )
    session.add(user)
    session.commit()
    return user


def _or_default(value: int | None, setting: str) -> int:
    """``value``, or the default of the ``Settings`` field ``setting`` when it is None."""
    return Settings.model_fields[setting].default if value is None else value


def get_user_by_name(*, session: Session, name: str) -> User | None:
    if "\x00" in name:  # no name holds NUL (PostgreSQL cannot even compare with it)
        return None
    return session.execute(select(User).where(User.name == name)).scalar_one_or_none()


def get_user_by_external_id(*, session: Session, external_id: str) -> User | None:
    return session.execute(
        _Q_USER_BY_EXTERNAL_ID, {"external_id": external_id}
    ).scalar_one_or_none()


def list_users(*, session: Session) -> list[User]:
    return list(session.execute(select(User).order_by(User.id)).scalars())


def set_user_limits(
    *,
    session: Session,
    user_id: int,
    daily_limit: int | None = None,
    max_runs_per_job: int | None = None,
    max_pending_jobs: int | None = None,
    sim_daily_limit: int | None = None,
    sim_max_pending_jobs: int | None = None,
) -> User:
    """Change any of a user's limits; the others stay."""
    changes = {
        "daily_limit": daily_limit,
        "max_runs_per_job": max_runs_per_job,
        "max_pending_jobs": max_pending_jobs,
        "sim_daily_limit": sim_daily_limit,
        "sim_max_pending_jobs": sim_max_pending_jobs,
    }
    begin_write(session)
    user = _lock_user(session, user_id)
    for field, value in changes.items():
        if value is not None:
            setattr(user, field, value)
    session.commit()
    return user


def _usage(session: Session, user_id: int, now: datetime, *, sim: bool = False) -> tuple[int, int]:
    """(jobs submitted today, jobs pending or running) of one kind: hardware or simulator."""
    today, pending = session.execute(
        _Q_USAGE[sim], {"user_id": user_id, "since": start_of_day(now)}
    ).one()
    return today, pending


def job_limits(*, session: Session, user: User) -> dict:
    """The user's limits and current use, as ``GET .../job_limits`` answers them.

    The reference fields first (hardware jobs); the ``sim_*`` fields are the same
    for simulator jobs, which count against those only.
    """
    now = utcnow()
    today, pending = _usage(session, user.id, now)
    sim_today, sim_pending = _usage(session, user.id, now, sim=True)
    return {
        "daily_limit": user.daily_limit,
        "daily_remaining": max(user.daily_limit - today, 0),
        "standard_credits": 0,
        "priority_credits": 0,
        "max_runs_per_job": user.max_runs_per_job,
        "max_pending_jobs": user.max_pending_jobs,
        "pending_jobs": pending,
        "sim_daily_limit": user.sim_daily_limit,
        "sim_daily_remaining": max(user.sim_daily_limit - sim_today, 0),
        "sim_max_pending_jobs": user.sim_max_pending_jobs,
        "sim_pending_jobs": sim_pending,
    }


def _check_quotas(session: Session, user: User, job: JobSubmit, now: datetime) -> None:
    """Raise QuotaExceededError (429) naming the first limit ``job`` would exceed.

    Hardware jobs count against ``daily_limit`` and ``max_pending_jobs``, simulator
    jobs against ``sim_daily_limit`` and ``sim_max_pending_jobs``; both kinds obey
    ``max_runs_per_job``. Called with the user's row locked (or SQLite's write lock).
    """
    runs = len(job.inputs)
    if runs > user.max_runs_per_job:
        raise QuotaExceededError(
            f"max_runs_per_job: this job has {runs} runs, your limit is "
            f"{user.max_runs_per_job} runs per job",
            status_code=429,
        )
    today, pending = _usage(session, user.id, now, sim=job.sim)
    if job.sim:
        prefix, kind = "sim_", "simulator jobs"
        daily, most = user.sim_daily_limit, user.sim_max_pending_jobs
    else:
        prefix, kind = "", "jobs"
        daily, most = user.daily_limit, user.max_pending_jobs
    if today >= daily:
        raise QuotaExceededError(
            f"{prefix}daily_limit: you have submitted {today} of your {daily} {kind} "
            f"today; the limit resets at midnight UTC",
            status_code=429,
        )
    if pending >= most:
        raise QuotaExceededError(
            f"{prefix}max_pending_jobs: you have {pending} {kind} waiting or running, your "
            f"limit is {most}; wait for one to finish or cancel one",
            status_code=429,
        )


# --------------------------------------------------------------------------- jobs


def submit_job(
    *,
    session: Session,
    user_id: int,
    job: JobSubmit,
    idempotency_key: str | None = None,
    parallel_runs: int = 1,
) -> dict:
    """Store a job and its runs in the queue, enforcing the user's quotas atomically.

    Returns the answer ``{"job_id", "queue_position", "est_time"}``; a repeated
    ``idempotency_key`` returns the first answer and stores nothing.
    Raises QuotaExceededError naming the limit.
    """
    begin_write(session)
    try:
        user = _lock_user(session, user_id)
        if idempotency_key:
            previous = session.execute(
                _Q_IDEMPOTENT, {"user_id": user_id, "key": idempotency_key}
            ).scalar_one_or_none()
            if previous is not None:
                session.rollback()
                return json.loads(previous)
        now = utcnow()
        _check_quotas(session, user, job, now)
        external_id = str(uuid.uuid4())
        notes = [inp.notes for inp in job.inputs if inp.notes]
        # Core inserts: the ORM's unit of work costs more than the statements here
        job_id = session.execute(
            insert(Job.__table__),
            {
                "external_id": external_id,
                "user_id": user_id,
                "name": job.name,
                "job_type": str(derive_job_type(job.inputs[0].values)),
                "status": "PENDING",
                "sim": job.sim,
                "input_count": len(job.inputs),
                "notes": "\n".join(dict.fromkeys(notes)) or None,
                "time_submit": now,
                "cancel_requested": False,
                "deleted": False,
            },
        ).inserted_primary_key[0]
        session.execute(
            insert(Run.__table__),
            [
                {
                    "job_id": job_id,
                    "run": i,
                    "status": "PENDING",
                    "values_json": inp.values.model_dump_json(),
                    "notes": inp.notes,
                    "seed": run_seed(external_id, i),
                    "attempts": 0,
                }
                for i, inp in enumerate(job.inputs, start=1)
            ],
        )
        # the new job is the newest active one: its position counts every active job
        position, runs = session.execute(_Q_ACTIVE_ALL).one()
        wait_s = runs * recent_run_seconds(session=session) / max(parallel_runs, 1)
        answer = {
            "job_id": external_id,
            "queue_position": int(position),
            "est_time": math.ceil(wait_s),
        }
        if idempotency_key:
            session.add(
                IdempotencyKey(
                    user_id=user_id,
                    key=idempotency_key,
                    job_id=job_id,
                    response_json=json.dumps(answer),
                )
            )
        session.commit()
        return answer
    except BaseException:
        session.rollback()
        raise


def get_job(*, session: Session, user_id: int, external_id: str) -> Job | None:
    """The user's job with that id, or None (another user's job is None too)."""
    if "\x00" in external_id:  # no id holds NUL (PostgreSQL cannot even compare with it)
        return None
    return session.execute(
        _Q_JOB, {"external_id": external_id, "user_id": user_id}
    ).scalar_one_or_none()


def get_run(*, session: Session, job_id: int, run: int) -> Run | None:
    """One run of a job with its output loaded."""
    return session.execute(_Q_RUN, {"job_id": job_id, "run": run}).scalar_one_or_none()


def get_runs_with_images(*, session: Session, job_id: int) -> list[Run]:
    return list(
        session.execute(
            select(Run)
            .options(undefer(Run.raw_images_json))
            .where(Run.job_id == job_id)
            .order_by(Run.run)
        ).scalars()
    )


def failed_runs(*, session: Session, job_id: int) -> list[int]:
    return list(session.execute(_Q_FAILED, {"job_id": job_id}).scalars())


def _like(text: str) -> str:
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _filters(
    user_id: int,
    job_type: str | None,
    name: str | None,
    submit_start: datetime | None,
    submit_end: datetime | None,
    notes: str | None,
    statuses: list[str] | None,
) -> list:
    conds = [Job.user_id == user_id, Job.deleted.is_(False)]
    if job_type:
        conds.append(Job.job_type == job_type)
    if name:
        conds.append(func.lower(Job.name).like(_like(name), escape="\\"))
    if notes:
        conds.append(func.lower(Job.notes).like(_like(notes), escape="\\"))
    if submit_start:
        conds.append(Job.time_submit >= submit_start)
    if submit_end:
        conds.append(Job.time_submit <= submit_end)
    if statuses:
        conds.append(Job.status.in_(statuses))
    return conds


def search_jobs(
    *,
    session: Session,
    user_id: int,
    job_type: str | None = None,
    name: str | None = None,
    submit_start: datetime | None = None,
    submit_end: datetime | None = None,
    notes: str | None = None,
    statuses: list[str] | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list, int]:
    """The user's jobs matching every given filter, newest first, and how many match in all.

    The jobs are light rows with the summary's columns (attribute access like a Job).
    """
    conds = _filters(user_id, job_type, name, submit_start, submit_end, notes, statuses)
    total = session.execute(select(func.count()).select_from(Job).where(*conds)).scalar_one()
    jobs = session.execute(
        select(*_SUMMARY_COLUMNS).where(*conds).order_by(Job.id.desc()).limit(limit).offset(offset)
    ).all()
    return list(jobs), total


def queue_jobs(
    *,
    session: Session,
    user_id: int,
    include_complete: bool = False,
    limit: int = 100,
    **filters,
) -> list:
    """The user's queued (and, if asked, finished) jobs, oldest first: FIFO order (light rows)."""
    statuses = filters.pop("statuses", None) or (
        None if include_complete else list(ACTIVE_STATUSES)
    )
    conds = _filters(
        user_id,
        filters.get("job_type"),
        filters.get("name"),
        filters.get("submit_start"),
        filters.get("submit_end"),
        filters.get("notes"),
        statuses,
    )
    return list(
        session.execute(select(*_SUMMARY_COLUMNS).where(*conds).order_by(Job.id).limit(limit)).all()
    )


_recent_cache: dict[int, tuple[float, float]] = {}
RECENT_CACHE_SECONDS = 2.0


def recent_run_seconds(*, session: Session) -> float:
    """Mean duration of the last 50 completed runs (a default when none ran yet).

    Cached for a couple of seconds per database: it only feeds wait estimates.
    """
    key = id(session.get_bind())
    now = time.monotonic()
    cached = _recent_cache.get(key)
    if cached is not None and now - cached[0] < RECENT_CACHE_SECONDS:
        return cached[1]
    mean = session.execute(_Q_RECENT_MEAN).scalar_one()
    value = float(mean) if mean else DEFAULT_RUN_SECONDS
    _recent_cache[key] = (now, value)
    return value


def queue_info(
    *, session: Session, job_ids: list[int], parallel_runs: int = 1
) -> dict[int, QueueInfo]:
    """Queue position (1 = next) and estimated wait in seconds of each job in ``job_ids``.

    The wait counts every run of the active jobs ahead and of the job itself,
    at the mean recent run duration, ``parallel_runs`` at a time. Jobs that are
    not pending or running get ``QueueInfo(0, 0)``.
    """
    result = {jid: QueueInfo(0, 0) for jid in job_ids}
    if not job_ids:
        return result
    lo, hi = min(job_ids), max(job_ids)
    # everything before the first wanted job is aggregated in the database ...
    jobs_before, runs_before = session.execute(_Q_ACTIVE_BEFORE, {"lo": lo}).one()
    # ... only the span of the wanted jobs is read row by row
    span = session.execute(_Q_ACTIVE_SPAN, {"lo": lo, "hi": hi}).all()
    if not span:
        return result
    run_s = recent_run_seconds(session=session)
    wanted = set(job_ids)
    position, runs = int(jobs_before), int(runs_before)
    for jid, count in span:
        position += 1
        runs += count
        if jid in wanted:
            wait = runs * run_s / max(parallel_runs, 1)
            result[jid] = QueueInfo(position, math.ceil(wait))
    return result


def _lock_job(session: Session, job_id: int) -> Job:
    stmt = select(Job).where(Job.id == job_id)
    if is_postgresql(session):
        stmt = stmt.with_for_update()
    return session.execute(stmt).scalar_one()


def cancel_job(*, session: Session, job_id: int) -> Job:
    """Cancel a job: pending runs leave the queue; a running run finishes first.

    Raises StateConflict when the job has already finished.
    """
    begin_write(session)
    try:
        job = _lock_job(session, job_id)
        if job.status in TERMINAL_STATUSES:
            raise StateConflict(f"job {job.external_id} has already finished ({job.status})")
        now = utcnow()
        session.execute(
            update(Run)
            .where(Run.job_id == job_id, Run.status == "PENDING")
            .values(status="CANCELLED", time_complete=now)
        )
        running = session.execute(
            select(func.count())
            .select_from(Run)
            .where(Run.job_id == job_id, Run.status == "RUNNING")
        ).scalar_one()
        job.cancel_requested = True
        if running == 0:
            job.status = "CANCELLED"
            job.time_complete = now
        session.commit()
        return job
    except BaseException:
        session.rollback()
        raise


def delete_job(*, session: Session, job_id: int) -> None:
    """Delete a job for its owner: cancelled first if active, then hidden with its runs removed.

    The job row stays (marked deleted) so that it still counts towards today's limit.
    """
    begin_write(session)
    try:
        job = _lock_job(session, job_id)
        if job.status in ACTIVE_STATUSES:
            job.status = "CANCELLED"
            job.cancel_requested = True
            job.time_complete = utcnow()
        job.deleted = True
        session.execute(delete(Run).where(Run.job_id == job_id))
        session.commit()
    except BaseException:
        session.rollback()
        raise


# --------------------------------------------------------------------------- queue


_NOW = bindparam("now", type_=UtcDateTime)
_RUNNABLE = or_(Run.status == "PENDING", and_(Run.status == "RUNNING", Run.lease_expires_at < _NOW))
_LEASED = and_(Run.status == "RUNNING", Run.lease_expires_at >= _NOW)
_FIRST_WAITING = func.min(case((_RUNNABLE, Run.job_id)))
# The users with a runnable run, in the order they get their turn: fewest runs
# leased now, then served longest ago (``users.last_claim_at``; never = first),
# then the oldest waiting job. One pass over the runs of the active jobs.
_Q_TURNS = (
    select(Job.user_id)
    .select_from(Job)
    .join(Run, Run.job_id == Job.id)
    .join(User, User.id == Job.user_id)
    .where(Job.status.in_(ACTIVE_STATUSES))
    .group_by(Job.user_id, User.last_claim_at)
    .having(_FIRST_WAITING.is_not(None))
    .order_by(
        func.sum(case((_LEASED, 1), else_=0)),
        User.last_claim_at.asc().nulls_first(),
        _FIRST_WAITING,
    )
)
_USER_ACTIVE_JOBS = select(Job.id).where(
    Job.user_id == bindparam("user_id"), Job.status.in_(ACTIVE_STATUSES)
)
_Q_USER_PENDING = (
    select(Run)
    .where(Run.status == "PENDING", Run.job_id.in_(_USER_ACTIVE_JOBS))
    .order_by(Run.job_id, Run.run)
    .limit(1)
)
_Q_USER_EXPIRED = (
    select(Run)
    .where(
        Run.status == "RUNNING", Run.lease_expires_at < _NOW, Run.job_id.in_(_USER_ACTIVE_JOBS)
    )
    .order_by(Run.job_id, Run.run)
    .limit(1)
)


def _oldest_runnable_of(session: Session, user_id: int, now: datetime) -> Run | None:
    """The user's first runnable run in FIFO order (job, then run number), locked; or None.

    On PostgreSQL the run is locked ``FOR UPDATE SKIP LOCKED``: a run another
    claimer is taking is passed over, never taken twice.
    """
    found = []
    for stmt in (_Q_USER_PENDING, _Q_USER_EXPIRED):
        if is_postgresql(session):
            stmt = stmt.with_for_update(skip_locked=True)
        run = session.execute(stmt, {"user_id": user_id, "now": now}).scalar_one_or_none()
        if run is not None:
            found.append(run)
    return min(found, key=lambda r: (r.job_id, r.run), default=None)


def _next_runnable(session: Session, now: datetime) -> tuple[User, Run] | None:
    """The user whose turn it is and their first runnable run; None when nothing is runnable.

    The user's row is locked first (PostgreSQL), as a submit locks it first too:
    no transaction holds a run or a job while it waits for a user. Claims of one
    user's runs take turns on that lock.
    """
    for user_id in session.execute(_Q_TURNS, {"now": now}).scalars().all():
        user = _lock_user(session, user_id)
        run = _oldest_runnable_of(session, user_id, now)
        if run is not None:
            return user, run
    return None


def claim_next_run(
    *, session: Session, owner: str, lease_seconds: float, max_attempts: int = 3
) -> ClaimedRun | None:
    """Take the lease of the next runnable run (pending, or running with an expired lease).

    Fair between users: the run goes to the user with the fewest runs leased now,
    then to the one whose run was claimed longest ago (round robin), then to the
    one with the oldest waiting job; hardware and simulator runs count alike.
    Within one user, runs are taken in FIFO order of their jobs, then by run
    number. A run whose lease expired ``max_attempts`` times is marked FAILED
    instead.
    """
    while True:
        begin_write(session)
        try:
            now = utcnow()
            turn = _next_runnable(session, now)
            if turn is None:
                session.rollback()
                return None
            user, run = turn
            job = _lock_job(session, run.job_id)
            if run.attempts >= max_attempts:
                run.status = "FAILED"
                run.error = f"abandoned after {run.attempts} attempts (the worker was lost)"
                run.lease_owner = None
                run.time_complete = now
                _finalize_job(session, job, now)
                session.commit()
                continue
            user.last_claim_at = now
            run.status = "RUNNING"
            run.lease_owner = owner
            run.lease_expires_at = now + timedelta(seconds=lease_seconds)
            run.attempts += 1
            run.time_start = now
            if job.status == "PENDING":
                job.status = "RUNNING"
                job.time_start = now
            claimed = ClaimedRun(
                run_id=run.id,
                job_id=job.id,
                job_external_id=job.external_id,
                run=run.run,
                values_json=run.values_json,
                seed=run.seed,
                sim=job.sim,
                attempt=run.attempts,
            )
            session.commit()
            return claimed
        except BaseException:
            session.rollback()
            raise


def renew_leases(*, session: Session, owner: str, run_ids: list[int], lease_seconds: float) -> int:
    """Extend the leases ``owner`` holds on ``run_ids``; returns how many it still holds."""
    if not run_ids:
        return 0
    begin_write(session)
    result = session.execute(
        update(Run)
        .where(Run.id.in_(run_ids), Run.lease_owner == owner, Run.status == "RUNNING")
        .values(lease_expires_at=utcnow() + timedelta(seconds=lease_seconds))
    )
    session.commit()
    return result.rowcount


def _finish_run(session: Session, owner: str, run_id: int, values: dict) -> bool:
    begin_write(session)
    try:
        now = utcnow()
        result = session.execute(
            update(Run)
            .where(Run.id == run_id, Run.lease_owner == owner, Run.status == "RUNNING")
            .values(lease_owner=None, lease_expires_at=None, time_complete=now, **values)
        )
        if result.rowcount != 1:  # the lease was lost: another worker owns the run now
            session.rollback()
            return False
        job_id = session.execute(select(Run.job_id).where(Run.id == run_id)).scalar_one()
        _finalize_job(session, _lock_job(session, job_id), now)
        session.commit()
        return True
    except BaseException:
        session.rollback()
        raise


def run_summaries(*, session: Session, job_id: int) -> list[tuple[int, str, str, dict | None]]:
    """Every run of a job: (run, status, values_json, summary or None), in run order."""
    rows = session.execute(
        select(Run.run, Run.status, Run.values_json, Run.summary_json)
        .where(Run.job_id == job_id)
        .order_by(Run.run)
    ).all()
    return [(r, st, v, json.loads(sm) if sm else None) for r, st, v, sm in rows]


def complete_run(
    *,
    session: Session,
    owner: str,
    run_id: int,
    output_json: str,
    raw_images_json: str,
    duration_s: float,
    summary: str | None = None,
) -> bool:
    """Store a run's output; False (nothing stored) if ``owner`` no longer holds its lease.

    ``summary``: its ``summary_json``, when the caller has it (else it is read from the output).
    """
    return _finish_run(
        session,
        owner,
        run_id,
        {
            "status": "COMPLETE",
            "output_json": output_json,
            "summary_json": summary if summary is not None else output_summary(output_json),
            "raw_images_json": raw_images_json,
            "duration_s": duration_s,
            "error": None,
        },
    )


def fail_run(*, session: Session, owner: str, run_id: int, reason: str) -> bool:
    """Mark a run FAILED with ``reason``; False if ``owner`` no longer holds its lease."""
    return _finish_run(session, owner, run_id, {"status": "FAILED", "error": reason[:2000]})


def release_run(*, session: Session, owner: str, run_id: int) -> bool:
    """Give a run back to the queue (e.g. on shutdown) so that another worker takes it."""
    begin_write(session)
    result = session.execute(
        update(Run)
        .where(Run.id == run_id, Run.lease_owner == owner, Run.status == "RUNNING")
        .values(status="PENDING", lease_owner=None, lease_expires_at=None)
    )
    session.commit()
    return result.rowcount == 1


def _finalize_job(session: Session, job: Job, now: datetime) -> None:
    """Set a job's final status once none of its runs is pending or running."""
    counts = dict(
        session.execute(
            select(Run.status, func.count()).where(Run.job_id == job.id).group_by(Run.status)
        ).all()
    )
    if counts.get("PENDING", 0) or counts.get("RUNNING", 0) or job.status in TERMINAL_STATUSES:
        return
    complete, failed = counts.get("COMPLETE", 0), counts.get("FAILED", 0)
    if job.cancel_requested:
        job.status = "CANCELLED"
    elif failed == 0:
        job.status = "COMPLETE"
    elif complete == 0:
        job.status = "FAILED"
    else:
        job.status = "INCOMPLETE"
    if failed:
        errors = session.execute(
            select(Run.run, Run.error)
            .where(Run.job_id == job.id, Run.status == "FAILED")
            .order_by(Run.run)
        ).all()
        job.failure_reason = "; ".join(f"run {r}: {e}" for r, e in errors)[:4000]
    job.time_complete = now


# --------------------------------------------------------------------------- oauth


def create_oauth_code(
    *,
    session: Session,
    user_id: int,
    client_id: str,
    redirect_uri: str,
    code_challenge: str,
    code: str,
    ttl_seconds: float = 300.0,
) -> None:
    """Store a new authorization code (as its hash), valid ``ttl_seconds``."""
    begin_write(session)
    now = utcnow()
    session.execute(delete(OAuthCode).where(OAuthCode.expires_at < now - timedelta(days=1)))
    session.add(
        OAuthCode(
            code_hash=hash_code(code),
            user_id=user_id,
            client_id=client_id,
            redirect_uri=redirect_uri,
            code_challenge=code_challenge,
            expires_at=now + timedelta(seconds=ttl_seconds),
            used=False,
        )
    )
    session.commit()


def consume_oauth_code(*, session: Session, code: str) -> OAuthCode | None:
    """Mark a code used and return it; None when unknown, expired or already used."""
    begin_write(session)
    now = utcnow()
    result = session.execute(
        update(OAuthCode)
        .where(
            OAuthCode.code_hash == hash_code(code),
            OAuthCode.used.is_(False),
            OAuthCode.expires_at > now,
        )
        .values(used=True)
    )
    if result.rowcount != 1:
        session.rollback()
        return None
    row = session.get(OAuthCode, hash_code(code))
    session.commit()
    return row


# --------------------------------------------------------------------------- revocation


class TokenRejected(Exception):
    """A well-signed token that no longer opens its account; the message says why."""


def user_of_token(
    *, session: Session, external_id: str, generation: int = 0, token_id: str | None = None
) -> User:
    """The user a valid token names, if the token still counts; raises TokenRejected otherwise.

    A token stops counting when its account is deleted or disabled, when the
    user's tokens were revoked since it was issued (its generation is older),
    or, for a console session (``token_id``), when that session logged out.
    """
    user = get_user_by_external_id(session=session, external_id=external_id)
    if user is None:
        raise TokenRejected("the access token's account no longer exists")
    if user.disabled:
        raise TokenRejected(f"the account {user.name!r} is disabled: ask an administrator")
    if generation != user.token_generation:
        raise TokenRejected("the access token was revoked: log in again")
    if token_id is not None and session.get(RevokedToken, token_id) is not None:
        raise TokenRejected("this session was logged out: log in again")
    return user


def _write_user(session: Session, user_id: int, **values) -> User:
    """Apply ``values`` to the user row (``token_generation`` is moved on by one) and commit."""
    begin_write(session)
    try:
        session.execute(
            update(User)
            .where(User.id == user_id)
            .values(token_generation=User.token_generation + 1, **values)
        )
        user = session.execute(
            _Q_USER.execution_options(populate_existing=True), {"user_id": user_id}
        ).scalar_one_or_none()
        if user is None:
            raise LookupError(f"no user with id {user_id}")
        session.commit()
        return user
    except BaseException:
        session.rollback()
        raise


def revoke_user_tokens(*, session: Session, user_id: int) -> User:
    """Refuse every token and console session issued to the user so far."""
    return _write_user(session, user_id)


def set_user_disabled(*, session: Session, user_id: int, disabled: bool) -> User:
    """Disable (no login, every token refused) or enable an account.

    Disabling revokes the user's tokens, so enabling again does not bring them back.
    """
    return _write_user(session, user_id, disabled=disabled)


def delete_user(*, session: Session, user_id: int) -> int:
    """Delete an account with its jobs, runs and results; returns how many jobs went with it.

    Pending runs leave the queue with the account. A run being executed at that
    moment finishes, and its result is dropped (its worker finds the run gone,
    as if its lease had been lost). The account's tokens are refused from then on.
    """
    begin_write(session)
    try:
        user = _lock_user(session, user_id)
        job_ids = select(Job.id).where(Job.user_id == user_id)
        session.execute(delete(IdempotencyKey).where(IdempotencyKey.user_id == user_id))
        session.execute(delete(Run).where(Run.job_id.in_(job_ids)))
        jobs = session.execute(delete(Job).where(Job.user_id == user_id)).rowcount
        session.execute(delete(OAuthCode).where(OAuthCode.user_id == user_id))
        session.execute(delete(RevokedToken).where(RevokedToken.user_id == user_id))
        session.execute(delete(LoginAttempts).where(LoginAttempts.key == f"user:{user.name}"))
        session.delete(user)
        session.commit()
        return jobs
    except BaseException:
        session.rollback()
        raise


def revoke_session_token(
    *, session: Session, user_id: int, token_id: str, expires_at: datetime
) -> None:
    """Refuse the console session ``token_id`` from now until it would have expired."""
    begin_write(session)
    try:
        now = utcnow()
        session.execute(delete(RevokedToken).where(RevokedToken.expires_at < now))
        if session.get(RevokedToken, token_id) is None and expires_at > now:
            session.add(RevokedToken(token_id=token_id, user_id=user_id, expires_at=expires_at))
        session.commit()
    except BaseException:
        session.rollback()
        raise
