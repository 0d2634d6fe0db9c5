"""The queue: a dispatcher that leases runs from the database and executes them."""

from oqtant.server.queue.dispatcher import Dispatcher, make_executor
from oqtant.server.queue.execute import RunFailure, execute_run
from oqtant.server.queue.worker import run_worker

__all__ = ["Dispatcher", "RunFailure", "execute_run", "make_executor", "run_worker"]
