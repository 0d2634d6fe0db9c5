"""The local pools that execute runs, and what their workers do besides running.

:func:`make_executor` makes a process pool (spawned processes) or a thread pool
whose workers

* report each run they start (``(run_id, pid)`` on the pool's ``run_starts``
  queue), so that the dispatcher times a run from the moment it really starts,
  not from the moment it was handed to a pool that may still be starting a
  worker (:func:`report_start`, called by ``execute_run``);
* (process workers) exit by themselves when the server process that started
  them is gone, even if it was killed with ``kill -9`` and had no chance to
  stop them (:func:`_watch_parent`).

:func:`kill_workers` ends the processes of hung runs by their process ids, known
from those reports, so nothing here reaches into a pool's private attributes.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import os
import queue
import signal
import threading
import time
from collections.abc import Iterable, Iterator

__all__ = [
    "PARENT_CHECK_SECONDS",
    "drain_starts",
    "kill_workers",
    "make_executor",
    "report_start",
    "run_starts",
]

#: how often a worker process checks that the server that started it is alive
PARENT_CHECK_SECONDS = 0.5

# where the current worker (process or thread) reports the runs it starts
_worker = threading.local()


class _ReportingProcessPool(cf.ProcessPoolExecutor):
    """A spawned process pool whose workers report run starts and die with their parent."""

    def __init__(self, workers: int):
        context = multiprocessing.get_context("spawn")
        self.run_starts = context.SimpleQueue()
        super().__init__(
            max_workers=workers,
            mp_context=context,
            initializer=_init_process_worker,
            initargs=(self.run_starts, os.getpid()),
        )


class _ReportingThreadPool(cf.ThreadPoolExecutor):
    """A thread pool whose threads report run starts."""

    def __init__(self, workers: int):
        self.run_starts: queue.SimpleQueue[tuple[int, int]] = queue.SimpleQueue()
        super().__init__(
            max_workers=workers,
            thread_name_prefix="oqtant-run",
            initializer=_init_thread_worker,
            initargs=(self.run_starts,),
        )


def make_executor(kind: str, workers: int) -> cf.Executor:
    """A process pool (spawned, safe next to server threads) or a thread pool of ``workers``."""
    if kind == "thread":
        return _ReportingThreadPool(workers)
    return _ReportingProcessPool(workers)


def run_starts(executor: cf.Executor):
    """The queue on which ``executor``'s workers report run starts; None if they do not."""
    return getattr(executor, "run_starts", None)


def drain_starts(starts) -> Iterator[tuple[int, int]]:
    """The ``(run_id, pid)`` reports waiting on ``starts`` (a queue from :func:`run_starts`)."""
    while not starts.empty():
        yield starts.get()


def kill_workers(executor: cf.Executor, pids: Iterable[int | None]) -> bool:
    """Kill the worker processes ``pids`` of a process pool; True if one was killed.

    A process pool cannot survive one of its workers dying: it breaks, and its
    other workers are ended with it. A thread cannot be killed (False).
    """
    if not isinstance(executor, cf.ProcessPoolExecutor):
        return False
    killed = False
    for pid in {p for p in pids if p}:
        try:
            os.kill(pid, signal.SIGKILL)
            killed = True
        except ProcessLookupError:  # it has just ended by itself
            pass
    return killed


# ---- inside the workers


def report_start(run_id: int | None) -> None:
    """Tell the dispatcher of this worker's pool that run ``run_id`` starts now."""
    starts = getattr(_worker, "starts", None)
    if starts is not None and run_id is not None:
        starts.put((run_id, os.getpid()))


def _init_thread_worker(starts) -> None:
    _worker.starts = starts


def _init_process_worker(starts, parent_pid: int) -> None:
    _worker.starts = starts
    watchdog = threading.Thread(
        target=_watch_parent, args=(parent_pid,), name="oqtant-parent-watch", daemon=True
    )
    watchdog.start()


def _watch_parent(parent_pid: int) -> None:
    """End this worker process as soon as the server process that started it is gone.

    A worker's parent is the server process. When the server is killed, its
    workers are adopted by another process (their parent id changes): they
    would otherwise live on, holding memory and running runs whose results
    nobody stores. This checks the parent id, which works on every POSIX
    system. (Linux's ``PR_SET_PDEATHSIG`` is not used: it fires when the
    *thread* that started the worker ends, and the pool starts workers from
    whichever thread submits, e.g. a dispatcher thread that ends before the
    runs it handed out have finished.)
    """
    while os.getppid() == parent_pid:
        time.sleep(PARENT_CHECK_SECONDS)
    os._exit(1)
