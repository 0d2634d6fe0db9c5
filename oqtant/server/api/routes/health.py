"""Health check: is the service up and its database reachable."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from oqtant.server.api.deps import SessionDep
from oqtant.server.schemas import Health

__all__ = ["router"]

router = APIRouter(tags=["meta"])


@router.get(
    "/healthz",
    response_model=Health,
    responses={503: {"model": Health, "description": "The database is unreachable"}},
    summary="Is the service and its database up",
)
def healthz(session: SessionDep):
    try:
        session.execute(text("SELECT 1"))
    except SQLAlchemyError:
        return JSONResponse({"status": "degraded", "database": "unavailable"}, status_code=503)
    return {"status": "ok", "database": "ok"}
