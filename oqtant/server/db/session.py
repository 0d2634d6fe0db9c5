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

Given the service's ``Settings``, an engine on a database server never waits
without bound: connecting, waiting for a free pooled connection, a statement
(in the server, and for the server's answer: a frozen server answers nothing,
so the client has its own deadline) and locks are all timed, and TCP
keepalives notice a peer that is gone. A timeout raises an error that the API
answers with 503.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import CursorResult, Engine, Executable, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

if TYPE_CHECKING:
    from oqtant.settings import Settings

__all__ = [
    "DatabaseBusy",
    "begin_write",
    "execute_dml",
    "is_postgresql",
    "make_engine",
    "make_session_factory",
    "write_transaction",
]

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
        return _write_locks.setdefault(id(engine), (threading.Lock(), DEFAULT_WRITE_LOCK_TIMEOUT_S))


def _release_write_lock(session: Session) -> None:
    lock = session.info.pop(_WRITE_LOCK_KEY, None)
    if lock is not None:
        lock.release()


def _on_transaction_end(session: Session, transaction) -> None:
    # the root transaction's end (commit, rollback or close) ends the write
    if transaction.parent is None:
        _release_write_lock(session)


event.listen(Session, "after_transaction_end", _on_transaction_end)


def make_engine(url: str, *, echo: bool = False, settings: Settings | None = None) -> Engine:
    """An engine for ``url``; SQLite gets WAL, NORMAL sync, foreign keys and explicit BEGIN.

    ``settings`` gives the timeouts (its ``db_*`` fields; see the module's
    docstring). Without it the engine waits as long as the database takes, as
    migrations may need. A SQLite write waits ``settings.write_lock_timeout_seconds``
    (default 30 s) for this process's write lock before :class:`DatabaseBusy` is raised.
    """
    if not url.startswith("sqlite"):
        return _server_engine(url, echo, settings)
    engine = create_engine(
        url,
        echo=echo,
        connect_args={"timeout": 30, "check_same_thread": False},
        pool_size=8,
        max_overflow=16,
        pool_timeout=settings.db_pool_timeout_seconds if settings is not None else 30,
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

    write_lock_timeout = DEFAULT_WRITE_LOCK_TIMEOUT_S
    if settings is not None:
        write_lock_timeout = settings.write_lock_timeout_seconds
    with _write_locks_guard:
        _write_locks[id(engine)] = (threading.Lock(), write_lock_timeout)
    return engine


def _server_engine(url: str, echo: bool, settings: Settings | None) -> Engine:
    """An engine on a database server (PostgreSQL), with the timeouts of ``settings``."""
    if settings is None:
        return create_engine(url, echo=echo, pool_pre_ping=True, future=True)
    parsed = make_url(url)
    libpq = parsed.get_backend_name() == "postgresql" and parsed.get_driver_name() in (
        "psycopg",
        "psycopg2",
    )
    engine = create_engine(
        url,
        echo=echo,
        pool_pre_ping=True,
        future=True,
        pool_timeout=settings.db_pool_timeout_seconds,
        connect_args=_libpq_timeouts(settings, parsed.query.get("options")) if libpq else {},
    )
    answer_s = settings.db_read_timeout_seconds
    if parsed.get_driver_name() == "psycopg" and answer_s > 0:
        connection_class = _answer_bounded_connection_class(answer_s)

        @event.listens_for(engine, "do_connect")
        def _connect(_dialect, _record, cargs, cparams):
            return connection_class.connect(*cargs, **cparams)

    return engine


def _libpq_timeouts(settings: Settings, url_options: Any = None) -> dict[str, Any]:
    """libpq connection parameters: connect timeout, server-side timeouts, TCP keepalives."""
    server = {
        "statement_timeout": settings.db_statement_timeout_seconds,
        "lock_timeout": settings.db_lock_timeout_seconds,
        "idle_in_transaction_session_timeout": settings.db_idle_in_transaction_timeout_seconds,
    }
    options = [url_options] if isinstance(url_options, str) and url_options else []
    options += [f"-c {name}={round(seconds * 1000)}" for name, seconds in server.items()]
    keepalive = settings.db_keepalive_seconds
    params: dict[str, Any] = {
        "connect_timeout": settings.db_connect_timeout_seconds,
        "options": " ".join(options),
        "keepalives": 1,
        "keepalives_idle": keepalive,
        "keepalives_interval": max(1, keepalive // 3),
        "keepalives_count": 3,
    }
    if settings.db_read_timeout_seconds > 0:
        # data sent and not acknowledged for this long: the peer is gone (Linux)
        params["tcp_user_timeout"] = round(settings.db_read_timeout_seconds * 1000)
    return params


def _answer_bounded_connection_class(answer_s: float):
    """A psycopg connection class that waits at most ``answer_s`` s for the server's answer.

    The server's own timeouts (``statement_timeout``) cannot help when the server
    process is frozen or a proxy in between accepts and never answers: the wait
    for its answer would last as long as the outage. A connection whose server
    does not answer in time is closed (the pool then drops it) and the statement
    raises ``psycopg.OperationalError``.
    """
    import psycopg

    class AnswerBoundConnection(psycopg.Connection):
        # every exchange with the server (statements, fetches, commit, rollback, the
        # pool's ping) waits here; psycopg >= 3.3 takes a ``timeout`` for it
        def wait(self, gen, interval=None, timeout=None):
            if timeout is None:
                timeout = answer_s
            kwargs = {} if interval is None else {"interval": interval}
            t0 = time.monotonic()
            try:
                return super().wait(gen, timeout=timeout, **kwargs)
            except psycopg.OperationalError as exc:
                if exc.sqlstate is not None or time.monotonic() - t0 < timeout:
                    raise  # the server answered with an error, or the connection broke
                self.close()  # the protocol is mid-way: this connection cannot be used again
                raise psycopg.OperationalError(
                    f"the database server did not answer within {timeout:g} s"
                ) from exc

    return AnswerBoundConnection


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
        lock, timeout = _write_lock(bind if isinstance(bind, Engine) else bind.engine)
        if not lock.acquire(timeout=timeout):
            raise DatabaseBusy(f"the database was busy writing for over {timeout:g} s")
        session.info[_WRITE_LOCK_KEY] = lock
        try:
            session.connection(execution_options={_BEGIN_OPTION: "IMMEDIATE"})
        except BaseException:
            _release_write_lock(session)
            raise


@contextmanager
def write_transaction(session: Session) -> Iterator[Session]:
    """One write transaction on ``session``: committed when the block ends, rolled back on error.

    Started with :func:`begin_write`. A block that finds nothing to change may
    simply return: committing a transaction that wrote nothing changes nothing.
    """
    begin_write(session)
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise


def execute_dml(session: Session, statement: Executable, params: Any = None) -> CursorResult[Any]:
    """Execute an INSERT, UPDATE or DELETE: its result, typed as the cursor result it is.

    (``Session.execute`` is typed for queries; a DML result has ``rowcount``.)
    """
    return cast("CursorResult[Any]", session.execute(statement, params))
