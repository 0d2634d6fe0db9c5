"""DaskExecutor's hand-over of results, failures, lost workers and cancellation."""

from __future__ import annotations

from concurrent.futures.process import BrokenProcessPool

import pytest
from distributed import KilledWorker

from oqtant.server.queue.dask_executor import DaskExecutor, TaskFuture, is_lost_worker_error


class FakeTask:
    """Stands in for a finished ``distributed.Future``."""

    def __init__(self, status: str, result=None, exception: BaseException | None = None):
        self.status = status
        self._result = result
        self._exception = exception
        self.cancelled = False

    def result(self):
        return self._result

    def exception(self):
        return self._exception

    def cancel(self):
        self.cancelled = True


def _settled(task: FakeTask) -> TaskFuture:
    future = TaskFuture(task)
    future.settle()
    return future


def test_results_and_run_failures_pass_through():
    assert _settled(FakeTask("finished", result=("{}", "[]", 0.1))).result(0) == ("{}", "[]", 0.1)
    with pytest.raises(ValueError, match="bad input"):
        _settled(FakeTask("error", exception=ValueError("bad input"))).result(0)


def test_a_lost_dask_worker_looks_like_a_dead_pool_process():
    """The dispatcher gives such a run back to the queue instead of failing it."""
    lost = KilledWorker("execute_run-123", "tcp://127.0.0.1:4000", 3)
    with pytest.raises(BrokenProcessPool, match="Dask worker lost"):
        _settled(FakeTask("error", exception=lost)).result(0)
    with pytest.raises(BrokenProcessPool, match="cancelled"):
        _settled(FakeTask("cancelled")).result(0)
    assert is_lost_worker_error(lost)
    assert not is_lost_worker_error(RuntimeError("the RF amplifier tripped"))


def test_cancelling_the_future_cancels_the_dask_task():
    task = FakeTask("pending")
    TaskFuture(task).cancel()
    assert task.cancelled


def test_a_real_in_process_cluster_runs_tasks():
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None
    ) as cluster:
        executor = DaskExecutor(cluster.scheduler_address, timeout_s=10)
        try:
            assert executor.capacity == 2
            assert [executor.submit(pow, 2, k).result(timeout=10) for k in (3, 3)] == [8, 8]
            with pytest.raises(ZeroDivisionError):
                executor.submit(divmod, 1, 0).result(timeout=10)
        finally:
            executor.shutdown()


def test_an_unreachable_scheduler_is_a_clear_error():
    from oqtant.demo import free_port

    with pytest.raises(RuntimeError, match="cannot reach the Dask scheduler"):
        DaskExecutor(f"tcp://127.0.0.1:{free_port()}", timeout_s=1)
