"""Row locks shared by the aggregates: a user's row, a job's row (PostgreSQL ``FOR UPDATE``)."""

from __future__ import annotations

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from oqtant.server.db.models import (
    Job,
    User,
)
from oqtant.server.db.session import is_postgresql

__all__ = [
    "USER_BY_ID",
    "lock_job",
    "lock_user",
]


# Statements on the hot paths (submit, get, search) are built once: building a
# SQLAlchemy statement costs more than running it on SQLite.
USER_BY_ID = select(User).where(User.id == bindparam("user_id"))


def lock_user(session: Session, user_id: int) -> User:
    """The user row, locked for the transaction on PostgreSQL (SQLite holds the write lock)."""
    if not is_postgresql(session):
        # SQLite: the write transaction already excludes other writers; the row is
        # usually in the session's identity map (looked up for authentication)
        user = session.get(User, user_id)
        if user is None:
            raise LookupError(f"no user with id {user_id}")
        return user
    return session.execute(USER_BY_ID.with_for_update(), {"user_id": user_id}).scalar_one()


def lock_job(session: Session, job_id: int) -> Job:
    stmt = select(Job).where(Job.id == job_id)
    if is_postgresql(session):
        stmt = stmt.with_for_update()
    return session.execute(stmt).scalar_one()
