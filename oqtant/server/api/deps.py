"""Dependencies of the routes: the database session and the authenticated user."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Annotated, TypeVar

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from oqtant.server.auth.security import InvalidToken, TokenClaims, decode_token
from oqtant.server.db import crud
from oqtant.server.db.models import User
from oqtant.settings import Settings

__all__ = [
    "AdminUser",
    "CurrentUser",
    "OwnerUser",
    "SessionDep",
    "SettingsDep",
    "Subject",
    "get_session",
    "in_db",
    "owner_in_session",
]

T = TypeVar("T")

_bearer = HTTPBearer(auto_error=False, description="an access token from /oauth/token")


# The dependencies are async and hop to a worker thread only for database work:
# FastAPI runs each sync dependency in its own thread hop, which costs more than
# the dependency itself on a busy machine.


async def get_session(request: Request) -> AsyncIterator[Session]:
    """One database session per request (no connection is taken until it is used)."""
    session = request.app.state.session_factory()
    try:
        yield session
    finally:
        await run_in_threadpool(session.close)


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


SessionDep = Annotated[Session, Depends(get_session)]
SettingsDep = Annotated[Settings, Depends(get_settings)]


def _unauthorized(message: str) -> HTTPException:
    return HTTPException(
        status_code=status.HTTP_401_UNAUTHORIZED,
        detail=message,
        headers={"WWW-Authenticate": "Bearer"},
    )


async def get_subject(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> TokenClaims:
    """The claims (user's external id, ...) of a valid bearer token; 401 otherwise. No database."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise _unauthorized("not logged in: send 'Authorization: Bearer <token>'")
    try:
        return decode_token(credentials.credentials, secret_key=request.app.state.secret_key)
    except InvalidToken as exc:
        raise _unauthorized(str(exc)) from None


Subject = Annotated[TokenClaims, Depends(get_subject)]


def _token_user(session: Session, subject: TokenClaims) -> User:
    """The token's user, if the token still counts (not revoked, account enabled); 401 otherwise."""
    try:
        return crud.user_of_claims(session=session, claims=subject)
    except crud.TokenRejected as exc:
        raise _unauthorized(str(exc)) from None


async def get_current_user(session: SessionDep, subject: Subject) -> User:
    """The user named by a valid bearer token; 401 otherwise."""
    return await run_in_threadpool(_token_user, session, subject)


CurrentUser = Annotated[User, Depends(get_current_user)]


async def get_owner(uid: str, user: CurrentUser) -> User:
    """The current user, if ``{uid}`` in the path is theirs; 404 otherwise (nothing leaks)."""
    if uid != user.external_id:
        raise HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail=f"no user {uid}")
    return user


OwnerUser = Annotated[User, Depends(get_owner)]


async def get_admin(user: CurrentUser) -> User:
    if not user.is_admin:
        raise HTTPException(status_code=status.HTTP_403_FORBIDDEN, detail="admins only")
    return user


AdminUser = Annotated[User, Depends(get_admin)]


def owner_in_session(session: Session, subject: TokenClaims, uid: str) -> User:
    """The token's user, if ``{uid}`` is theirs (404 otherwise; 401 if the token is revoked)."""
    if uid != subject.subject:
        raise HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail=f"no user {uid}")
    return _token_user(session, subject)


async def in_db(request: Request, work: Callable[[Session], T]) -> T:
    """Run ``work(session)`` in one worker thread with its own session.

    The hot routes do all their database work in a single thread hop: on a busy
    machine each hop between the event loop and a worker costs more than a query.
    """

    def run() -> T:
        with request.app.state.session_factory() as session:
            return work(session)

    return await run_in_threadpool(run)
