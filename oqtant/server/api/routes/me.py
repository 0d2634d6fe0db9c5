"""Who the access token belongs to (for ``oqtant login`` and any client that greets its user)."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter
from pydantic import BaseModel

from oqtant.server.api.deps import CurrentUser
from oqtant.server.api.responses import error_responses

__all__ = ["Me", "router"]

router = APIRouter(tags=["users"])


class Me(BaseModel):
    """The account a token opens."""

    name: str
    external_id: UUID
    is_admin: bool


@router.get(
    "/api/v1/me",
    response_model=Me,
    responses=error_responses(401, 503),
    summary="The account of the access token",
)
async def me(user: CurrentUser) -> dict:
    return {"name": user.name, "external_id": user.external_id, "is_admin": user.is_admin}
