"""Runs and the queue: claim with a lease (fair between users), renew, finish, release;
queue positions and wait estimates.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

from cachetools import TTLCache, cached
from sqlalchemy import and_, bindparam, case, func, or_, select, update
from sqlalchemy.orm import Session

from oqtant.server.db.locks import lock_job, lock_user
from oqtant.server.db.models import (
    ACTIVE_STATUSES,
    TERMINAL_STATUSES,
    Job,
    Run,
    User,
    UtcDateTime,
    utcnow,
)
from oqtant.server.db.session import execute_dml, is_postgresql, write_transaction
from oqtant.server.summaries import output_summary

__all__ = [
    "DEFAULT_RUN_SECONDS",
    "ClaimedRun",
    "QueueInfo",
    "claim_next_run",
    "complete_run",
    "fail_run",
    "queue_info",
    "recent_run_seconds",
    "release_run",
    "renew_leases",
]


DEFAULT_RUN_SECONDS = 5.0


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
    job_name: str = ""  # in the titles of the run's input figures


@dataclass(frozen=True)
class QueueInfo:
    """Where a job stands in the queue: 1-based position (0 when not queued), seconds to wait."""

    queue_position: int
    est_time: int


RECENT_CACHE_SECONDS = 2.0
# per database (engine): the mean only feeds wait estimates, a couple of seconds old is fine
_recent_cache: TTLCache[int, float] = TTLCache(maxsize=64, ttl=RECENT_CACHE_SECONDS)


@cached(_recent_cache, key=lambda *, session: id(session.get_bind()), lock=threading.Lock())
def recent_run_seconds(*, session: Session) -> float:
    """Mean duration of the last 50 completed runs (a default when none ran yet).

    Cached for a couple of seconds per database: it only feeds wait estimates.
    """
    mean = session.execute(_Q_RECENT_MEAN).scalar_one()
    return float(mean) if mean else DEFAULT_RUN_SECONDS


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
    .where(Run.status == "RUNNING", Run.lease_expires_at < _NOW, Run.job_id.in_(_USER_ACTIVE_JOBS))
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
        user = lock_user(session, user_id)
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
        with write_transaction(session):
            now = utcnow()
            turn = _next_runnable(session, now)
            if turn is None:
                return None
            user, run = turn
            job = lock_job(session, run.job_id)
            if run.attempts >= max_attempts:
                run.status = "FAILED"
                run.error = f"abandoned after {run.attempts} attempts (the worker was lost)"
                run.lease_owner = None
                run.time_complete = now
                _finalize_job(session, job, now)
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
                job_name=job.name,
            )
            return claimed


def renew_leases(*, session: Session, owner: str, run_ids: list[int], lease_seconds: float) -> int:
    """Extend the leases ``owner`` holds on ``run_ids``; returns how many it still holds."""
    if not run_ids:
        return 0
    with write_transaction(session):
        result = execute_dml(
            session,
            update(Run)
            .where(Run.id.in_(run_ids), Run.lease_owner == owner, Run.status == "RUNNING")
            .values(lease_expires_at=utcnow() + timedelta(seconds=lease_seconds)),
        )
    return result.rowcount


def _finish_run(session: Session, owner: str, run_id: int, values: dict) -> bool:
    with write_transaction(session):
        now = utcnow()
        result = execute_dml(
            session,
            update(Run)
            .where(Run.id == run_id, Run.lease_owner == owner, Run.status == "RUNNING")
            .values(lease_owner=None, lease_expires_at=None, time_complete=now, **values),
        )
        if result.rowcount != 1:  # the lease was lost: another worker owns the run now
            return False
        job_id = session.execute(select(Run.job_id).where(Run.id == run_id)).scalar_one()
        _finalize_job(session, lock_job(session, job_id), now)
        return True


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
    if summary is None:
        values_json = session.execute(select(Run.values_json).where(Run.id == run_id)).scalar()
        summary = output_summary(output_json, values_json)
    return _finish_run(
        session,
        owner,
        run_id,
        {
            "status": "COMPLETE",
            "output_json": output_json,
            "summary_json": summary,
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
    with write_transaction(session):
        result = execute_dml(
            session,
            update(Run)
            .where(Run.id == run_id, Run.lease_owner == owner, Run.status == "RUNNING")
            .values(status="PENDING", lease_owner=None, lease_expires_at=None),
        )
    return result.rowcount == 1


def _finalize_job(session: Session, job: Job, now: datetime) -> None:
    """Set a job's final status once none of its runs is pending or running."""
    counts = dict(
        session.execute(
            select(Run.status, func.count()).where(Run.job_id == job.id).group_by(Run.status)
        ).all()
    )
    if any(counts.get(s, 0) for s in ACTIVE_STATUSES) or job.status in TERMINAL_STATUSES:
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
