"""Administration: list users, set their limits (admin token required)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, status

from oqtant.schemas.job import NO_NUL_PATTERN, NoNul
from oqtant.server.api.deps import AdminUser, SessionDep
from oqtant.server.api.responses import BODY_ERRORS, error_responses
from oqtant.server.db import crud
from oqtant.server.schemas import JobLimits, LimitsUpdate, UserPublic

__all__ = ["router"]

router = APIRouter(
    prefix="/api/v1/admin", tags=["admin"], responses=error_responses(401, 403, 422, 503)
)


@router.get("/users", response_model=list[UserPublic], summary="Every user with limits and use")
def list_users(admin: AdminUser, session: SessionDep) -> list[dict]:
    return [
        {
            "name": u.name,
            "external_id": u.external_id,
            "is_admin": u.is_admin,
            "created_at": u.created_at,
            "limits": limits,
        }
        for u, limits in crud.users_with_limits(session=session)
    ]


@router.put(
    "/users/{name}/limits",
    response_model=JobLimits,
    responses=error_responses(*BODY_ERRORS, 404),
    summary="Set a user's limits",
)
def set_limits(
    name: Annotated[str, Path(max_length=100, pattern=NO_NUL_PATTERN), NoNul],
    body: LimitsUpdate,
    admin: AdminUser,
    session: SessionDep,
) -> dict:
    user = crud.get_user_by_name(session=session, name=name)
    if user is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no user named {name!r}")
    user = crud.set_user_limits(session=session, user_id=user.id, **body.model_dump())
    return crud.job_limits(session=session, user=user)
