"""Engine and sessions: SQLite tuned for a service (WAL, busy timeout), any other URL as is.

Write transactions call :func:`begin_write` first. On SQLite that starts the
transaction with ``BEGIN IMMEDIATE`` (the database write lock is taken before
anything is read, so read-check-write sequences such as quota checks are
atomic); on PostgreSQL it is a no-op and callers lock rows ``FOR UPDATE``.

The process's SQLite write lock belongs to the transaction that took it: it is
released when that transaction ends, however it ends (commit, rollback, or the
session closed with the transaction still open, as a refused request does), so
no code path can leave it held. A thread that cannot get it within the engine's
``write_lock_timeout`` raises :class:`DatabaseBusy` (answered 503) instead of
waiting for ever.
"""

from __future__ import annotations

import threading

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

__all__ = ["DatabaseBusy", "begin_write", "is_postgresql", "make_engine", "make_session_factory"]

_BEGIN_OPTION = "oqtant_sqlite_begin"
_WRITE_LOCK_KEY = "oqtant_write_lock"
# One lock per SQLite engine: threads of this process queue for the write lock
# here (a fast hand-over) instead of in SQLite's busy handler, which sleeps in
# steps of up to 100 ms. Other processes still meet the busy timeout.
_write_locks: dict[int, tuple[threading.Lock, float]] = {}
_write_locks_guard = threading.Lock()
DEFAULT_WRITE_LOCK_TIMEOUT_S = 30.0


class DatabaseBusy(Exception):
    """The database's write lock was not free within the engine's timeout."""


def _write_lock(engine: Engine) -> tuple[threading.Lock, float]:
    with _write_locks_guard:
        return _write_locks.setdefault(
            id(engine), (threading.Lock(), DEFAULT_WRITE_LOCK_TIMEOUT_S)
        )


def _release_write_lock(session: Session) -> None:
    lock = session.info.pop(_WRITE_LOCK_KEY, None)
    if lock is not None:
        lock.release()


def _on_transaction_end(session: Session, transaction) -> None:
    # the root transaction's end (commit, rollback or close) ends the write
    if transaction.parent is None:
        _release_write_lock(session)


event.listen(Session, "after_transaction_end", _on_transaction_end)


def make_engine(
    url: str, *, echo: bool = False, write_lock_timeout: float = DEFAULT_WRITE_LOCK_TIMEOUT_S
) -> Engine:
    """An engine for ``url``; SQLite gets WAL, NORMAL sync, foreign keys and explicit BEGIN.

    ``write_lock_timeout``: how long (s) a SQLite write waits for this process's
    write lock before :class:`DatabaseBusy` is raised.
    """
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

    with _write_locks_guard:
        _write_locks[id(engine)] = (threading.Lock(), write_lock_timeout)
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
        lock, timeout = _write_lock(bind)
        if not lock.acquire(timeout=timeout):
            raise DatabaseBusy(f"the database was busy writing for over {timeout:g} s")
        session.info[_WRITE_LOCK_KEY] = lock
        try:
            session.connection(execution_options={_BEGIN_OPTION: "IMMEDIATE"})
        except BaseException:
            _release_write_lock(session)
            raise
