"""The ``oqtant`` command: run the service, manage users, migrate the database.

oqtant serve [--host H] [--port P] [--workers N] [--database-url URL] [--backend SPEC] [--expose]
             [--dask-scheduler tcp://HOST:PORT]
oqtant worker [--database-url URL] [--workers N] [--backend SPEC] [--lease-seconds S]
              [--dask-scheduler tcp://HOST:PORT]
oqtant user add NAME [--admin] [--password-stdin]
oqtant user token NAME [--ttl-minutes M]
oqtant user limits NAME [--daily-limit N] [--max-runs-per-job N] [--max-pending-jobs N]
oqtant user disable NAME | enable NAME | revoke-tokens NAME | delete NAME [--yes]
oqtant db upgrade [--database-url URL]
oqtant demo ...      (see oqtant.demo)
oqtant login ...     (see oqtant.login)
"""

from __future__ import annotations

import argparse
import getpass
import importlib
import signal
import sys
from collections.abc import Sequence

__all__ = ["build_parser", "main"]


def _settings(args: argparse.Namespace, **extra):
    from oqtant.settings import Settings

    overrides = {k: v for k, v in extra.items() if v is not None}
    if getattr(args, "database_url", None):
        overrides["database_url"] = args.database_url
    return Settings(**overrides)


def _session(settings):
    from oqtant.server.app import prepare_database
    from oqtant.server.db import make_engine, make_session_factory

    prepare_database(settings)
    engine = make_engine(settings.resolved_database_url, settings=settings)
    return make_session_factory(engine)()


def _cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from oqtant.server.app import create_app

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


def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass("Password: ")
        if password != getpass.getpass("Repeat password: "):
            raise SystemExit("the passwords differ")
    if not password:
        raise SystemExit("the password must not be empty")
    return password


def _cmd_user_add(args: argparse.Namespace) -> int:
    from oqtant.server.db import crud

    settings = _settings(args)
    password = _read_password(args)
    with _session(settings) as session:
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
        ttl = args.ttl_minutes or settings.token_ttl_minutes
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

    settings = _settings(args)
    if settings.is_sqlite:
        settings.ensure_data_dir()
    upgrade_database(settings.resolved_database_url)
    print(f"database at {settings.resolved_database_url.split('@')[-1]} is up to date")
    return 0


def _delegate(module: str):
    def run(args: argparse.Namespace) -> int:
        entry = importlib.import_module(module).main
        return entry(args.rest) or 0

    return run


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


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``oqtant``."""
    parser = argparse.ArgumentParser(prog="oqtant", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the job service")
    serve.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default 8000)")
    serve.add_argument(
        "--workers", type=_non_negative, help="run processes (default 1; 0 = API only)"
    )
    serve.add_argument("--database-url", help="SQLAlchemy URL (default: SQLite in the data dir)")
    serve.add_argument("--backend", help="backend as package.module:ClassName")
    serve.add_argument("--expose", action="store_true", help="listen on every interface")
    serve.add_argument("--log-level", default="info")
    serve.add_argument(
        "--dask-scheduler",
        metavar="tcp://HOST:PORT",
        help="execute runs on this Dask cluster instead of a local process pool",
    )
    serve.set_defaults(func=_cmd_serve)

    worker = sub.add_parser("worker", help="execute queued runs (no API)")
    worker.add_argument("--database-url", help="SQLAlchemy URL of the shared database")
    worker.add_argument(
        "--workers",
        type=_positive,
        help="runs executed at once (default 1, or the Dask cluster's threads)",
    )
    worker.add_argument("--backend", help="backend as package.module:ClassName")
    worker.add_argument(
        "--lease-seconds",
        type=float,
        help="lease of a claimed run, renewed while it runs (default 60)",
    )
    worker.add_argument(
        "--dask-scheduler",
        metavar="tcp://HOST:PORT",
        help="execute runs on this Dask cluster instead of a local process pool",
    )
    worker.add_argument("--log-level", default="info", choices=["debug", "info", "warning"])
    worker.set_defaults(func=_cmd_worker)

    user = sub.add_parser("user", help="manage accounts").add_subparsers(
        dest="user_command", required=True
    )
    add = user.add_parser("add", help="create an account")
    add.add_argument("name")
    add.add_argument("--admin", action="store_true")
    add.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    add.set_defaults(func=_cmd_user_add)
    token = user.add_parser("token", help="print an access token for a user")
    token.add_argument("name")
    token.add_argument("--ttl-minutes", type=int)
    token.set_defaults(func=_cmd_user_token)
    limits = user.add_parser("limits", help="show or set a user's limits")
    limits.add_argument("name")
    limits.add_argument("--daily-limit", type=_non_negative)
    limits.add_argument("--max-runs-per-job", type=int, choices=range(1, 31), metavar="1..30")
    limits.add_argument("--max-pending-jobs", type=_non_negative)
    limits.add_argument("--sim-daily-limit", type=_non_negative, help="simulator jobs per day")
    limits.add_argument(
        "--sim-max-pending-jobs", type=_non_negative, help="simulator jobs waiting at once"
    )
    limits.set_defaults(func=_cmd_user_limits)
    accounts = [
        (
            "disable",
            "stop an account: no login, and its tokens and console sessions are refused "
            "(its jobs stay)",
        ),
        ("enable", "let a disabled account log in again (tokens from before stay refused)"),
        (
            "revoke-tokens",
            "refuse every token and console session issued to the user so far "
            "(they can log in again)",
        ),
        (
            "delete",
            "delete an account with all its jobs and results (queued runs leave the "
            "queue; a run in progress finishes and its result is dropped)",
        ),
    ]
    account_parsers = []
    for name, text in accounts:
        p = user.add_parser(name, help=text, description=text)
        p.add_argument("name")
        p.set_defaults(func=_cmd_user_account)
        account_parsers.append(p)
    account_parsers[-1].add_argument(
        "--yes", action="store_true", help="do not ask for confirmation"
    )
    for p in (add, token, limits, *account_parsers):
        p.add_argument("--database-url")

    db = sub.add_parser("db", help="database maintenance").add_subparsers(
        dest="db_command", required=True
    )
    upgrade = db.add_parser("upgrade", help="apply the schema migrations")
    upgrade.add_argument("--database-url")
    upgrade.set_defaults(func=_cmd_db_upgrade)

    for name, module, text in (
        ("demo", "oqtant.demo", "run the demonstration"),
        ("login", "oqtant.login", "log in and cache a token"),
    ):
        p = sub.add_parser(name, help=text, add_help=False)
        p.add_argument("rest", nargs=argparse.REMAINDER)
        p.set_defaults(func=_delegate(module))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``oqtant`` command."""
    argv = list(sys.argv[1:] if argv is None else argv)
    # `demo` and `login` own their options: hand them everything after the name
    # (argparse's REMAINDER would reject a leading --option).
    delegated = {"demo": "oqtant.demo", "login": "oqtant.login"}
    if argv and argv[0] in delegated:
        return _delegate(delegated[argv[0]])(argparse.Namespace(rest=argv[1:]))
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
