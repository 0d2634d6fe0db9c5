"""The server's version (no login needed: clients check compatibility with it)."""

from __future__ import annotations

from fastapi import APIRouter

from oqtant import __version__
from oqtant.server.schemas import VersionInfo

__all__ = ["router"]

router = APIRouter(tags=["meta"])


@router.get("/api/v1/version", response_model=VersionInfo, summary="The server's version")
def version() -> dict:
    return {"version": __version__, "api": "v1"}
