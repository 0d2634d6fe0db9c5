"""A user's own limits and usage."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from oqtant.server.api.deps import Subject, in_db, owner_in_session
from oqtant.server.api.responses import error_responses
from oqtant.server.db import crud
from oqtant.server.schemas import JobLimits

__all__ = ["router"]

router = APIRouter(
    prefix="/api/v1/users/{uid}", tags=["users"], responses=error_responses(401, 404, 422, 503)
)


@router.get("/job_limits", response_model=JobLimits, summary="The user's quotas and use")
async def job_limits(request: Request, uid: str, subject: Subject):
    def work(session) -> dict:
        return crud.job_limits(session=session, user=owner_in_session(session, subject, uid))

    return JSONResponse(await in_db(request, work))
