"""The console's static files (CSS and JavaScript)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, status
from fastapi.responses import (
    FileResponse,
)

from oqtant.server.web.routes._common import (
    _HERE,
)

__all__ = ["router"]

router = APIRouter(include_in_schema=False)

_STATIC = _HERE / "static"


STATIC_FILES = {"app.css": "text/css", "app.js": "text/javascript", "compose.js": "text/javascript"}


@router.get("/favicon.ico")
def favicon():
    """The console's icon (browsers ask every site for it; a 404 would be logged on each page)."""
    return FileResponse(
        _STATIC / "favicon.svg",
        media_type="image/svg+xml",
        headers={"Cache-Control": "public, max-age=86400"},
    )


@router.get("/web-static/{name}")
def static_file(name: str):
    media = STATIC_FILES.get(name)
    if media is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="no such file")
    return FileResponse(
        _STATIC / name, media_type=media, headers={"Cache-Control": "public, max-age=3600"}
    )
