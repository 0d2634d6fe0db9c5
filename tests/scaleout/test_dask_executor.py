"""DaskExecutor's hand-over of results and of lost workers, without a cluster."""

from __future__ import annotations

import concurrent.futures as cf
from concurrent.futures.process import BrokenProcessPool

import pytest
from distributed import KilledWorker

from oqtant.server.queue.dask_executor import DaskExecutor, is_lost_worker_error


def _executor_over(inner: cf.Executor) -> DaskExecutor:
    executor = DaskExecutor.__new__(DaskExecutor)  # no scheduler: wrap a local pool instead
    executor._executor = inner
    executor._max_workers = 1
    return executor


def _raise(exc: BaseException):
    raise exc


def test_results_and_run_failures_pass_through():
    with cf.ThreadPoolExecutor(1) as inner:
        executor = _executor_over(inner)
        assert executor.submit(pow, 2, 10).result(timeout=5) == 1024
        with pytest.raises(ValueError, match="bad input"):
            executor.submit(_raise, ValueError("bad input")).result(timeout=5)


def test_a_lost_dask_worker_looks_like_a_dead_pool_process():
    """The dispatcher gives such a run back to the queue instead of failing it."""
    with cf.ThreadPoolExecutor(1) as inner:
        executor = _executor_over(inner)
        future = executor.submit(_raise, KilledWorker("execute_run-123", "tcp://127.0.0.1:4000", 3))
        with pytest.raises(BrokenProcessPool, match="Dask worker lost"):
            future.result(timeout=5)
    assert is_lost_worker_error(KilledWorker("t", "w", 3))
    assert not is_lost_worker_error(RuntimeError("the RF amplifier tripped"))


def test_an_unreachable_scheduler_is_a_clear_error():
    from oqtant.demo import free_port

    with pytest.raises(RuntimeError, match="cannot reach the Dask scheduler"):
        DaskExecutor(f"tcp://127.0.0.1:{free_port()}", timeout_s=1)
