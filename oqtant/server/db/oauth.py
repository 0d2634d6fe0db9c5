"""Authorization codes of the OAuth2 login: stored as hashes, used once."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, update
from sqlalchemy.orm import Session

from oqtant.server.auth.security import hash_code
from oqtant.server.db.models import (
    OAuthCode,
    utcnow,
)
from oqtant.server.db.session import execute_dml, write_transaction

__all__ = [
    "consume_oauth_code",
    "create_oauth_code",
]


def create_oauth_code(
    *,
    session: Session,
    user_id: int,
    client_id: str,
    redirect_uri: str,
    code_challenge: str,
    code: str,
    ttl_seconds: float = 300.0,
) -> None:
    """Store a new authorization code (as its hash), valid ``ttl_seconds``."""
    with write_transaction(session):
        now = utcnow()
        session.execute(delete(OAuthCode).where(OAuthCode.expires_at < now - timedelta(days=1)))
        session.add(
            OAuthCode(
                code_hash=hash_code(code),
                user_id=user_id,
                client_id=client_id,
                redirect_uri=redirect_uri,
                code_challenge=code_challenge,
                expires_at=now + timedelta(seconds=ttl_seconds),
                used=False,
            )
        )


def consume_oauth_code(*, session: Session, code: str) -> OAuthCode | None:
    """Mark a code used and return it; None when unknown, expired or already used."""
    with write_transaction(session):
        now = utcnow()
        result = execute_dml(
            session,
            update(OAuthCode)
            .where(
                OAuthCode.code_hash == hash_code(code),
                OAuthCode.used.is_(False),
                OAuthCode.expires_at > now,
            )
            .values(used=True),
        )
        if result.rowcount != 1:
            return None
        row = session.get(OAuthCode, hash_code(code))
    return row
