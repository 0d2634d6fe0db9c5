"""Accounts: create, look up, limits, token revocation, disable and delete."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.orm import Session

from oqtant.server.auth.security import TokenClaims, hash_password
from oqtant.server.db.jobs import job_limits
from oqtant.server.db.locks import USER_BY_ID, lock_user
from oqtant.server.db.models import (
    IdempotencyKey,
    Job,
    LoginAttempts,
    OAuthCode,
    RevokedToken,
    Run,
    RunFigure,
    User,
    utcnow,
)
from oqtant.server.db.session import execute_dml, write_transaction
from oqtant.settings import Settings

__all__ = [
    "NameTaken",
    "TokenRejected",
    "create_user",
    "delete_user",
    "get_user_by_external_id",
    "get_user_by_name",
    "list_users",
    "revoke_session_token",
    "revoke_user_tokens",
    "set_user_disabled",
    "set_user_password",
    "set_user_limits",
    "user_of_claims",
    "user_of_token",
    "users_with_limits",
]


_Q_USER_BY_EXTERNAL_ID = select(User).where(User.external_id == bindparam("external_id"))


class NameTaken(ValueError):
    """A user with that name already exists."""


class TokenRejected(Exception):
    """A well-signed token that no longer opens its account; the message says why."""


def create_user(
    *,
    session: Session,
    name: str,
    password: str,
    is_admin: bool = False,
    daily_limit: int,
    max_runs_per_job: int,
    max_pending_jobs: int,
    sim_daily_limit: int | None = None,
    sim_max_pending_jobs: int | None = None,
) -> User:
    """A new account; raises NameTaken when ``name`` exists.

    The simulator limits default to those of ``Settings`` (``default_sim_*``).
    """
    if not name or len(name) > 100 or name != name.strip():
        raise ValueError("a user name is 1 to 100 characters without surrounding spaces")
    if not password:
        raise ValueError("the password must not be empty")
    with write_transaction(session):
        if session.execute(select(User.id).where(User.name == name)).first():
            raise NameTaken(f"a user named {name!r} already exists")
        user = User(
            external_id=str(uuid.uuid4()),
            name=name,
            password_hash=hash_password(password),
            is_admin=is_admin,
            daily_limit=daily_limit,
            max_runs_per_job=max_runs_per_job,
            max_pending_jobs=max_pending_jobs,
            sim_daily_limit=_or_default(sim_daily_limit, "default_sim_daily_limit"),
            sim_max_pending_jobs=_or_default(sim_max_pending_jobs, "default_sim_max_pending_jobs"),
        )
        session.add(user)
    return user


def _or_default(value: int | None, setting: str) -> int:
    """``value``, or the default of the ``Settings`` field ``setting`` when it is None."""
    return Settings.model_fields[setting].default if value is None else value


def get_user_by_name(*, session: Session, name: str) -> User | None:
    if "\x00" in name:  # no name holds NUL (PostgreSQL cannot even compare with it)
        return None
    return session.execute(select(User).where(User.name == name)).scalar_one_or_none()


def get_user_by_external_id(*, session: Session, external_id: str) -> User | None:
    return session.execute(
        _Q_USER_BY_EXTERNAL_ID, {"external_id": external_id}
    ).scalar_one_or_none()


def list_users(*, session: Session) -> list[User]:
    return list(session.execute(select(User).order_by(User.id)).scalars())


def set_user_limits(
    *,
    session: Session,
    user_id: int,
    daily_limit: int | None = None,
    max_runs_per_job: int | None = None,
    max_pending_jobs: int | None = None,
    sim_daily_limit: int | None = None,
    sim_max_pending_jobs: int | None = None,
) -> User:
    """Change any of a user's limits; the others stay."""
    changes = {
        "daily_limit": daily_limit,
        "max_runs_per_job": max_runs_per_job,
        "max_pending_jobs": max_pending_jobs,
        "sim_daily_limit": sim_daily_limit,
        "sim_max_pending_jobs": sim_max_pending_jobs,
    }
    with write_transaction(session):
        user = lock_user(session, user_id)
        for field, value in changes.items():
            if value is not None:
                setattr(user, field, value)
    return user


def user_of_token(
    *, session: Session, external_id: str, generation: int = 0, token_id: str | None = None
) -> User:
    """The user a valid token names, if the token still counts; raises TokenRejected otherwise.

    A token stops counting when its account is deleted or disabled, when the
    user's tokens were revoked since it was issued (its generation is older),
    or, for a console session (``token_id``), when that session logged out.
    """
    user = get_user_by_external_id(session=session, external_id=external_id)
    if user is None:
        raise TokenRejected("the access token's account no longer exists")
    if user.disabled:
        raise TokenRejected(f"the account {user.name!r} is disabled: ask an administrator")
    if generation != user.token_generation:
        raise TokenRejected("the access token was revoked: log in again")
    if token_id is not None and session.get(RevokedToken, token_id) is not None:
        raise TokenRejected("this session was logged out: log in again")
    return user


def user_of_claims(*, session: Session, claims: TokenClaims) -> User:
    """:func:`user_of_token` of a decoded token's claims (bearer token or console session)."""
    return user_of_token(
        session=session,
        external_id=claims.subject,
        generation=claims.generation,
        token_id=claims.token_id,
    )


def users_with_limits(*, session: Session) -> list[tuple[User, dict]]:
    """Every user, in id order, with their limits and current use (see ``job_limits``)."""
    return [(u, job_limits(session=session, user=u)) for u in list_users(session=session)]


def _write_user(session: Session, user_id: int, **values) -> User:
    """Apply ``values`` to the user row (``token_generation`` is moved on by one) and commit."""
    with write_transaction(session):
        session.execute(
            update(User)
            .where(User.id == user_id)
            .values(token_generation=User.token_generation + 1, **values)
        )
        user = session.execute(
            USER_BY_ID.execution_options(populate_existing=True), {"user_id": user_id}
        ).scalar_one_or_none()
        if user is None:
            raise LookupError(f"no user with id {user_id}")
        return user


def revoke_user_tokens(*, session: Session, user_id: int) -> User:
    """Refuse every token and console session issued to the user so far."""
    return _write_user(session, user_id)


def set_user_disabled(*, session: Session, user_id: int, disabled: bool) -> User:
    """Disable (no login, every token refused) or enable an account.

    Disabling revokes the user's tokens, so enabling again does not bring them back.
    """
    return _write_user(session, user_id, disabled=disabled)


def set_user_password(*, session: Session, user_id: int, password: str) -> User:
    """Give the account a new password; every token and console session so far is refused."""
    if not password:
        raise ValueError("the password must not be empty")
    return _write_user(session, user_id, password_hash=hash_password(password))


def delete_user(*, session: Session, user_id: int) -> int:
    """Delete an account with its jobs, runs and results; returns how many jobs went with it.

    Pending runs leave the queue with the account. A run being executed at that
    moment finishes, and its result is dropped (its worker finds the run gone,
    as if its lease had been lost). The account's tokens are refused from then on.
    """
    with write_transaction(session):
        user = lock_user(session, user_id)
        job_ids = select(Job.id).where(Job.user_id == user_id)
        session.execute(delete(IdempotencyKey).where(IdempotencyKey.user_id == user_id))
        session.execute(delete(RunFigure).where(RunFigure.job_id.in_(job_ids)))
        session.execute(delete(Run).where(Run.job_id.in_(job_ids)))
        jobs = execute_dml(session, delete(Job).where(Job.user_id == user_id)).rowcount
        session.execute(delete(OAuthCode).where(OAuthCode.user_id == user_id))
        session.execute(delete(RevokedToken).where(RevokedToken.user_id == user_id))
        session.execute(delete(LoginAttempts).where(LoginAttempts.key == f"user:{user.name}"))
        session.delete(user)
        return jobs


def revoke_session_token(
    *, session: Session, user_id: int, token_id: str, expires_at: datetime
) -> None:
    """Refuse the console session ``token_id`` from now until it would have expired."""
    with write_transaction(session):
        now = utcnow()
        session.execute(delete(RevokedToken).where(RevokedToken.expires_at < now))
        if session.get(RevokedToken, token_id) is None and expires_at > now:
            session.add(RevokedToken(token_id=token_id, user_id=user_id, expires_at=expires_at))
