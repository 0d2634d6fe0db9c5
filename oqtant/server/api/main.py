"""All routers of the API, joined."""

from __future__ import annotations

from fastapi import APIRouter

from oqtant.server.api.routes import admin, auth, health, jobs, users, version
from oqtant.server.api.routes.me import router as me_router

__all__ = ["api_router"]

api_router = APIRouter()
for _module in (version, health, jobs, users, admin, auth):
    api_router.include_router(_module.router)
api_router.include_router(me_router)
