"""Error answers: JSON ``{"detail": ..., "errors": [{"field", "rule"}]}`` a physicist can read."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request, status
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException

from oqtant.errors import QuotaExceededError
from oqtant.server.db.crud import StateConflict
from oqtant.server.db.session import DatabaseBusy

__all__ = ["install_error_handlers", "validation_errors"]

log = logging.getLogger("oqtant.server")


def validation_errors(exc: RequestValidationError) -> list[dict]:
    """One ``{"field", "rule"}`` per violated rule; the field path is dotted, without 'body'."""
    out = []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ())]
        if loc and loc[0] in ("body", "query", "path", "header"):
            where, loc = loc[0], loc[1:]
            if where != "body" and not loc:
                loc = [where]
        msg = str(err.get("msg", "invalid value"))
        msg = msg.removeprefix("Value error, ")
        out.append({"field": ".".join(loc) or "(body)", "rule": msg})
    return out


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers that shape every error answer."""

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = validation_errors(exc)
        lines = "; ".join(f"{e['field']}: {e['rule']}" for e in errors)
        return JSONResponse(
            {"detail": f"Invalid input: {len(errors)} problem(s): {lines}", "errors": errors},
            status_code=422,
        )

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> Response:
        cause = exc.__cause__
        if exc.status_code == 400 and isinstance(cause, (UnicodeError, RecursionError, ValueError)):
            # the framework's "error parsing the body": say what was wrong with it
            why = "nested too deeply" if isinstance(cause, RecursionError) else str(cause)[:200]
            return JSONResponse(
                {"detail": f"the request body is not valid UTF-8 JSON: {why}"}, status_code=400
            )
        return await http_exception_handler(request, exc)

    @app.exception_handler(QuotaExceededError)
    async def _quota(request: Request, exc: QuotaExceededError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=status.HTTP_429_TOO_MANY_REQUESTS)

    @app.exception_handler(StateConflict)
    async def _conflict(request: Request, exc: StateConflict) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=status.HTTP_409_CONFLICT)

    @app.exception_handler(DatabaseBusy)
    @app.exception_handler(OperationalError)
    @app.exception_handler(DBAPIError)
    async def _database(request: Request, exc: Exception) -> JSONResponse:
        log.error("database error on %s %s: %s", request.method, request.url.path, exc)
        return _unavailable("the database is unavailable or busy; try again in a moment")

    app.add_exception_handler(PoolTimeoutError, database_pool_timeout)


def _unavailable(detail: str) -> JSONResponse:
    """503 with ``Retry-After``: the database could not answer; the client may retry."""
    return JSONResponse(
        {"detail": detail},
        status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
        headers={"Retry-After": "2"},
    )


async def database_pool_timeout(request: Request, exc: Exception) -> JSONResponse:
    """503 when no pooled database connection became free in time (the database hangs)."""
    log.error("no database connection free on %s %s: %s", request.method, request.url.path, exc)
    return _unavailable(
        "the database is unavailable or busy: no database connection became "
        "free in time; try again in a moment"
    )
