"""The console's session cookie and its CSRF tokens.

The session cookie holds an access token signed like every other token of the
service (:func:`oqtant.server.auth.security.create_access_token`); it is
HttpOnly and SameSite=Lax. Each form carries a CSRF token derived from the
session token by an HMAC with the server's key, so a page of another site can
neither read nor forge it.
"""

from __future__ import annotations

import hashlib
import hmac

from fastapi import Request, Response

from oqtant.server.auth.security import InvalidToken, create_access_token, decode_access_token

__all__ = [
    "CSRF_HEADER",
    "SESSION_COOKIE",
    "clear_session",
    "csrf_for",
    "csrf_ok",
    "session_subject",
    "start_session",
]

SESSION_COOKIE = "oqtant_session"
CSRF_HEADER = "X-CSRF-Token"


def start_session(request: Request, response: Response, external_id: str) -> None:
    """Set the session cookie of the user ``external_id`` on ``response``."""
    settings = request.app.state.settings
    token = create_access_token(
        external_id, secret_key=request.app.state.secret_key, ttl_minutes=settings.token_ttl_minutes
    )
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(settings.token_ttl_minutes * 60),
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path="/",
    )


def clear_session(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/")


def session_subject(request: Request) -> str | None:
    """The external id of the logged-in user, or None (no cookie, expired, tampered)."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    try:
        return decode_access_token(token, secret_key=request.app.state.secret_key)
    except InvalidToken:
        return None


def csrf_for(request: Request) -> str:
    """The CSRF token of the current session ('' without a session)."""
    token = request.cookies.get(SESSION_COOKIE, "")
    if not token:
        return ""
    key = request.app.state.secret_key.encode()
    return hmac.new(key, f"web-csrf:{token}".encode(), hashlib.sha256).hexdigest()


def csrf_ok(request: Request, sent: str | None) -> bool:
    """True when ``sent`` is the CSRF token of the current session."""
    expected = csrf_for(request)
    return bool(expected) and bool(sent) and hmac.compare_digest(expected, sent)
