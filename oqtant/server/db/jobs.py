"""Jobs: submit under the user's quotas, look up, search, cancel and delete.

Hot statements are built once at import: building a SQLAlchemy statement costs
more than running it on SQLite.
"""

from __future__ import annotations

import hashlib
import json
import math
import uuid
from datetime import UTC, datetime
from typing import cast

from sqlalchemy import Table, bindparam, delete, func, insert, select, update
from sqlalchemy.orm import Session, undefer

from oqtant.errors import JobError, QuotaExceededError
from oqtant.schemas.job import derive_job_type
from oqtant.server.db.locks import lock_job, lock_user
from oqtant.server.db.models import (
    ACTIVE_STATUSES,
    TERMINAL_STATUSES,
    IdempotencyKey,
    Job,
    Run,
    RunFigure,
    User,
    UtcDateTime,
    utcnow,
)
from oqtant.server.db.runs import recent_run_seconds
from oqtant.server.db.session import execute_dml, write_transaction
from oqtant.server.schemas import JobSubmit
from oqtant.server.summaries import needs_refresh, output_summary

__all__ = [
    "StateConflict",
    "cancel_job",
    "delete_job",
    "failed_runs",
    "get_job",
    "get_run",
    "get_runs_with_images",
    "job_limits",
    "queue_jobs",
    "raw_frames",
    "run_seed",
    "run_summaries",
    "runs_of_jobs",
    "search_jobs",
    "start_of_day",
    "submit_job",
]


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


# Core inserts: the ORM's unit of work costs more than the statements of a submit
_JOBS = cast(Table, Job.__table__)
_RUNS = cast(Table, Run.__table__)
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


def run_seed(job_external_id: str, run: int) -> int:
    """A deterministic 31-bit seed for one run of one job."""
    digest = hashlib.sha256(f"{job_external_id}:{run}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


def start_of_day(now: datetime) -> datetime:
    """Midnight UTC of ``now``'s day: daily limits reset then."""
    return now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


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
    with write_transaction(session):
        user = lock_user(session, user_id)
        if idempotency_key:
            previous = session.execute(
                _Q_IDEMPOTENT, {"user_id": user_id, "key": idempotency_key}
            ).scalar_one_or_none()
            if previous is not None:
                return json.loads(previous)
        now = utcnow()
        _check_quotas(session, user, job, now)
        external_id = str(uuid.uuid4())
        notes = [inp.notes for inp in job.inputs if inp.notes]
        # Core inserts: the ORM's unit of work costs more than the statements here
        inserted = execute_dml(
            session,
            insert(_JOBS),
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
        ).inserted_primary_key
        assert inserted is not None  # a one-row insert knows its key
        job_id = inserted[0]
        session.execute(
            insert(_RUNS),
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
        return answer


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


def raw_frames(*, session: Session, job: Job, run: int | None = None) -> list[dict]:
    """The raw absorption frames of one run (``run``) or of every run of ``job``, in run order.

    Each frame is the stored image with the job's ``job_external_id`` and its ``run``.
    """
    frames: list[dict] = []
    for row in get_runs_with_images(session=session, job_id=job.id):
        if run is not None and row.run != run:
            continue
        for image in json.loads(row.raw_images_json or "[]"):
            image["job_external_id"] = job.external_id
            image["run"] = row.run
            frames.append(image)
    return frames


def failed_runs(*, session: Session, job_id: int) -> list[int]:
    return list(session.execute(_Q_FAILED, {"job_id": job_id}).scalars())


def run_summaries(*, session: Session, job_id: int) -> list[tuple[int, str, str, dict | None]]:
    """Every run of a job: (run, status, values_json, summary or None), in run order.

    A summary stored before this version gave all its numbers (an in-trap run's
    integrated atoms and OD at the barrier) is completed from the stored output.
    """
    rows = session.execute(
        select(Run.run, Run.status, Run.values_json, Run.summary_json)
        .where(Run.job_id == job_id)
        .order_by(Run.run)
    ).all()
    found = [(r, st, v, json.loads(sm) if sm else None) for r, st, v, sm in rows]
    stale = [r for r, _, _, sm in found if needs_refresh(sm)]
    if not stale:
        return found
    outputs = dict(
        session.execute(
            select(Run.run, Run.output_json).where(Run.job_id == job_id, Run.run.in_(stale))
        ).all()
    )
    return [
        (r, st, v, json.loads(output_summary(outputs[r], v) or "null") if r in outputs else sm)
        for r, st, v, sm in found
    ]


def runs_of_jobs(
    *, session: Session, job_ids: list[int]
) -> dict[int, list[tuple[int, str, dict | None]]]:
    """The runs of each job of ``job_ids``: (run, status, summary or None), in run order.

    One query (for a page of the job list); jobs without runs (deleted) are absent.
    """
    if not job_ids:
        return {}
    rows = session.execute(
        select(Run.job_id, Run.run, Run.status, Run.summary_json)
        .where(Run.job_id.in_(job_ids))
        .order_by(Run.job_id, Run.run)
    ).all()
    result: dict[int, list[tuple[int, str, dict | None]]] = {}
    for job_id, number, state, summary in rows:
        result.setdefault(job_id, []).append(
            (number, state, json.loads(summary) if summary else None)
        )
    return result


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


def cancel_job(*, session: Session, job_id: int) -> Job:
    """Cancel a job: pending runs leave the queue; a running run finishes first.

    Raises StateConflict when the job has already finished.
    """
    with write_transaction(session):
        job = lock_job(session, job_id)
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
        return job


def delete_job(*, session: Session, job_id: int) -> None:
    """Delete a job for its owner: cancelled first if active, then hidden with its runs removed.

    The job row stays (marked deleted) so that it still counts towards today's limit.
    """
    with write_transaction(session):
        job = lock_job(session, job_id)
        if job.status in ACTIVE_STATUSES:
            job.status = "CANCELLED"
            job.cancel_requested = True
            job.time_complete = utcnow()
        job.deleted = True
        session.execute(delete(RunFigure).where(RunFigure.job_id == job_id))
        session.execute(delete(Run).where(Run.job_id == job_id))
