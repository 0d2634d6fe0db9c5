"""The job service: REST API, accounts, quotas, queue and dispatch (``oqtant serve``).

The names below are imported on first use (PEP 562), so that a worker process,
which needs only ``oqtant.server.queue.execute``, does not load the web app.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from oqtant.server._lazy import lazy_getattr

if TYPE_CHECKING:
    from oqtant.server.app import create_app
    from oqtant.server.db.migrate import prepare_database
    from oqtant.server.queue.dispatcher import Dispatcher

__all__ = ["Dispatcher", "create_app", "prepare_database"]

_HOMES = {
    "Dispatcher": "oqtant.server.queue.dispatcher",
    "create_app": "oqtant.server.app",
    "prepare_database": "oqtant.server.db.migrate",
}


__getattr__ = lazy_getattr(__name__, _HOMES)


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
