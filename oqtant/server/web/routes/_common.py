"""What every page of the console shares: templates, the session's user, page and error helpers.

Every page reads the user from the session cookie (see :mod:`oqtant.server.web.session`);
pages send anonymous visitors to ``/login``, fragments and JSON answer 401. Every
POST checks the session's CSRF token. A job is looked up with its owner's id,
so another user's job answers 404 exactly like a job that does not exist.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

from fastapi import HTTPException, Query, Request, status
from fastapi.responses import (
    HTMLResponse,
)
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, select_autoescape

from oqtant.server.db import crud
from oqtant.server.db.models import User
from oqtant.server.web.session import (
    csrf_for,
    csrf_ok,
    session_claims,
)

__all__ = [
    "_AUTH_TEMPLATES",
    "_DONE_MESSAGES",
    "_HERE",
    "RunNumber",
    "RunQuery",
    "_SECURITY_HEADERS",
    "_error_page",
    "_fmt_time",
    "_fmt_wait",
    "_job_or_none",
    "_login_redirect",
    "_not_found",
    "_page",
    "_parallel",
    "_quote",
    "_require_csrf",
    "_require_user",
    "_safe_next",
    "templates",
    "_user_in",
    "fmt_mhz",
]


_HERE = Path(__file__).resolve().parents[1]  # oqtant/server/web


_AUTH_TEMPLATES = _HERE.parent / "auth" / "templates"


templates = Jinja2Templates(
    env=Environment(
        loader=FileSystemLoader([str(_HERE / "templates"), str(_AUTH_TEMPLATES)]),
        autoescape=select_autoescape(["html"]),
    )
)


_SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; script-src 'self'; "
        "style-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


_DONE_MESSAGES = {
    "cancelled": "The job was cancelled.",
    "deleted": "The job was deleted.",
    "finished": "The job had already finished: nothing to cancel.",
    "limits": "Limits saved.",
    "disabled": "The account was disabled: it cannot log in and its tokens are refused.",
    "enabled": "The account was enabled: it can log in again.",
    "revoked": "Every token and console session of the account is refused from now on.",
    "removed": "The account was deleted with its jobs.",
}


RunQuery = Query(ge=1, le=1000, description="which run (1-based)")


RunNumber = Annotated[int, RunQuery]


def _fmt_time(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if value else ""


def _fmt_wait(seconds: int | None) -> str:
    if not seconds:
        return ""
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min {secs} s"
    return f"{secs} s"


def fmt_mhz(value: float) -> str:
    """An RF frequency in MHz to 4 significant digits, in fixed point, trailing zeros dropped.

    ``0.0104183`` -> ``"0.01042"``, ``21.5`` -> ``"21.5"``, ``0.5`` -> ``"0.5"``,
    ``1.0`` -> ``"1"``.
    """
    value = float(value)
    if value == 0 or not math.isfinite(value):
        return f"{value:g}"
    decimals = max(0, 3 - math.floor(math.log10(abs(value))))
    text = f"{value:.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


templates.env.filters["when"] = _fmt_time


templates.env.filters["mhz"] = fmt_mhz


templates.env.filters["wait"] = _fmt_wait


def _user_in(session, request: Request) -> User | None:
    """The session's user, if the session still counts (not logged out, revoked or disabled)."""
    claims = session_claims(request)
    if claims is None:
        return None
    try:
        return crud.user_of_claims(session=session, claims=claims)
    except crud.TokenRejected:
        return None


def _login_redirect(request: Request) -> HTTPException:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    location = "/login" + (f"?next={_quote(target)}" if target not in ("/", "/jobs") else "")
    return HTTPException(status.HTTP_303_SEE_OTHER, headers={"Location": location})


def _quote(text: str) -> str:
    from urllib.parse import quote

    return quote(text, safe="/")


def _require_user(session, request: Request, *, page: bool = True) -> User:
    user = _user_in(session, request)
    if user is None:
        if page:
            raise _login_redirect(request)
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, detail="not logged in")
    return user


def _require_csrf(request: Request, sent: str | None) -> None:
    if not csrf_ok(request, sent):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            detail="the form's security token is missing or stale: reload the page and try again",
        )


def _page(
    request: Request, name: str, context: dict, *, code: int = 200, user: User | None = None
) -> HTMLResponse:
    context = {"user": user, "csrf": csrf_for(request), "nav": name, **context}
    response = templates.TemplateResponse(request, name, context, status_code=code)
    response.headers.update(_SECURITY_HEADERS)
    return response


def _error_page(request: Request, user: User | None, code: int, title: str, message: str):
    return _page(
        request, "page_error.html", {"title": title, "problem": message}, code=code, user=user
    )


def _parallel(request: Request) -> int:
    return max(request.app.state.settings.workers, 1)


def _job_or_none(session, user: User, job_id: str):
    if len(job_id) > 64:
        return None
    return crud.get_job(session=session, user_id=user.id, external_id=job_id)


def _not_found(request: Request, user: User, job_id: str) -> HTMLResponse:
    return _error_page(
        request, user, 404, "Job not found", f"There is no job {job_id} among your jobs."
    )


def _safe_next(target: str | None) -> str:
    if (
        not target
        or not target.startswith("/")
        or target.startswith("//")
        or "\\" in target
        or any(ord(c) < 32 for c in target)  # browsers drop tabs and newlines: "/\t/x" is "//x"
    ):
        return "/jobs"
    return target
