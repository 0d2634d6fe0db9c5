"""Checks made before the service (or a command) starts, each refusing with one clear line.

The command line runs these first, so that a wrong database URL, a port in use
or a backend that cannot be loaded is reported in one sentence saying what is
wrong and how to fix it, instead of a traceback or a server that starts and
then fails every run. Each check raises :class:`StartupProblem`.
"""

from __future__ import annotations

import errno
import socket
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from oqtant.settings import Settings

__all__ = [
    "StartupProblem",
    "check_backend",
    "check_database",
    "check_port",
    "shown_url",
]


class StartupProblem(Exception):
    """Something that stops a command from starting; the message is one line saying why."""


def shown_url(url: str) -> str:
    """``url`` with its password hidden, fit to be printed."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url


def _first_line(exc: BaseException) -> str:
    original = getattr(exc, "orig", None) or exc
    text = str(original).strip().splitlines()
    return text[0] if text else type(original).__name__


def _engine(url: str, settings: Settings):
    """An engine for ``url``; StartupProblem if the URL, its scheme or its driver is wrong."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    from oqtant.server.db import make_engine

    example = "e.g. postgresql+psycopg://USER:PASSWORD@HOST:5432/DB or sqlite:///PATH/oqtant.db"
    try:
        parsed = make_url(url)
    except ArgumentError:
        shown = "(hidden: it may hold a password)" if "@" in url else repr(url)
        raise StartupProblem(
            f"the database URL {shown} is not a URL ({example}): fix --database-url "
            "or OQTANT_DATABASE_URL"
        ) from None
    try:
        return make_engine(url, settings=settings)
    except NoSuchModuleError:
        raise StartupProblem(
            f"database URL {shown_url(url)!r}: unknown database kind {parsed.drivername!r} "
            f"({example})"
        ) from None
    except ImportError as exc:
        raise StartupProblem(
            f"database URL {shown_url(url)!r} needs the Python driver {exc.name or exc!s}, "
            "which is not installed: install the package that provides it, or use "
            "postgresql+psycopg://... (its driver comes with oqtant)"
        ) from None
    except ArgumentError as exc:
        raise StartupProblem(f"database URL {shown_url(url)!r}: {_first_line(exc)}") from None


def check_database(settings: Settings, *, schema_current: bool = True) -> None:
    """Connect to the configured database, and (``schema_current``) check its schema is the code's.

    A SQLite database is migrated by the commands themselves, so only a server
    database's schema is checked.
    """
    from sqlalchemy.exc import SQLAlchemyError

    from oqtant.server.db import check_schema_current

    url = settings.resolved_database_url
    engine = _engine(url, settings)
    try:
        try:
            with engine.connect():
                pass
        except SQLAlchemyError as exc:
            hint = (
                "check that its directory exists and is writable"
                if settings.is_sqlite
                else "check that the server is running and the URL's host, port, user, "
                "password and database are right"
            )
            raise StartupProblem(
                f"cannot open the database {shown_url(url)!r}: {_first_line(exc)}; {hint}"
            ) from None
        if schema_current and not settings.is_sqlite:
            try:
                check_schema_current(engine)
            except RuntimeError as exc:
                raise StartupProblem(str(exc)) from None
    finally:
        engine.dispose()


def check_port(host: str, port: int) -> None:
    """Bind ``host:port`` once and let it go: StartupProblem if the service cannot listen there."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise StartupProblem(
            f"cannot listen on {host!r}: the name does not resolve ({exc.strerror}); "
            "use --host with an address of this machine"
        ) from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as sock:
        # as uvicorn does: a port whose old connections linger in TIME_WAIT is free
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError as exc:
            raise StartupProblem(_port_message(host, port, exc)) from None


def _port_message(host: str, port: int, exc: OSError) -> str:
    where = f"{host}:{port}"
    if exc.errno == errno.EADDRINUSE:
        return (
            f"port {port} on {host} is already in use (another oqtant serve?): stop that "
            "program or choose another port with --port"
        )
    if exc.errno == errno.EACCES:
        return f"not allowed to listen on {where}: choose a port above 1023 with --port"
    if exc.errno == errno.EADDRNOTAVAIL:
        return f"{host} is not an address of this machine: use --host with one of its addresses"
    return f"cannot listen on {where}: {exc.strerror or exc}"


def check_backend(spec: str, *, option: str = "--backend or OQTANT_BACKEND") -> None:
    """Load the backend ``spec`` as a run would: StartupProblem naming what is wrong with it."""
    from oqtant.backend import load_backend

    try:
        load_backend(spec)
    except ModuleNotFoundError as exc:
        problem = f"no module named {exc.name!r}"
    except AttributeError as exc:
        problem = str(exc)
    except ValueError as exc:  # not package.module:ClassName
        problem = str(exc)
    except Exception as exc:  # noqa: BLE001 - a constructor's own error, a class without run()
        problem = f"{type(exc).__name__}: {_first_line(exc)}"
    else:
        return
    raise StartupProblem(
        f"cannot load the backend {spec!r}: {problem} (set {option} to package.module:ClassName)"
    )
