"""Runs on a Dask distributed cluster, behind the ``concurrent.futures.Executor`` interface.

The dispatcher claims runs, holds their leases and stores the results exactly as
with the local process pool; only where a run executes changes. Each Dask worker
loads the backend once (``execute_run`` keeps it per process), so the backend must
be importable on the workers.
"""

from __future__ import annotations

import concurrent.futures as cf
from concurrent.futures.process import BrokenProcessPool

__all__ = ["DaskExecutor", "TaskFuture", "is_lost_worker_error"]


class TaskFuture(cf.Future):
    """The ``concurrent.futures`` Future of one Dask task; cancelling it cancels the task.

    A task whose Dask worker was lost (or that was cancelled on the cluster) ends
    as ``BrokenProcessPool``: the dispatcher then gives the run back to the queue,
    as for a dead process of the local pool, instead of failing it.
    """

    def __init__(self, task):
        super().__init__()
        self.task = task
        self.set_running_or_notify_cancel()

    def cancel(self) -> bool:
        """Cancel the Dask task (frees its worker thread, e.g. after a run timeout)."""
        self.task.cancel()
        return super().cancel()

    def settle(self, task=None) -> None:
        """Copy the finished task's outcome into this Future (a Dask done-callback)."""
        task = task if task is not None else self.task
        try:
            status = task.status
            if status == "finished":
                self.set_result(task.result())
            elif status == "cancelled":
                self.set_exception(BrokenProcessPool("the Dask task was cancelled"))
            else:
                exc = task.exception()
                if is_lost_worker_error(exc):
                    self.set_exception(BrokenProcessPool(f"Dask worker lost: {_describe(exc)}"))
                else:
                    self.set_exception(exc)
        except BaseException as error:  # noqa: BLE001 - the dispatcher must always hear back
            if not self.done():
                self.set_exception(error)


class DaskExecutor(cf.Executor):
    """Submit runs to the Dask scheduler at ``address`` (e.g. ``tcp://10.0.0.2:8786``).

    Args:
        address: the scheduler's address.
        capacity: runs held at once; default the cluster's total threads at connection time.
        timeout_s: how long to wait for the scheduler when connecting.
    """

    def __init__(self, address: str, *, capacity: int | None = None, timeout_s: float = 30.0):
        try:
            from distributed import Client
        except ImportError as exc:  # pragma: no cover - the dask extra is not installed
            raise RuntimeError(
                "--dask-scheduler needs the 'distributed' package: pip install 'oqtant[dask]'"
            ) from exc
        self.address = address
        try:
            self.client = Client(address, timeout=timeout_s, set_as_default=False)
        except OSError as exc:
            raise RuntimeError(f"cannot reach the Dask scheduler at {address}: {exc}") from None
        threads = sum(self.client.nthreads().values())
        self._max_workers = max(1, capacity or threads or 1)

    @property
    def capacity(self) -> int:
        """Runs the dispatcher holds at once on this cluster."""
        return self._max_workers

    def submit(self, fn, /, *args, **kwargs) -> TaskFuture:
        """Submit ``fn(*args, **kwargs)`` as one Dask task (never deduplicated: ``pure=False``)."""
        future = TaskFuture(self.client.submit(fn, *args, pure=False, **kwargs))
        future.task.add_done_callback(future.settle)
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self.client.close()


def _describe(exc: BaseException) -> str:
    """``str(exc)``, or its type name when even that fails."""
    try:
        return f"{type(exc).__name__}: {exc}"
    except Exception:  # noqa: BLE001 - a broken __str__ must not hide the error
        return type(exc).__name__


def is_lost_worker_error(exc: BaseException) -> bool:
    """True if ``exc`` says the Dask worker running the task died (not that the run failed)."""
    return type(exc).__name__ in {"KilledWorker", "CommClosedError", "FutureCancelledError"}
