"""The console's session cookie and its CSRF tokens.

The session cookie holds an access token signed like every other token of the
service (:func:`oqtant.server.auth.security.create_access_token`); it is
HttpOnly and SameSite=Lax. Its token id (``jti``) lets logging out refuse that
one session on the server, so a copy of the cookie dies with it. Each form
carries a CSRF token derived from the session token by an HMAC with the
server's key, so a page of another site can neither read nor forge it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from fastapi import Request, Response

from oqtant.server.auth.addresses import is_https
from oqtant.server.auth.security import InvalidToken, TokenClaims, create_access_token, decode_token

__all__ = [
    "CSRF_HEADER",
    "SESSION_COOKIE",
    "clear_session",
    "csrf_for",
    "csrf_ok",
    "session_claims",
    "session_subject",
    "start_session",
]

SESSION_COOKIE = "oqtant_session"
CSRF_HEADER = "X-CSRF-Token"


def start_session(
    request: Request, response: Response, external_id: str, *, generation: int = 0
) -> None:
    """Set a new session cookie of user ``external_id`` (token ``generation``) on ``response``."""
    settings = request.app.state.settings
    token = create_access_token(
        external_id,
        secret_key=request.app.state.secret_key,
        ttl_minutes=settings.token_ttl_minutes,
        generation=generation,
        token_id=secrets.token_urlsafe(18),
    )
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(settings.token_ttl_minutes * 60),
        httponly=True,
        samesite="lax",
        secure=is_https(request),
        path="/",
    )


def clear_session(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/")


def session_claims(request: Request) -> TokenClaims | None:
    """The claims of the session cookie, or None (no cookie, expired, tampered).

    Whether the session still counts (not logged out, not revoked) is for the
    database to say: :func:`oqtant.server.db.crud.user_of_token`.
    """
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    try:
        return decode_token(token, secret_key=request.app.state.secret_key)
    except InvalidToken:
        return None


def session_subject(request: Request) -> str | None:
    """The external id of the session cookie's user, or None (no cookie, expired, tampered)."""
    claims = session_claims(request)
    return claims.subject if claims else None


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
    return bool(expected) and bool(sent) and hmac.compare_digest(expected, sent or "")
