"""One login check for every login form and the password grant: limiter first, then password.

The attempt is reserved with the limiter before the password is looked at (see
:mod:`oqtant.server.auth.ratelimit`); a refused attempt checks nothing. The two
login forms (the OAuth2 authorization page and the console's ``/login``) are
drawn by :func:`login_page` and checked by :func:`check_login_form`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from fastapi import Request, Response, status
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, select_autoescape

from oqtant.server.auth.addresses import address_key
from oqtant.server.auth.security import check_csrf_token, new_csrf_token, verify_password
from oqtant.server.db import crud
from oqtant.server.db.models import User

__all__ = [
    "LoginForm",
    "LoginResult",
    "auth_templates",
    "check_login",
    "check_login_form",
    "login_code",
    "login_page",
    "login_problem",
]

#: the pages of the login flow (login form, error page)
auth_templates = Jinja2Templates(
    env=Environment(
        loader=FileSystemLoader(str(Path(__file__).resolve().parent / "templates")),
        autoescape=select_autoescape(["html"]),
    )
)
EXPIRED_FORM = "The form expired; please log in again."


@dataclass(frozen=True)
class LoginResult:
    """The user when the login is good; otherwise what went wrong.

    ``retry_after`` > 0: too many failures, try again after that many seconds
    (the password was not checked). ``disabled``: the password was right but
    the account is disabled. Otherwise: wrong user name or password.
    """

    user: User | None = None
    retry_after: int = 0
    disabled: bool = False


def check_login(request: Request, username: str, password: str) -> LoginResult:
    """Check ``username``/``password`` under the login limiter (blocking: call from a thread)."""
    limiter = request.app.state.login_limiter
    # the key is stored: characters a database cannot hold (NUL) are escaped in it
    keys = (f"user:{username.encode('unicode_escape').decode('ascii')}", address_key(request))
    wait = limiter.reserve(*keys)
    if wait:
        return LoginResult(retry_after=wait)
    with request.app.state.session_factory() as session:
        user = crud.get_user_by_name(session=session, name=username)
    if not verify_password(password, user.password_hash if user else None) or user is None:
        return LoginResult()
    limiter.succeeded(*keys)
    if user.disabled:
        return LoginResult(disabled=True)
    return LoginResult(user=user)


def login_problem(login: LoginResult) -> str:
    """What a login form says when ``login`` let nobody in."""
    if login.retry_after:
        return (
            f"Too many failed attempts; try again in {login.retry_after} "
            f"second{'s' if login.retry_after != 1 else ''}."
        )
    if login.disabled:
        return "This account is disabled; ask an administrator."
    return "Wrong user name or password."


def login_code(login: LoginResult) -> int:
    """The HTTP status of a login form that let nobody in."""
    if login.retry_after:
        return status.HTTP_429_TOO_MANY_REQUESTS
    return status.HTTP_403_FORBIDDEN if login.disabled else status.HTTP_401_UNAUTHORIZED


@dataclass(frozen=True)
class LoginForm:
    """A login form: where it posts, and the cookie (and its path) holding its CSRF token."""

    action: str
    csrf_cookie: str
    cookie_path: str


def login_page(
    request: Request,
    form: LoginForm,
    *,
    hidden: dict,
    client_id: str,
    redirect_uri: str,
    error: str | None = None,
    username: str = "",
    code: int = 200,
) -> HTMLResponse:
    """The login page of ``form``, with a fresh CSRF token (set as its cookie too)."""
    csrf = new_csrf_token(request.app.state.secret_key)
    response = auth_templates.TemplateResponse(
        request,
        "login.html",
        {
            "action": form.action,
            "csrf": csrf,
            "hidden": hidden,
            "username": username,
            "error": error,
            "client_id": client_id,
            "redirect_uri": redirect_uri,
        },
        status_code=code,
    )
    response.set_cookie(
        form.csrf_cookie,
        csrf,
        httponly=True,
        samesite="strict",
        path=form.cookie_path,
        max_age=1800,
    )
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Cache-Control"] = "no-store"
    return response


def check_login_form(
    request: Request,
    form: LoginForm,
    *,
    csrf: str,
    username: str,
    password: str,
    refuse: Callable[[str, int], Response],
) -> User | Response:
    """The user of a posted login form, or the answer that refuses it (blocking: in a thread).

    ``refuse(error, status_code)`` draws the form again with ``error``; a refusal
    for too many failures carries ``Retry-After``.
    """
    secret = request.app.state.secret_key
    if not check_csrf_token(csrf, request.cookies.get(form.csrf_cookie), secret):
        return refuse(EXPIRED_FORM, status.HTTP_400_BAD_REQUEST)
    login = check_login(request, username, password)
    if login.user is None:
        response = refuse(login_problem(login), login_code(login))
        if login.retry_after:
            response.headers["Retry-After"] = str(login.retry_after)
        return response
    return login.user
