"""A worker process without the API: ``oqtant worker``.

Any number of workers, on any machine that reaches the database, claim runs from
the shared queue (``SELECT ... FOR UPDATE SKIP LOCKED`` on PostgreSQL), hold
leases they renew while running, and store the results. On SIGTERM or SIGINT a
worker stops claiming, waits for its runs in flight (up to
``settings.shutdown_grace_seconds``) and gives back the ones it could not finish.
"""

from __future__ import annotations

import concurrent.futures as cf
import logging
import signal
import threading
from collections.abc import Callable

from oqtant.settings import Settings

__all__ = ["run_worker"]

log = logging.getLogger("oqtant.server.worker")


def run_worker(
    settings: Settings,
    *,
    dask_scheduler: str | None = None,
    capacity: int | None = None,
    stop_event: threading.Event | None = None,
    grace_s: float | None = None,
    on_ready: Callable[[str], None] | None = None,
) -> int:
    """Run a dispatcher in the foreground until SIGTERM/SIGINT (or ``stop_event``); exit code.

    Args:
        settings: database URL, backends, lease time; ``settings.workers`` is the size of
            the local pool.
        dask_scheduler: send runs to this Dask scheduler instead of a local pool.
        capacity: runs held at once (default: ``settings.workers``, or the Dask cluster's
            threads).
        stop_event: set it to stop the worker (for embedding); signals set it too.
        grace_s: how long to wait for runs in flight when stopping (default:
            ``settings.shutdown_grace_seconds``).
        on_ready: called with a one-line description once the worker takes runs.

    Raises:
        RuntimeError: the database schema is not current (says to run ``oqtant db upgrade``)
            or the Dask scheduler cannot be reached.
    """
    from oqtant.server.db import make_engine, make_session_factory
    from oqtant.server.db.migrate import prepare_database
    from oqtant.server.queue.dispatcher import Dispatcher

    prepare_database(settings)
    if grace_s is None:
        grace_s = settings.shutdown_grace_seconds
    stop = stop_event or threading.Event()
    executor: cf.Executor | None = None
    where = f"local {settings.executor} pool"
    if dask_scheduler:
        from oqtant.server.queue.dask_executor import DaskExecutor

        executor = DaskExecutor(dask_scheduler, capacity=capacity)
        capacity = executor.capacity
        where = f"Dask cluster at {dask_scheduler}"
    capacity = capacity or settings.workers
    if capacity < 1:
        raise RuntimeError("a worker needs at least one run slot: --workers must be >= 1")

    engine = make_engine(settings.resolved_database_url, settings=settings)
    dispatcher = Dispatcher(
        make_session_factory(engine), settings, executor=executor, capacity=capacity
    )
    previous = {}
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGTERM, signal.SIGINT):
            previous[signum] = signal.signal(signum, lambda *_: stop.set())
    try:
        dispatcher.start()
        database = settings.resolved_database_url.split("@")[-1]
        message = (
            f"oqtant worker {dispatcher.owner}: {capacity} run(s) at once on the {where}, "
            f"database {database}, backend {settings.backend}"
        )
        log.info(message)
        if on_ready is not None:
            on_ready(message)
        stop.wait()
        log.info("stopping: waiting up to %g s for runs in flight", grace_s)
    finally:
        dispatcher.stop(timeout=grace_s)
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)
        engine.dispose()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return 0
