"""Logging in to the console and out of it (the login check is shared with the API's)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request, Response, status
from fastapi.responses import (
    HTMLResponse,
    RedirectResponse,
)

from oqtant.server.api.deps import in_db
from oqtant.server.auth.login import LoginForm, check_login_form, login_page
from oqtant.server.db import crud
from oqtant.server.web.routes._common import (
    _require_csrf,
    _safe_next,
)
from oqtant.server.web.session import (
    clear_session,
    session_claims,
    session_subject,
    start_session,
)

__all__ = ["router"]

router = APIRouter(include_in_schema=False)


LOGIN_CSRF_COOKIE = "oqtant_web_login"


@router.get("/")
def home(request: Request):
    target = "/jobs" if session_subject(request) else "/login"
    return RedirectResponse(target, status_code=status.HTTP_303_SEE_OTHER)


_FORM = LoginForm(action="/login", csrf_cookie=LOGIN_CSRF_COOKIE, cookie_path="/login")


def _login_page(request: Request, next_url: str, *, error=None, username="", code=200):
    return login_page(
        request,
        _FORM,
        hidden={"next": next_url},
        client_id="the oqtant web console",
        redirect_uri=f"{request.base_url}jobs (as a session cookie of this browser)",
        error=error,
        username=username,
        code=code,
    )


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str | None = None):
    return _login_page(request, _safe_next(next))


@router.post("/login")
def login_submit(
    request: Request,
    username: Annotated[str, Form(max_length=100)],
    password: Annotated[str, Form(max_length=1000)],
    csrf: Annotated[str, Form(max_length=200)],
    next: Annotated[str, Form(max_length=2000)] = "/jobs",
):
    next_url = _safe_next(next)

    def refuse(error: str, code: int) -> HTMLResponse:
        return _login_page(request, next_url, error=error, username=username, code=code)

    user = check_login_form(
        request, _FORM, csrf=csrf, username=username, password=password, refuse=refuse
    )
    if isinstance(user, Response):  # refused: the form again, saying why
        return user
    response = RedirectResponse(next_url, status_code=status.HTTP_303_SEE_OTHER)
    start_session(request, response, user.external_id, generation=user.token_generation)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


@router.post("/logout")
async def logout(request: Request, csrf: Annotated[str | None, Form(max_length=200)] = None):
    """End the session: its cookie is cleared here and its token refused from now on."""
    _require_csrf(request, csrf)
    claims = session_claims(request)

    def work(session):
        user = crud.get_user_by_external_id(session=session, external_id=claims.subject)
        if user is not None:
            crud.revoke_session_token(
                session=session,
                user_id=user.id,
                token_id=claims.token_id,
                expires_at=claims.expires_at,
            )

    if claims is not None and claims.token_id and claims.expires_at:
        await in_db(request, work)
    response = RedirectResponse("/login", status_code=status.HTTP_303_SEE_OTHER)
    clear_session(response)
    return response
