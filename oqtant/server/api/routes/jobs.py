"""Jobs of one user: submit, get (one run at a time), search, queue, cancel, delete, raw images."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Annotated

from fastapi import APIRouter, Header, HTTPException, Query, Request, Response, status

from oqtant.schemas.job import JobCreateResponse, JobStatus, JobType
from oqtant.server.api.deps import OwnerUser, SessionDep
from oqtant.server.api.views import job_detail, job_summary
from oqtant.server.db import crud
from oqtant.server.db.models import Job
from oqtant.server.schemas import JobList, JobSubmit, JobSummary, QueueList

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/users/{uid}", tags=["jobs"])

Limit = Annotated[int, Query(ge=1, le=100, description="at most this many jobs")]


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value


def _parallel(request: Request) -> int:
    return max(request.app.state.settings.workers, 1)


def _job_or_404(session, user, job_id: str) -> Job:
    job = crud.get_job(session=session, user_id=user.id, external_id=job_id)
    if job is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no job {job_id} (or not yours)")
    return job


def _summaries(request: Request, session, jobs: list[Job]) -> list[dict]:
    active = [j.id for j in jobs if j.status in ("PENDING", "RUNNING")]
    infos = crud.queue_info(session=session, job_ids=active, parallel_runs=_parallel(request))
    return [job_summary(j, infos.get(j.id)) for j in jobs]


@router.post(
    "/jobs",
    status_code=status.HTTP_201_CREATED,
    response_model=JobCreateResponse,
    summary="Submit a job (1 to 30 runs) to the queue",
)
def submit_job(
    request: Request,
    uid: str,
    user: OwnerUser,
    session: SessionDep,
    job: JobSubmit,
    idempotency_key: Annotated[str | None, Header(max_length=100)] = None,
) -> dict:
    answer = crud.submit_job(
        session=session,
        user_id=user.id,
        job=job,
        idempotency_key=idempotency_key,
        parallel_runs=_parallel(request),
    )
    dispatcher = getattr(request.app.state, "dispatcher", None)
    if dispatcher is not None:
        dispatcher.wake()
    return answer


@router.get("/jobs/{job_id}", summary="A job with one run's input and output")
def get_job(
    uid: str,
    job_id: str,
    user: OwnerUser,
    session: SessionDep,
    run: Annotated[int, Query(ge=1, le=1000, description="which run (1-based)")] = 1,
) -> dict:
    job = _job_or_404(session, user, job_id)
    row = crud.get_run(session=session, job_id=job.id, run=run)
    if row is None:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            detail=f"job {job_id} has no run {run} (it has {job.input_count} runs)",
        )
    return job_detail(job, row, crud.failed_runs(session=session, job_id=job.id))


@router.get("/jobs", response_model=JobList, summary="Search the user's jobs, newest first")
def search_jobs(
    request: Request,
    uid: str,
    user: OwnerUser,
    session: SessionDep,
    job_type: JobType | None = None,
    name: Annotated[str | None, Query(max_length=100)] = None,
    submit_start: datetime | None = None,
    submit_end: datetime | None = None,
    notes: Annotated[str | None, Query(max_length=500)] = None,
    limit: Limit = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
    status_: Annotated[list[JobStatus] | None, Query(alias="status")] = None,
) -> dict:
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


@router.get("/queue", response_model=QueueList, summary="The user's jobs in queue order")
def queue_status(
    request: Request,
    uid: str,
    user: OwnerUser,
    session: SessionDep,
    job_type: JobType | None = None,
    name: Annotated[str | None, Query(max_length=100)] = None,
    submit_start: datetime | None = None,
    submit_end: datetime | None = None,
    notes: Annotated[str | None, Query(max_length=500)] = None,
    note: Annotated[str | None, Query(max_length=500)] = None,
    limit: Limit = 100,
    include_complete: bool = False,
    status_: Annotated[list[JobStatus] | None, Query(alias="status")] = None,
) -> dict:
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


@router.put("/jobs/{job_id}/cancel", response_model=JobSummary, summary="Cancel a job")
def cancel_job(
    request: Request, uid: str, job_id: str, user: OwnerUser, session: SessionDep
) -> dict:
    job = _job_or_404(session, user, job_id)
    job = crud.cancel_job(session=session, job_id=job.id)
    return _summaries(request, session, [job])[0]


@router.delete(
    "/jobs/{job_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Delete a job"
)
def delete_job(uid: str, job_id: str, user: OwnerUser, session: SessionDep) -> Response:
    job = _job_or_404(session, user, job_id)
    crud.delete_job(session=session, job_id=job.id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/jobs/{job_id}/raw_images", summary="Raw absorption frames of one run")
def raw_images(
    uid: str,
    job_id: str,
    user: OwnerUser,
    session: SessionDep,
    run: Annotated[int | None, Query(ge=1, le=1000)] = None,
) -> list[dict]:
    job = _job_or_404(session, user, job_id)
    frames: list[dict] = []
    for row in crud.get_runs_with_images(session=session, job_id=job.id):
        if run is not None and row.run != run:
            continue
        for image in json.loads(row.raw_images_json or "[]"):
            image["job_external_id"] = job.external_id
            image["run"] = row.run
            frames.append(image)
    return frames
