"""The queue: a dispatcher that leases runs from the database and executes them.

The names below are imported on first use (PEP 562): a worker process imports
``oqtant.server.queue.execute`` alone, without the dispatcher and the database.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from oqtant.server._lazy import lazy_getattr

if TYPE_CHECKING:
    from oqtant.server.queue.dispatcher import Dispatcher, make_executor
    from oqtant.server.queue.execute import RunFailure, execute_run
    from oqtant.server.queue.worker import run_worker

__all__ = ["Dispatcher", "RunFailure", "execute_run", "make_executor", "run_worker"]

_HOMES = {
    "Dispatcher": "oqtant.server.queue.dispatcher",
    "make_executor": "oqtant.server.queue.dispatcher",
    "RunFailure": "oqtant.server.queue.execute",
    "execute_run": "oqtant.server.queue.execute",
    "run_worker": "oqtant.server.queue.worker",
}


__getattr__ = lazy_getattr(__name__, _HOMES)


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
