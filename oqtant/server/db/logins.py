"""The login limiter's counts: failed logins per key (``user:NAME``, ``ip:ADDRESS``).

The rules (how long a key waits, when its failures are forgotten) are the
limiter's, :mod:`oqtant.server.auth.ratelimit`; here are the rows of the
``login_attempts`` table and the transactions on them. A reservation locks the
rows of its keys in key order, so two reservations never wait for each other
in a circle.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Protocol

from sqlalchemy import case, delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from oqtant.server.db.models import LoginAttempts
from oqtant.server.db.session import is_postgresql, write_transaction

__all__ = [
    "CountRule",
    "give_back_login_attempt",
    "login_attempts",
    "reserve_login_attempt",
]


class CountRule(Protocol):
    """How the failures of a key count and how long they make it wait."""

    def counted(self, failures: int, last: datetime | None, now: datetime) -> int: ...

    def wait(self, failures: int, last: datetime | None, now: datetime) -> float: ...


def reserve_login_attempt(
    *,
    session: Session,
    rules: Mapping[str, CountRule],
    now: datetime,
    forget_before: datetime,
) -> float:
    """Count one attempt on every key of ``rules`` and answer 0, or answer the wait (> 0).

    One write transaction: when a key has to wait, nothing is counted (not even
    on the keys seen first). A counted attempt also forgets the keys whose last
    failure is before ``forget_before``.
    """
    with write_transaction(session):
        rows = _locked_rows(session, sorted(rules), now)
        wait = max(rules[k].wait(r.failures, r.last_failure_at, now) for k, r in rows)
        if wait > 0:
            session.rollback()  # not even the rows of keys seen first are stored
            return wait
        for key, row in rows:
            row.failures = rules[key].counted(row.failures, row.last_failure_at, now) + 1
            row.last_failure_at = now
        _prune(session, forget_before)
        return 0.0


def give_back_login_attempt(*, session: Session, account_key: str, address_key: str) -> None:
    """Give back a reservation whose password was right: the account's count is cleared,
    the address's goes down by one."""
    with write_transaction(session):
        for key in sorted((account_key, address_key)):  # the lock order of a reservation
            row = LoginAttempts.key == key
            if key == account_key:
                session.execute(delete(LoginAttempts).where(row))
                continue
            session.execute(
                update(LoginAttempts)
                .where(row)
                .values(
                    failures=case(
                        (LoginAttempts.failures > 0, LoginAttempts.failures - 1),
                        else_=0,
                    )
                )
            )


def login_attempts(*, session: Session, key: str) -> LoginAttempts | None:
    """The stored count of ``key`` (None when it has none)."""
    return session.get(LoginAttempts, key)


def _locked_rows(
    session: Session, keys: list[str], now: datetime
) -> list[tuple[str, LoginAttempts]]:
    """The rows of ``keys`` (made if missing), locked for the transaction, in key order."""
    if is_postgresql(session):  # concurrent first attempts: one insert wins, none fails
        session.execute(
            pg_insert(LoginAttempts)
            .values([{"key": k, "failures": 0, "last_failure_at": now} for k in keys])
            .on_conflict_do_nothing(index_elements=["key"])
        )
        stmt = select(LoginAttempts).where(LoginAttempts.key.in_(keys)).with_for_update()
        found = {r.key: r for r in session.execute(stmt.order_by(LoginAttempts.key)).scalars()}
    else:  # SQLite: the write transaction already excludes every other writer
        got = {k: session.get(LoginAttempts, k, populate_existing=True) for k in keys}
        found = {k: r for k, r in got.items() if r is not None}
    rows = []
    for key in keys:
        row = found.get(key)
        if row is None:
            row = LoginAttempts(key=key, failures=0, last_failure_at=now)
            session.add(row)
        rows.append((key, row))
    return rows


def _prune(session: Session, forget_before: datetime) -> None:
    """Forget the keys whose last failure is before ``forget_before``.

    On PostgreSQL rows locked by other reservations are skipped (waiting for
    them could deadlock two reservations pruning each other's keys).
    """
    old = LoginAttempts.last_failure_at < forget_before
    if is_postgresql(session):
        stale = select(LoginAttempts.key).where(old).with_for_update(skip_locked=True)
        session.execute(delete(LoginAttempts).where(LoginAttempts.key.in_(stale)))
    else:
        session.execute(delete(LoginAttempts).where(old))
