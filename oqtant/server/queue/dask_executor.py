"""Runs on a Dask distributed cluster, behind the ``concurrent.futures.Executor`` interface.

The dispatcher claims runs, holds their leases and stores the results exactly as
with the local process pool; only where a run executes changes. Each Dask worker
loads the backend once (``execute_run`` keeps it per process), so the backend must
be importable on the workers.
"""

from __future__ import annotations

import concurrent.futures as cf
from concurrent.futures.process import BrokenProcessPool

__all__ = ["DaskExecutor", "is_lost_worker_error"]


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
        # pure=False: two runs with equal inputs are still two runs
        self._executor = self.client.get_executor(pure=False)
        threads = sum(self.client.nthreads().values())
        self._max_workers = max(1, capacity or threads or 1)

    @property
    def capacity(self) -> int:
        """Runs the dispatcher holds at once on this cluster."""
        return self._max_workers

    def submit(self, fn, /, *args, **kwargs) -> cf.Future:
        """Submit ``fn(*args, **kwargs)``; a lost Dask worker ends it as BrokenProcessPool.

        The dispatcher gives a run whose worker died back to the queue (as for a dead
        process of the local pool) instead of failing it.
        """
        inner = self._executor.submit(fn, *args, **kwargs)
        outer: cf.Future = cf.Future()
        outer.set_running_or_notify_cancel()

        def _copy(done: cf.Future) -> None:
            try:
                if done.cancelled():
                    outer.set_exception(BrokenProcessPool("the Dask task was cancelled"))
                    return
                exc = done.exception()
                if exc is None:
                    outer.set_result(done.result())
                elif is_lost_worker_error(exc):
                    outer.set_exception(BrokenProcessPool(f"Dask worker lost: {_describe(exc)}"))
                else:
                    outer.set_exception(exc)
            except BaseException as error:  # noqa: BLE001 - the dispatcher must always hear back
                if not outer.done():
                    outer.set_exception(error)

        inner.add_done_callback(_copy)
        return outer

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        try:
            self._executor.shutdown(wait=wait and not cancel_futures)
        finally:
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
