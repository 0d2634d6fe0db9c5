"""One login check for every login form and the password grant: limiter first, then password.

The attempt is reserved with the limiter before the password is looked at (see
:mod:`oqtant.server.auth.ratelimit`); a refused attempt checks nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request, status

from oqtant.server.auth.addresses import address_key
from oqtant.server.auth.security import verify_password
from oqtant.server.db import crud
from oqtant.server.db.models import User

__all__ = ["LoginResult", "check_login", "login_code", "login_problem"]


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
    if not verify_password(password, user.password_hash if user else None):
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
