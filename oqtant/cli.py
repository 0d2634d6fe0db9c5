"""The ``oqtant`` command: run the service, manage users, migrate the database.

oqtant serve [--host H] [--port P] [--workers N] [--database-url URL] [--backend SPEC] [--expose]
             [--dask-scheduler tcp://HOST:PORT]
oqtant worker [--database-url URL] [--workers N] [--backend SPEC] [--lease-seconds S]
              [--dask-scheduler tcp://HOST:PORT]
oqtant user add NAME [--admin] [--password-stdin]
oqtant user list
oqtant user password NAME [--password-stdin]
oqtant user token NAME [--ttl-minutes M]
oqtant user limits NAME [--daily-limit N] [--max-runs-per-job N] [--max-pending-jobs N]
oqtant user disable NAME | enable NAME | revoke-tokens NAME | delete NAME [--yes]
oqtant db upgrade [--database-url URL]
oqtant demo ...      (see oqtant.demo)
oqtant login [--url URL] [--username NAME [--password-stdin]] [--port P] [--no-browser]
oqtant logout [--url URL]

A command that cannot start (a wrong database URL, a port in use, a backend that
does not load, a password too short) says why in one line and exits with 2.
"""

from __future__ import annotations

import argparse
import getpass
import importlib
import signal
import sys
from collections.abc import Sequence

__all__ = ["build_parser", "main"]


#: the longest lifetime ``oqtant user token --ttl-minutes`` gives a token: a year
MAX_TOKEN_TTL_MINUTES = 365 * 24 * 60


class Refused(Exception):
    """A command refuses to go on; the message says why in one line (exit code 2)."""


def _settings(args: argparse.Namespace, **extra):
    from pydantic import ValidationError

    from oqtant.settings import Settings

    overrides = {k: v for k, v in extra.items() if v is not None}
    if getattr(args, "database_url", None):
        overrides["database_url"] = args.database_url
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise Refused(_setting_problem(exc)) from None


def _setting_problem(exc) -> str:
    """One line for the first broken rule of a ``Settings`` validation error."""
    error = exc.errors()[0]
    field = ".".join(str(part) for part in error["loc"])
    where = f"{field} (OQTANT_{field.upper()})" if field else "the settings"
    return f"{where}: {error['msg']}"


def _session(settings):
    from oqtant.server.db import make_engine, make_session_factory
    from oqtant.server.db.migrate import prepare_database
    from oqtant.server.preflight import check_database

    check_database(settings)
    prepare_database(settings)
    engine = make_engine(settings.resolved_database_url, settings=settings)
    return make_session_factory(engine)()


def _preflight(settings, *, local_runs: bool) -> None:
    """Load the backends this process will run (``local_runs``), then check the database."""
    from oqtant.server.preflight import check_backend, check_database

    if local_runs:
        check_backend(settings.backend)
        check_backend(settings.sim_backend, option="OQTANT_SIM_BACKEND")
    check_database(settings)


def _cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from oqtant.server.app import create_app
    from oqtant.server.preflight import check_port

    host = args.host or ("0.0.0.0" if args.expose else None)
    settings = _settings(
        args, host=host, port=args.port, workers=args.workers, backend=args.backend
    )
    if settings.host not in ("127.0.0.1", "localhost", "::1") and not (args.expose or args.host):
        print(
            f"refusing to listen on {settings.host} without --expose or an explicit --host",
            file=sys.stderr,
        )
        return 2
    _preflight(settings, local_runs=settings.workers > 0 and not args.dask_scheduler)
    check_port(settings.host, settings.port)
    executor = None
    try:
        if args.dask_scheduler and settings.workers > 0:
            from oqtant.server.queue.dask_executor import DaskExecutor

            executor = DaskExecutor(args.dask_scheduler, capacity=args.workers)
        app = create_app(settings, executor=executor)
    except RuntimeError as exc:  # e.g. schema older than the code, scheduler unreachable
        print(f"oqtant serve: {exc}", file=sys.stderr)
        if executor is not None:
            executor.shutdown(wait=False)
        return 1
    where = settings.resolved_database_url.split("@")[-1]
    runs_on = f"Dask cluster at {args.dask_scheduler}, " if executor is not None else ""
    slots = executor.capacity if executor is not None else settings.workers
    print(
        f"oqtant serving on http://{settings.host}:{settings.port} "
        f"(database {where}, {runs_on}{slots} worker(s), backend {settings.backend})",
        flush=True,
    )
    # uvicorn shuts down gracefully on SIGTERM/SIGINT, then re-raises the signal to
    # the handler that was there before it; a no-op there lets a clean stop exit 0.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: None)
    # the client's address is taken from forwarded-for headers only of the proxies in
    # OQTANT_TRUSTED_PROXIES (oqtant.server.auth.addresses), not by uvicorn
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level=args.log_level,
        proxy_headers=False,
    )
    return 0


def _cmd_worker(args: argparse.Namespace) -> int:
    import logging

    from oqtant.server.queue.worker import run_worker

    settings = _settings(
        args, workers=args.workers, backend=args.backend, lease_seconds=args.lease_seconds
    )
    _preflight(settings, local_runs=not args.dask_scheduler)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        return run_worker(
            settings,
            dask_scheduler=args.dask_scheduler,
            capacity=args.workers,
            on_ready=lambda message: print(message, flush=True),
        )
    except RuntimeError as exc:  # schema older than the code, scheduler unreachable
        print(f"oqtant worker: {exc}", file=sys.stderr)
        return 1


def _read_password(args: argparse.Namespace, settings) -> str:
    """The new password, from stdin or asked twice; Refused if it is too short or they differ."""
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass("Password: ")
        if password != getpass.getpass("Repeat password: "):
            raise Refused("the two passwords differ: nothing changed")
    shortest = settings.min_password_length
    if len(password) < shortest:
        raise Refused(
            f"the password must be at least {shortest} characters long "
            f"(got {len(password)}; OQTANT_MIN_PASSWORD_LENGTH sets the minimum)"
        )
    return password


def _cmd_user_add(args: argparse.Namespace) -> int:
    from oqtant.server.db import crud

    settings = _settings(args)
    with _session(settings) as session:
        if crud.get_user_by_name(session=session, name=args.name) is not None:
            print(f"oqtant user add: a user named {args.name!r} already exists", file=sys.stderr)
            return 1
        password = _read_password(args, settings)
        try:
            user = crud.create_user(
                session=session,
                name=args.name,
                password=password,
                is_admin=args.admin,
                daily_limit=settings.default_daily_limit,
                max_runs_per_job=settings.default_max_runs_per_job,
                max_pending_jobs=settings.default_max_pending_jobs,
                sim_daily_limit=settings.default_sim_daily_limit,
                sim_max_pending_jobs=settings.default_sim_max_pending_jobs,
            )
        except (crud.NameTaken, ValueError) as exc:
            print(f"oqtant user add: {exc}", file=sys.stderr)
            return 1
        role = "admin" if user.is_admin else "user"
        print(f"added {role} {user.name} (id {user.external_id})")
    return 0


def _cmd_user_password(args: argparse.Namespace) -> int:
    from oqtant.server.db import crud

    settings = _settings(args)
    with _session(settings) as session:
        user = crud.get_user_by_name(session=session, name=args.name)
        if user is None:
            print(f"oqtant user password: no user named {args.name!r}", file=sys.stderr)
            return 1
        password = _read_password(args, settings)
        crud.set_user_password(session=session, user_id=user.id, password=password)
        print(
            f"new password set for {user.name}; every token and console session "
            "issued to them so far is refused"
        )
    return 0


def _cmd_user_list(args: argparse.Namespace) -> int:
    from oqtant.server.db import crud

    settings = _settings(args)
    header = ("name", "admin", "disabled", "created (UTC)", "jobs today", "sim jobs today")
    rows = [header]
    with _session(settings) as session:
        for user in crud.list_users(session=session):
            limits = crud.job_limits(session=session, user=user)
            rows.append(
                (
                    user.name,
                    "yes" if user.is_admin else "no",
                    "yes" if user.disabled else "no",
                    f"{user.created_at:%Y-%m-%d %H:%M}",
                    _use(limits, ""),
                    _use(limits, "sim_"),
                )
            )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    for row in rows:
        cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        print("  ".join(cells).rstrip())
    if len(rows) == 1:
        print("(no users yet: add one with `oqtant user add NAME`)")
    return 0


def _use(limits: dict, kind: str) -> str:
    """``used/limit`` of today's jobs of one kind (``""`` hardware, ``"sim_"`` simulator)."""
    limit = limits[f"{kind}daily_limit"]
    return f"{limit - limits[f'{kind}daily_remaining']}/{limit}"


def _cmd_user_token(args: argparse.Namespace) -> int:
    from oqtant.server.auth.security import create_access_token
    from oqtant.server.db import crud

    settings = _settings(args)
    with _session(settings) as session:
        user = crud.get_user_by_name(session=session, name=args.name)
        if user is None:
            print(f"oqtant user token: no user named {args.name!r}", file=sys.stderr)
            return 1
        if user.disabled:
            print(
                f"oqtant user token: {user.name} is disabled (`oqtant user enable {user.name}`)",
                file=sys.stderr,
            )
            return 1
        ttl = args.ttl_minutes if args.ttl_minutes is not None else settings.token_ttl_minutes
        print(
            create_access_token(
                user.external_id,
                secret_key=settings.resolved_secret_key(),
                ttl_minutes=ttl,
                generation=user.token_generation,
            )
        )
    return 0


def _cmd_user_limits(args: argparse.Namespace) -> int:
    from oqtant.server.db import crud

    settings = _settings(args)
    with _session(settings) as session:
        user = crud.get_user_by_name(session=session, name=args.name)
        if user is None:
            print(f"oqtant user limits: no user named {args.name!r}", file=sys.stderr)
            return 1
        user = crud.set_user_limits(
            session=session,
            user_id=user.id,
            daily_limit=args.daily_limit,
            max_runs_per_job=args.max_runs_per_job,
            max_pending_jobs=args.max_pending_jobs,
            sim_daily_limit=args.sim_daily_limit,
            sim_max_pending_jobs=args.sim_max_pending_jobs,
        )
        limits = crud.job_limits(session=session, user=user)
    for key, value in limits.items():
        print(f"{key}: {value}")
    return 0


def _cmd_user_account(args: argparse.Namespace) -> int:
    """``user disable|enable|revoke-tokens|delete NAME``."""
    from oqtant.server.db import crud

    command = f"oqtant user {args.user_command}"
    settings = _settings(args)
    with _session(settings) as session:
        user = crud.get_user_by_name(session=session, name=args.name)
        if user is None:
            print(f"{command}: no user named {args.name!r}", file=sys.stderr)
            return 1
        if args.user_command == "delete":
            return _delete_user(session, user, command, confirmed=args.yes)
        if args.user_command == "revoke-tokens":
            crud.revoke_user_tokens(session=session, user_id=user.id)
            print(f"every token and console session of {user.name} is refused from now on")
        else:
            disabled = args.user_command == "disable"
            crud.set_user_disabled(session=session, user_id=user.id, disabled=disabled)
            print(
                f"disabled {user.name}: no login, every token refused"
                if disabled
                else f"enabled {user.name}: they can log in again (old tokens stay refused)"
            )
    return 0


def _delete_user(session, user, command: str, *, confirmed: bool) -> int:
    from oqtant.server.db import crud

    if not confirmed:
        answer = input(f"Delete {user.name} with all their jobs and results? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print(f"{command}: nothing deleted", file=sys.stderr)
            return 1
    jobs = crud.delete_user(session=session, user_id=user.id)
    print(f"deleted {user.name} and {jobs} job(s)")
    return 0


def _cmd_db_upgrade(args: argparse.Namespace) -> int:
    from oqtant.server.db import upgrade_database
    from oqtant.server.preflight import check_database

    settings = _settings(args)
    if settings.is_sqlite:
        settings.ensure_data_dir()
    check_database(settings, schema_current=False)
    upgrade_database(settings.resolved_database_url)
    print(f"database at {settings.resolved_database_url.split('@')[-1]} is up to date")
    return 0


def _client_settings(args: argparse.Namespace):
    from pydantic import ValidationError

    from oqtant.login import ClientSettings

    try:
        return ClientSettings(**({"url": args.url} if args.url else {}))
    except ValidationError as exc:
        raise Refused(_setting_problem(exc)) from None


def _cmd_login(args: argparse.Namespace) -> int:
    from oqtant.login import login_with

    return login_with(
        _client_settings(args),
        port=args.port,
        username=args.username,
        password_stdin=args.password_stdin,
        no_browser=args.no_browser,
    )


def _cmd_logout(args: argparse.Namespace) -> int:
    from oqtant.login import TokenCache

    settings = _client_settings(args)
    TokenCache(settings.token_cache_path).forget(settings.url)
    print(f"logged out of {settings.url}: no token for it is cached in {settings.token_cache_path}")
    return 0


def _delegate(module: str):
    def run(args: argparse.Namespace) -> int:
        entry = importlib.import_module(module).main
        return entry(args.rest) or 0

    return run


def _ttl_minutes(text: str) -> int:
    value = int(text)
    if not 1 <= value <= MAX_TOKEN_TTL_MINUTES:
        raise argparse.ArgumentTypeError(
            f"must be between 1 and {MAX_TOKEN_TTL_MINUTES} (a year), got {value}"
        )
    return value


def _non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


_DATABASE_URL_HELP = (
    "SQLAlchemy URL of the database (default $OQTANT_DATABASE_URL, or SQLite in the data dir)"
)
_BACKEND_HELP = (
    "what executes a run, as package.module:ClassName (default $OQTANT_BACKEND or "
    "oqtant.emulator:Apparatus); loaded at start"
)
_DASK_HELP = "execute runs on this Dask cluster instead of a local process pool"
_PASSWORD_STDIN_HELP = "read the password from the first line of standard input (no prompt)"
_NAME_HELP = "the account's login name"


def _add_serve(sub) -> None:
    serve = sub.add_parser("serve", help="run the job service")
    serve.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (default 8000)")
    serve.add_argument(
        "--workers", type=_non_negative, help="run processes (default 1; 0 = API only)"
    )
    serve.add_argument("--database-url", help=_DATABASE_URL_HELP)
    serve.add_argument("--backend", help=_BACKEND_HELP)
    serve.add_argument("--expose", action="store_true", help="listen on every interface")
    serve.add_argument(
        "--log-level",
        default="info",
        choices=["critical", "error", "warning", "info", "debug", "trace"],
        help="how much the server logs (default info)",
    )
    serve.add_argument("--dask-scheduler", metavar="tcp://HOST:PORT", help=_DASK_HELP)
    serve.set_defaults(func=_cmd_serve)


def _add_worker(sub) -> None:
    worker = sub.add_parser("worker", help="execute queued runs (no API)")
    worker.add_argument("--database-url", help=_DATABASE_URL_HELP)
    worker.add_argument(
        "--workers",
        type=_positive,
        help="runs executed at once (default 1, or the Dask cluster's threads)",
    )
    worker.add_argument("--backend", help=_BACKEND_HELP)
    worker.add_argument(
        "--lease-seconds",
        type=float,
        help="lease of a claimed run, renewed while it runs (default 60)",
    )
    worker.add_argument("--dask-scheduler", metavar="tcp://HOST:PORT", help=_DASK_HELP)
    worker.add_argument(
        "--log-level",
        default="info",
        choices=["debug", "info", "warning"],
        help="how much the worker logs (default info)",
    )
    worker.set_defaults(func=_cmd_worker)


_ACCOUNT_COMMANDS = [
    (
        "disable",
        (
            "stop an account: no login, and its tokens and console sessions are refused "
            "(its jobs stay)"
        ),
    ),
    ("enable", "let a disabled account log in again (tokens from before stay refused)"),
    (
        "revoke-tokens",
        (
            "refuse every token and console session issued to the user so far "
            "(they can log in again)"
        ),
    ),
    (
        "delete",
        (
            "delete an account with all its jobs and results (queued runs leave the "
            "queue; a run in progress finishes and its result is dropped)"
        ),
    ),
]


def _add_user(sub) -> None:
    user = sub.add_parser("user", help="manage accounts").add_subparsers(
        dest="user_command", required=True
    )
    add = user.add_parser("add", help="create an account")
    add.add_argument("name", help=_NAME_HELP)
    add.add_argument("--admin", action="store_true", help="make the account an administrator")
    add.add_argument("--password-stdin", action="store_true", help=_PASSWORD_STDIN_HELP)
    add.set_defaults(func=_cmd_user_add)
    listing = user.add_parser(
        "list", help="list the accounts: admin, disabled, created, jobs used today"
    )
    listing.set_defaults(func=_cmd_user_list)
    password = user.add_parser(
        "password",
        help="set a new password for a user (their tokens and console sessions are refused)",
    )
    password.add_argument("name", help=_NAME_HELP)
    password.add_argument("--password-stdin", action="store_true", help=_PASSWORD_STDIN_HELP)
    password.set_defaults(func=_cmd_user_password)
    token = user.add_parser("token", help="print an access token for a user")
    token.add_argument("name", help=_NAME_HELP)
    token.add_argument(
        "--ttl-minutes",
        type=_ttl_minutes,
        metavar=f"1..{MAX_TOKEN_TTL_MINUTES}",
        help="lifetime of the token in minutes (default $OQTANT_TOKEN_TTL_MINUTES, 7 days)",
    )
    token.set_defaults(func=_cmd_user_token)
    limits = user.add_parser("limits", help="show or set a user's limits")
    limits.add_argument("name", help=_NAME_HELP)
    limits.add_argument("--daily-limit", type=_non_negative, help="hardware jobs per UTC day")
    limits.add_argument(
        "--max-runs-per-job",
        type=int,
        choices=range(1, 31),
        metavar="1..30",
        help="runs in one job",
    )
    limits.add_argument(
        "--max-pending-jobs", type=_non_negative, help="hardware jobs waiting or running at once"
    )
    limits.add_argument("--sim-daily-limit", type=_non_negative, help="simulator jobs per day")
    limits.add_argument(
        "--sim-max-pending-jobs", type=_non_negative, help="simulator jobs waiting at once"
    )
    limits.set_defaults(func=_cmd_user_limits)
    account_parsers = []
    for name, text in _ACCOUNT_COMMANDS:
        p = user.add_parser(name, help=text, description=text)
        p.add_argument("name", help=_NAME_HELP)
        p.set_defaults(func=_cmd_user_account)
        account_parsers.append(p)
    account_parsers[-1].add_argument(
        "--yes", action="store_true", help="do not ask for confirmation"
    )
    for p in (add, listing, password, token, limits, *account_parsers):
        p.add_argument("--database-url", help=_DATABASE_URL_HELP)


def _add_login(sub) -> None:
    from oqtant.constants import DEFAULT_URL

    url_help = f"server address (default $OQTANT_URL or {DEFAULT_URL})"
    login = sub.add_parser(
        "login",
        help="log in and cache a token",
        description="Log in to an oqtant server and cache the access token for later sessions.",
    )
    login.add_argument("--url", help=url_help)
    login.add_argument(
        "--port",
        type=int,
        default=8080,
        help="local port for the browser login's redirect (default 8080)",
    )
    login.add_argument("--username", help="log in with this account's password, no browser")
    login.add_argument("--password-stdin", action="store_true", help=_PASSWORD_STDIN_HELP)
    login.add_argument(
        "--no-browser",
        action="store_true",
        help="only print the login address (for machines without a browser)",
    )
    login.set_defaults(func=_cmd_login)
    logout = sub.add_parser("logout", help="forget the cached token of a server")
    logout.add_argument("--url", help=url_help)
    logout.set_defaults(func=_cmd_logout)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``oqtant``."""
    parser = argparse.ArgumentParser(prog="oqtant", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    _add_serve(sub)
    _add_worker(sub)
    _add_user(sub)
    db = sub.add_parser("db", help="database maintenance").add_subparsers(
        dest="db_command", required=True
    )
    upgrade = db.add_parser("upgrade", help="apply the schema migrations")
    upgrade.add_argument("--database-url", help=_DATABASE_URL_HELP)
    upgrade.set_defaults(func=_cmd_db_upgrade)
    _add_login(sub)
    demo = sub.add_parser("demo", help="run the demonstration", add_help=False)
    demo.add_argument("rest", nargs=argparse.REMAINDER, help="the demonstration's own options")
    demo.set_defaults(func=_delegate("oqtant.demo"))
    return parser


def _command_name(args: argparse.Namespace) -> str:
    parts = [args.command, getattr(args, "user_command", None), getattr(args, "db_command", None)]
    return "oqtant " + " ".join(part for part in parts if part)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``oqtant`` command."""
    from oqtant.server.preflight import StartupProblem

    argv = list(sys.argv[1:] if argv is None else argv)
    # `demo` owns its options: hand it everything after the name
    # (argparse's REMAINDER would reject a leading --option).
    if argv and argv[0] == "demo":
        return _delegate("oqtant.demo")(argparse.Namespace(rest=argv[1:]))
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (Refused, StartupProblem) as exc:
        print(f"{_command_name(args)}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
