"""Login: OAuth2 authorization code with PKCE (S256) for browsers, password grant for scripts.

Redirect URIs are restricted to loopback (the client catches the redirect on
``localhost:<port>``); codes are single use, bound to the PKCE challenge, the
client id and the redirect URI, and expire after five minutes.
"""

from __future__ import annotations

import secrets
from typing import Annotated
from urllib.parse import urlencode, urlsplit, urlunsplit

from fastapi import APIRouter, Form, Request, Response, status
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse

from oqtant.server.api.deps import SessionDep
from oqtant.server.api.responses import token_error_responses
from oqtant.server.auth.login import (
    LoginForm,
    auth_templates,
    check_login,
    check_login_form,
    login_page,
)
from oqtant.server.auth.security import (
    create_access_token,
    is_loopback_redirect,
    verify_pkce,
)
from oqtant.server.db import crud
from oqtant.server.db.models import User
from oqtant.server.schemas import TokenResponse
from oqtant.server.web.session import start_session

__all__ = ["issue_token", "router"]

router = APIRouter(tags=["auth"])

CSRF_COOKIE = "oqtant_csrf"
_FORM = LoginForm(action="/oauth/authorize", csrf_cookie=CSRF_COOKIE, cookie_path="/oauth")
CODE_TTL_SECONDS = 300.0
GRANT_TYPES = ("authorization_code", "password")


def issue_token(request: Request, user: User) -> dict:
    """The token answer for ``user``."""
    settings = request.app.state.settings
    token = create_access_token(
        user.external_id,
        secret_key=request.app.state.secret_key,
        ttl_minutes=settings.token_ttl_minutes,
        generation=user.token_generation,
    )
    return {
        "access_token": token,
        "token_type": "bearer",
        "expires_in": int(settings.token_ttl_minutes * 60),
    }


def _request_params(
    response_type, client_id, redirect_uri, code_challenge, code_challenge_method, state
) -> dict:
    """The parameters of an authorization request, carried through the login form."""
    return {
        "response_type": response_type,
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "code_challenge": code_challenge,
        "code_challenge_method": code_challenge_method,
        "state": state,
    }


def _check_params(
    response_type: str | None,
    client_id: str | None,
    redirect_uri: str | None,
    code_challenge: str | None,
    code_challenge_method: str | None,
) -> str | None:
    """What is wrong with an authorization request, or None."""
    if response_type != "code":
        return "response_type must be 'code'"
    if not client_id or len(client_id) > 200:
        return "client_id is required (at most 200 characters)"
    if not redirect_uri or not is_loopback_redirect(redirect_uri):
        return "redirect_uri must be http://localhost:<port>/... or http://127.0.0.1:<port>/..."
    if code_challenge_method != "S256":
        return "code_challenge_method must be S256"
    if not code_challenge or not 43 <= len(code_challenge) <= 128:
        return "code_challenge is required (the S256 hash of a 43 to 128 character verifier)"
    return None


def _error_page(request: Request, message: str) -> HTMLResponse:
    return auth_templates.TemplateResponse(
        request, "error.html", {"message": message}, status_code=status.HTTP_400_BAD_REQUEST
    )


def _login_page(
    request: Request, params: dict, *, error: str | None = None, username: str = "", code=200
) -> HTMLResponse:
    return login_page(
        request,
        _FORM,
        hidden={k: v for k, v in params.items() if v is not None},
        client_id=params["client_id"],
        redirect_uri=params["redirect_uri"],
        error=error,
        username=username,
        code=code,
    )


# the login pages are for browsers (HTML), not part of the API description
@router.get(
    "/oauth/authorize",
    response_class=HTMLResponse,
    summary="The login page",
    include_in_schema=False,
)
def authorize_form(
    request: Request,
    response_type: str | None = None,
    client_id: str | None = None,
    redirect_uri: str | None = None,
    code_challenge: str | None = None,
    code_challenge_method: str | None = None,
    state: str | None = None,
):
    params = _request_params(
        response_type, client_id, redirect_uri, code_challenge, code_challenge_method, state
    )
    problem = _check_params(**{k: v for k, v in params.items() if k != "state"})
    if problem:
        return _error_page(request, problem)
    return _login_page(request, params)


@router.post(
    "/oauth/authorize", summary="Log in and be redirected with a code", include_in_schema=False
)
def authorize_submit(
    request: Request,
    session: SessionDep,
    username: Annotated[str, Form(max_length=100)],
    password: Annotated[str, Form(max_length=1000)],
    csrf: Annotated[str, Form(max_length=200)],
    response_type: Annotated[str, Form()],
    client_id: Annotated[str, Form()],
    redirect_uri: Annotated[str, Form()],
    code_challenge: Annotated[str, Form()],
    code_challenge_method: Annotated[str, Form()],
    state: Annotated[str | None, Form(max_length=500)] = None,
):
    params = _request_params(
        response_type, client_id, redirect_uri, code_challenge, code_challenge_method, state
    )
    problem = _check_params(**{k: v for k, v in params.items() if k != "state"})
    if problem:
        return _error_page(request, problem)

    def refuse(error: str, code: int) -> HTMLResponse:
        # an expired form is drawn afresh, as when first opened
        kept = username if code != status.HTTP_400_BAD_REQUEST else ""
        return _login_page(request, params, error=error, username=kept, code=code)

    user = check_login_form(
        request, _FORM, csrf=csrf, username=username, password=password, refuse=refuse
    )
    if isinstance(user, Response):  # refused: the form again, saying why
        return user
    code = secrets.token_urlsafe(32)
    crud.create_oauth_code(
        session=session,
        user_id=user.id,
        client_id=client_id,
        redirect_uri=redirect_uri,
        code_challenge=code_challenge,
        code=code,
        ttl_seconds=CODE_TTL_SECONDS,
    )
    parts = urlsplit(redirect_uri)
    query = {"code": code}
    if state is not None:
        query["state"] = state
    sep = "&" if parts.query else ""
    location = urlunsplit(parts._replace(query=parts.query + sep + urlencode(query)))
    response = RedirectResponse(location, status_code=status.HTTP_302_FOUND)
    response.delete_cookie(CSRF_COOKIE, path="/oauth")
    # the browser that logged in for the client is logged in to the console too
    start_session(request, response, user.external_id, generation=user.token_generation)
    return response


def _grant_error(error: str, description: str) -> JSONResponse:
    return JSONResponse(
        {"error": error, "error_description": description, "detail": description},
        status_code=status.HTTP_400_BAD_REQUEST,
        headers={"Cache-Control": "no-store"},
    )


@router.post(
    "/oauth/token",
    summary="Exchange a code (with its PKCE verifier) or a password",
    response_model=TokenResponse,
    responses=token_error_responses(),
)
def token(
    request: Request,
    session: SessionDep,
    grant_type: Annotated[str, Form(json_schema_extra={"enum": list(GRANT_TYPES)})],
    code: Annotated[str | None, Form(max_length=200)] = None,
    code_verifier: Annotated[str | None, Form(max_length=200)] = None,
    redirect_uri: Annotated[str | None, Form(max_length=2000)] = None,
    client_id: Annotated[str | None, Form(max_length=200)] = None,
    username: Annotated[str | None, Form(max_length=100)] = None,
    password: Annotated[str | None, Form(max_length=1000)] = None,
):
    if grant_type == "authorization_code":
        if not code or not code_verifier:
            return _grant_error("invalid_request", "code and code_verifier are required")
        row = crud.consume_oauth_code(session=session, code=code)
        if row is None:
            return _grant_error("invalid_grant", "the code is unknown, expired or already used")
        if redirect_uri != row.redirect_uri or client_id != row.client_id:
            return _grant_error("invalid_grant", "redirect_uri or client_id does not match")
        if not verify_pkce(code_verifier, row.code_challenge):
            return _grant_error("invalid_grant", "the code_verifier does not match the challenge")
        user = session.get(User, row.user_id)
        if user is None:
            return _grant_error("invalid_grant", "the account no longer exists")
        if user.disabled:
            return _grant_error("invalid_grant", "the account is disabled: ask an administrator")
        return issue_token(request, user)
    if grant_type == "password":
        if not username or not password:
            return _grant_error("invalid_request", "username and password are required")
        login = check_login(request, username, password)
        if login.retry_after:
            return JSONResponse(
                {
                    "detail": "too many failed logins: try again in "
                    f"{login.retry_after} s (see Retry-After)"
                },
                status_code=status.HTTP_429_TOO_MANY_REQUESTS,
                headers={"Retry-After": str(login.retry_after), "Cache-Control": "no-store"},
            )
        if login.disabled:
            return _grant_error("invalid_grant", "the account is disabled: ask an administrator")
        if login.user is None:
            return _grant_error("invalid_grant", "wrong user name or password")
        return issue_token(request, login.user)
    return _grant_error(
        "unsupported_grant_type", "grant_type must be authorization_code or password"
    )
