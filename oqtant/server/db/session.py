"""Engine and sessions: SQLite tuned for a service (WAL, busy timeout), any other URL as is.

Write transactions call :func:`begin_write` first. On SQLite that starts the
transaction with ``BEGIN IMMEDIATE`` (the database write lock is taken before
anything is read, so read-check-write sequences such as quota checks are
atomic); on PostgreSQL it is a no-op and callers lock rows ``FOR UPDATE``.
"""

from __future__ import annotations

import threading

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

__all__ = ["begin_write", "is_postgresql", "make_engine", "make_session_factory"]

_BEGIN_OPTION = "oqtant_sqlite_begin"
_WRITE_LOCK_KEY = "oqtant_write_lock"
# One lock per SQLite engine: threads of this process queue for the write lock
# here (a fast hand-over) instead of in SQLite's busy handler, which sleeps in
# steps of up to 100 ms. Other processes still meet the busy timeout.
_write_locks: dict[int, threading.Lock] = {}
_write_locks_guard = threading.Lock()


def _write_lock(engine: Engine) -> threading.Lock:
    with _write_locks_guard:
        return _write_locks.setdefault(id(engine), threading.Lock())


def _release_write_lock(session: Session, *_args) -> None:
    lock = session.info.pop(_WRITE_LOCK_KEY, None)
    if lock is not None:
        lock.release()


event.listen(Session, "after_commit", _release_write_lock)
event.listen(Session, "after_rollback", _release_write_lock)


def make_engine(url: str, *, echo: bool = False) -> Engine:
    """An engine for ``url``; SQLite gets WAL, NORMAL sync, foreign keys and explicit BEGIN."""
    if not url.startswith("sqlite"):
        return create_engine(url, echo=echo, pool_pre_ping=True, future=True)
    engine = create_engine(
        url,
        echo=echo,
        connect_args={"timeout": 30, "check_same_thread": False},
        pool_size=8,
        max_overflow=16,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        # let SQLAlchemy (not the sqlite3 module) decide when transactions begin
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        if ":memory:" not in url:
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        mode = conn.get_execution_options().get(_BEGIN_OPTION, "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")

    return engine


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded attributes after commit."""
    return sessionmaker(engine, expire_on_commit=False, future=True)


def is_postgresql(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def begin_write(session: Session) -> None:
    """Start ``session``'s transaction as a write transaction (a no-op inside one).

    A transaction already open on the session (e.g. the reads that looked up
    the current user) is committed first, so that the write transaction starts
    fresh and, on SQLite, holds the write lock from its first statement.
    """
    if _WRITE_LOCK_KEY in session.info:
        return  # already in a write transaction
    if session.in_transaction():
        session.commit()
    bind = session.get_bind()
    if bind.dialect.name == "sqlite":
        lock = _write_lock(bind)
        lock.acquire()
        session.info[_WRITE_LOCK_KEY] = lock
        try:
            session.connection(execution_options={_BEGIN_OPTION: "IMMEDIATE"})
        except BaseException:
            _release_write_lock(session)
            raise
