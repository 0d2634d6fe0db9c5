"""Jobs of one user: submit, get (one run at a time), search, queue, cancel, delete, raw images.

Each route authenticates from the token alone, then does all its database work
in one worker thread (:func:`~oqtant.server.api.deps.in_db`).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Path, Query, Request, Response, status
from fastapi.responses import JSONResponse
from pydantic import BeforeValidator

from oqtant.schemas.job import NO_NUL_PATTERN, JobCreateResponse, JobStatus, JobType, NoNul
from oqtant.server.api.deps import Subject, in_db, owner_in_session
from oqtant.server.api.responses import BODY_ERRORS, error_responses
from oqtant.server.api.views import job_detail, job_summary
from oqtant.server.db import begin_write, crud
from oqtant.server.db.models import ACTIVE_STATUSES, Job
from oqtant.server.schemas import JobList, JobSubmit, JobSummary, QueueList

__all__ = ["router"]

router = APIRouter(
    prefix="/api/v1/users/{uid}", tags=["jobs"], responses=error_responses(401, 404, 422, 503)
)

#: the largest ``offset`` of a search (PostgreSQL's integer; far past any real listing)
MAX_OFFSET = 2**31 - 1

Limit = Annotated[int, Query(ge=1, le=100, description="at most this many jobs")]
RunNumber = Annotated[int, Query(ge=1, le=1000, description="which run (1-based)")]
Offset = Annotated[
    int, Query(ge=0, le=MAX_OFFSET, description=f"skip this many jobs (at most {MAX_OFFSET})")
]
JobId = Annotated[str, Path(max_length=64, pattern=NO_NUL_PATTERN), NoNul]
NameFilter = Annotated[
    str | None,
    Query(max_length=100, pattern=NO_NUL_PATTERN, description="part of the name"),
    NoNul,
]
NotesFilter = Annotated[
    str | None,
    Query(max_length=500, pattern=NO_NUL_PATTERN, description="part of the notes"),
    NoNul,
]


def _not_a_number(value: Any) -> Any:
    # pydantic would read "1700000000" or "0.5" as seconds since 1970
    if isinstance(value, str) and re.fullmatch(r"\s*[-+]?[0-9]*\.?[0-9]+\s*", value):
        raise ValueError("must be an ISO 8601 date-time (e.g. 2026-12-04T18:00:00Z), not a number")
    return value


#: a time filter, as ISO 8601 text only
SubmitTime = Annotated[datetime | None, Query(), BeforeValidator(_not_a_number)]


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _parallel(request: Request) -> int:
    return max(request.app.state.settings.workers, 1)


def _job_or_404(session, user, job_id: str) -> Job:
    job = crud.get_job(session=session, user_id=user.id, external_id=job_id)
    if job is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no job {job_id} (or not yours)")
    return job


def _summaries(request: Request, session, jobs: list) -> list[dict]:
    active = [j.id for j in jobs if j.status in ACTIVE_STATUSES]
    infos = crud.queue_info(session=session, job_ids=active, parallel_runs=_parallel(request))
    return [job_summary(j, infos.get(j.id)) for j in jobs]


@router.post(
    "/jobs",
    status_code=status.HTTP_201_CREATED,
    response_model=JobCreateResponse,
    responses=error_responses(*BODY_ERRORS, 409, 429),
    summary="Submit a job (1 to 30 runs) to the queue",
)
async def submit_job(
    request: Request,
    uid: str,
    subject: Subject,
    job: JobSubmit,
    idempotency_key: Annotated[str | None, Header(max_length=100)] = None,
):
    def work(session) -> dict:
        begin_write(session)  # authenticate inside the write transaction: one BEGIN
        user = owner_in_session(session, subject, uid)
        return crud.submit_job(
            session=session,
            user_id=user.id,
            job=job,
            idempotency_key=idempotency_key,
            parallel_runs=_parallel(request),
        )

    answer = await in_db(request, work)
    dispatcher = getattr(request.app.state, "dispatcher", None)
    if dispatcher is not None:
        dispatcher.wake()
    return JSONResponse(answer, status_code=status.HTTP_201_CREATED)


@router.get("/jobs/{job_id}", summary="A job with one run's input and output")
async def get_job(request: Request, uid: str, job_id: JobId, subject: Subject, run: RunNumber = 1):
    def work(session) -> dict:
        user = owner_in_session(session, subject, uid)
        job = _job_or_404(session, user, job_id)
        row = crud.get_run(session=session, job_id=job.id, run=run)
        if row is None:
            raise HTTPException(
                status.HTTP_404_NOT_FOUND,
                detail=f"job {job_id} has no run {run} (it has {job.input_count} runs)",
            )
        return job_detail(job, row, crud.failed_runs(session=session, job_id=job.id))

    return JSONResponse(await in_db(request, work))


@router.get("/jobs", response_model=JobList, summary="Search the user's jobs, newest first")
async def search_jobs(
    request: Request,
    uid: str,
    subject: Subject,
    job_type: JobType | None = None,
    name: NameFilter = None,
    submit_start: SubmitTime = None,
    submit_end: SubmitTime = None,
    notes: NotesFilter = None,
    limit: Limit = 100,
    offset: Offset = 0,
    status_: Annotated[list[JobStatus] | None, Query(alias="status")] = None,
):
    def work(session) -> dict:
        user = owner_in_session(session, subject, uid)
        jobs, total = crud.search_jobs(
            session=session,
            user_id=user.id,
            job_type=str(job_type) if job_type else None,
            name=name,
            submit_start=_utc(submit_start),
            submit_end=_utc(submit_end),
            notes=notes,
            statuses=[str(s) for s in status_] if status_ else None,
            limit=limit,
            offset=offset,
        )
        return {"items": _summaries(request, session, jobs), "total": total}

    # answered as built (already plain JSON): re-validating 100 summaries costs more than the query
    return JSONResponse(await in_db(request, work))


@router.get("/queue", response_model=QueueList, summary="The user's jobs in queue order")
async def queue_status(
    request: Request,
    uid: str,
    subject: Subject,
    job_type: JobType | None = None,
    name: NameFilter = None,
    submit_start: SubmitTime = None,
    submit_end: SubmitTime = None,
    notes: NotesFilter = None,
    note: Annotated[
        str | None,
        Query(max_length=500, pattern=NO_NUL_PATTERN, description="same as notes"),
        NoNul,
    ] = None,
    limit: Limit = 100,
    include_complete: bool = False,
    status_: Annotated[list[JobStatus] | None, Query(alias="status")] = None,
):
    def work(session) -> dict:
        user = owner_in_session(session, subject, uid)
        jobs = crud.queue_jobs(
            session=session,
            user_id=user.id,
            include_complete=include_complete,
            limit=limit,
            job_type=str(job_type) if job_type else None,
            name=name,
            submit_start=_utc(submit_start),
            submit_end=_utc(submit_end),
            notes=notes or note,
            statuses=[str(s) for s in status_] if status_ else None,
        )
        return {"items": _summaries(request, session, jobs)}

    return JSONResponse(await in_db(request, work))


@router.put(
    "/jobs/{job_id}/cancel",
    response_model=JobSummary,
    responses=error_responses(*BODY_ERRORS, 409),
    summary="Cancel a job",
)
async def cancel_job(request: Request, uid: str, job_id: JobId, subject: Subject):
    def work(session) -> dict:
        user = owner_in_session(session, subject, uid)
        job = crud.cancel_job(session=session, job_id=_job_or_404(session, user, job_id).id)
        return _summaries(request, session, [job])[0]

    return JSONResponse(await in_db(request, work))


@router.delete("/jobs/{job_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Delete a job")
async def delete_job(request: Request, uid: str, job_id: JobId, subject: Subject) -> Response:
    def work(session) -> None:
        user = owner_in_session(session, subject, uid)
        crud.delete_job(session=session, job_id=_job_or_404(session, user, job_id).id)

    await in_db(request, work)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/jobs/{job_id}/raw_images", summary="Raw absorption frames of one run")
async def raw_images(
    request: Request,
    uid: str,
    job_id: JobId,
    subject: Subject,
    run: Annotated[int | None, Query(ge=1, le=1000)] = None,
):
    def work(session) -> list[dict]:
        user = owner_in_session(session, subject, uid)
        return crud.raw_frames(session=session, job=_job_or_404(session, user, job_id), run=run)

    return JSONResponse(await in_db(request, work))
