"""The interactive API description (Swagger UI) at ``/docs``, served from this server.

The Swagger UI files come from the ``fastapi-offline`` package (Swagger UI 5,
which reads the OpenAPI 3.1 description this server writes): no page loads
anything from a CDN, so ``/docs`` works on a closed network and its
Content-Security-Policy allows this server only. ``/openapi.json`` is the
description itself; ReDoc is not served.
"""

from __future__ import annotations

from importlib.resources import files

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse

__all__ = ["DOCS_STATIC", "router"]

router = APIRouter(include_in_schema=False)

DOCS_STATIC = "/docs-static"
_FILES = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "favicon.png": "image/png",
}


@router.get("/docs", response_class=HTMLResponse)
def swagger_ui(request: Request) -> HTMLResponse:
    root = request.scope.get("root_path", "")
    return get_swagger_ui_html(
        openapi_url=f"{root}{request.app.openapi_url}",
        title=f"{request.app.title} - API",
        swagger_js_url=f"{root}{DOCS_STATIC}/swagger-ui-bundle.js",
        swagger_css_url=f"{root}{DOCS_STATIC}/swagger-ui.css",
        swagger_favicon_url=f"{root}{DOCS_STATIC}/favicon.png",
        oauth2_redirect_url=None,
    )


@router.get(DOCS_STATIC + "/{name}")
def swagger_ui_file(name: str) -> FileResponse:
    media = _FILES.get(name)
    if media is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="no such file")
    path = files("fastapi_offline") / "static" / name
    return FileResponse(
        str(path), media_type=media, headers={"Cache-Control": "public, max-age=86400"}
    )
