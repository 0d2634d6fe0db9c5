"""A user's own limits and usage."""

from __future__ import annotations

from fastapi import APIRouter

from oqtant.server.api.deps import OwnerUser, SessionDep
from oqtant.server.db import crud
from oqtant.server.schemas import JobLimits

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/users/{uid}", tags=["users"])


@router.get("/job_limits", response_model=JobLimits, summary="The user's quotas and use")
def job_limits(uid: str, user: OwnerUser, session: SessionDep) -> dict:
    return crud.job_limits(session=session, user=user)
