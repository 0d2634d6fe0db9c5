"""The dispatcher: claims runs with a lease and executes them on an Executor.

Runs are claimed fairly between users and first in, first out within one user
(see ``crud.claim_next_run``); hardware and simulator runs share the slots.

One dispatcher runs as a background thread of ``oqtant serve``. It holds at
most ``capacity`` runs at a time, renews their leases while they run, stores
each result, and lets the database decide each job's final status. Several
dispatchers (in other processes or machines) may share one database: each has
its own ``owner`` id, and a run whose lease expires is taken by whoever asks next.

Once a run is stored, its console figures are drawn on the same executor, one
task a figure, only in slots no run waits for: runs always go first, and a
figure delays a newly submitted run by one figure's drawing at most. Figures
not drawn this way (a busy queue, a stop) are drawn by the console on demand.
"""

from __future__ import annotations

import concurrent.futures as cf
import json
import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable

from sqlalchemy.orm import Session, sessionmaker

from oqtant.backend import Backend
from oqtant.server.db import crud
from oqtant.server.queue.execute import RunFailure, draw_figure, execute_run
from oqtant.server.queue.pool import drain_starts, kill_workers, make_executor, run_starts
from oqtant.settings import Settings

__all__ = ["Dispatcher", "make_executor"]

log = logging.getLogger("oqtant.server.dispatcher")


class Dispatcher:
    """Claims runs from the database and executes them on an Executor.

    Args:
        session_factory: makes database sessions.
        settings: lease time, poll interval, workers, backend specs.
        backend: a backend object to use instead of ``settings.backend`` (must be picklable
            for a process pool).
        sim_backend: the same for simulator jobs.
        executor: an Executor to use instead of creating one; its size is ``capacity``.
        capacity: runs held at once (default: ``settings.workers``).
    """

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        settings: Settings,
        *,
        backend: str | Backend | None = None,
        sim_backend: str | Backend | None = None,
        executor: cf.Executor | None = None,
        capacity: int | None = None,
    ):
        self.session_factory = session_factory
        self.settings = settings
        self.backend = backend if backend is not None else settings.backend
        self.sim_backend = sim_backend if sim_backend is not None else settings.sim_backend
        self.capacity = max(1, capacity or settings.workers)
        self.owner = f"dispatcher-{uuid.uuid4()}"
        self._executor = executor
        self._own_executor = executor is None
        self._inflight: dict[cf.Future, crud.ClaimedRun] = {}
        # monotonic time each run started: reported by the workers of pools from
        # make_executor; for other executors, the time it was handed out
        self._started: dict[cf.Future, float] = {}
        self._pids: dict[cf.Future, int] = {}  # the worker process of each started run
        self._by_run: dict[int, cf.Future] = {}
        # console figures of stored runs still to draw: (job id, run, name, values, output, kind)
        self._figure_backlog: deque[tuple[int, int, str, str, str, str]] = deque()
        # being drawn: (job, run, kind, the executor drawing it)
        self._figures: dict[cf.Future, tuple[int, int, str, cf.Executor]] = {}
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_renewal = 0.0
        self.on_event: Callable[[str, crud.ClaimedRun], None] | None = None

    # ---- lifecycle

    @property
    def executor(self) -> cf.Executor:
        if self._executor is None:
            self._executor = make_executor(self.settings.executor, self.capacity)
        return self._executor

    def start(self) -> None:
        """Run the dispatch loop in a background thread."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="oqtant-dispatcher", daemon=True)
        self._thread.start()

    def stop(self, *, timeout: float = 30.0) -> None:
        """Stop taking work, wait up to ``timeout`` s for runs in flight, release the rest."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout + 5)
            self._thread = None
        # figures not drawn yet are drawn by the console when asked for
        self._figure_backlog.clear()
        for future in self._figures:
            future.cancel()
        self._figures.clear()
        self._drain(timeout)
        self._note_starts()
        stuck = list(self._inflight)
        if stuck:
            # kill the worker processes whose runs would not end, then hand the runs back
            self._replace_executor([self._pids.get(f) for f in stuck])
        for future in stuck:
            claimed = self._forget(future)
            self._db(crud.release_run, owner=self.owner, run_id=claimed.run_id)
        if self._own_executor and self._executor is not None:
            # wait for idle workers to exit cleanly; do not wait on a run that hangs
            self._executor.shutdown(wait=not stuck, cancel_futures=True)
            self._executor = None

    def wake(self) -> None:
        """Look for work now rather than at the next poll (called after a submit)."""
        self._wake.set()

    # ---- one step of the loop

    def step(self) -> int:
        """Claim runs up to capacity and store the results of finished ones; returns runs held."""
        self._collect(block=False)
        self._expire_overdue()
        self._renew_if_due()
        while self._busy() < self.capacity and not self._stop.is_set():
            claimed = self._db(
                crud.claim_next_run,
                owner=self.owner,
                lease_seconds=self.settings.lease_seconds,
                max_attempts=self.settings.max_attempts,
            )
            if claimed is None:
                break
            backend = self.sim_backend if claimed.sim else self.backend
            executor = self.executor
            future = executor.submit(
                execute_run,
                backend,
                claimed.values_json,
                claimed.seed,
                claimed.run_id,
            )
            self._inflight[future] = claimed
            self._by_run[claimed.run_id] = future
            if run_starts(executor) is None:  # its workers do not say when a run starts
                self._started[future] = time.monotonic()
            self._emit("claimed", claimed)
        # no run waits (or every slot is busy): free slots draw figures of stored runs
        while self._figure_backlog and self._busy() < self.capacity and not self._stop.is_set():
            job_id, run, name, values_json, output_json, kind = self._figure_backlog.popleft()
            executor = self.executor
            drawing = executor.submit(draw_figure, name, values_json, output_json, kind)
            self._figures[drawing] = (job_id, run, kind, executor)
        return self._busy()

    def _busy(self) -> int:
        """Slots in use: runs in flight and figures being drawn."""
        return len(self._inflight) + len(self._figures)

    def run_until_idle(self, *, timeout: float = 30.0) -> None:
        """Dispatch until nothing is runnable and nothing is in flight (for tests and scripts)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            held = self.step()
            if held == 0:
                return
            self._collect(block=True, timeout=min(0.5, self.settings.poll_seconds))
        raise TimeoutError(f"runs still in flight after {timeout} s")

    # ---- internals

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                held = self.step()
                if held:
                    self._collect(block=True, timeout=self.settings.poll_seconds)
                    continue
            except Exception:  # never let the loop die: the database may come back
                # a result that could not be stored is retried when its lease expires
                log.exception("dispatch step failed")
                self._stop.wait(self.settings.poll_seconds)
                continue
            self._wake.wait(self.settings.poll_seconds)
            self._wake.clear()

    def _collect(self, *, block: bool, timeout: float = 0.0) -> None:
        pending = [*self._inflight, *self._figures]
        if not pending:
            return
        if block:
            done = cf.wait(pending, timeout=timeout, return_when=cf.FIRST_COMPLETED)[0]
        else:
            done = {f for f in pending if f.done()}
        for future in done:
            if future in self._figures:
                self._store_figure(future, *self._figures.pop(future))
            else:
                claimed = self._forget(future)
                self._store(future, claimed)

    def _store_figure(
        self, future: cf.Future, job_id: int, run: int, kind: str, executor: cf.Executor
    ) -> None:
        """Store a drawn figure; one that failed (or whose worker died) is drawn on demand."""
        try:
            png = future.result()
        except cf.process.BrokenProcessPool:
            log.error(
                "worker process died drawing figure %s of run %s of job %s", kind, run, job_id
            )
            if self._own_executor and self._executor is executor:  # not a fresh pool
                self._executor.shutdown(wait=False, cancel_futures=True)
                self._executor = None
            return
        except Exception:  # noqa: BLE001 - cancelled or failed: the console draws it when asked
            log.exception("figure %s of run %s of job %s was not drawn", kind, run, job_id)
            return
        if png:
            self._db(crud.store_figures, job_id=job_id, run=run, figures={kind: png})

    def _forget(self, future: cf.Future) -> crud.ClaimedRun:
        """Stop tracking a run in flight; returns its claim."""
        claimed = self._inflight.pop(future)
        self._started.pop(future, None)
        self._pids.pop(future, None)
        self._by_run.pop(claimed.run_id, None)
        return claimed

    def _note_starts(self) -> None:
        """Record the runs that the workers of the current pool have started."""
        starts = run_starts(self._executor) if self._executor is not None else None
        if starts is None:
            return
        now = time.monotonic()
        for run_id, pid in drain_starts(starts):
            future = self._by_run.get(run_id)
            if future is not None and future not in self._started:
                self._started[future] = now
                self._pids[future] = pid

    def _expire_overdue(self) -> None:
        """Fail runs running longer than ``run_timeout_seconds``; replace the workers they hold.

        A run's time counts from the moment a worker starts it: a run waiting in
        the pool for a worker (e.g. while a fresh pool starts its processes) is not
        running yet.
        """
        self._note_starts()
        limit = self.settings.run_timeout_seconds
        now = time.monotonic()
        overdue = [f for f, t0 in self._started.items() if now - t0 > limit and not f.done()]
        if not overdue:
            return
        pids = [self._pids.get(f) for f in overdue]
        hung = [self._forget(f) for f in overdue]
        for future in overdue:
            future.cancel()
        killed = []
        if self._replace_executor(pids):
            # the other runs executing on the killed pool died with it: back to the queue now
            # (not later through BrokenProcessPool, which would shut down the fresh pool)
            killed = [self._forget(f) for f in list(self._inflight)]
        reason = f"timed out: the backend ran longer than run_timeout_seconds = {limit:g} s"
        for claimed in hung:
            log.error(
                "run %s of job %s ran longer than %g s; failing it",
                claimed.run,
                claimed.job_id,
                limit,
            )
            self._db(crud.fail_run, owner=self.owner, run_id=claimed.run_id, reason=reason)
            self._emit("failed", claimed)
        for claimed in killed:
            self._db(crud.release_run, owner=self.owner, run_id=claimed.run_id)

    def _replace_executor(self, pids: Iterable[int | None] = ()) -> bool:
        """Abandon a pool holding hung runs; later runs get a fresh pool.

        ``pids`` are the worker processes of the hung runs (None: not known).
        Returns True when the pool's processes were killed. A hung thread cannot be
        killed: it is left behind, and the other threads finish their runs.
        """
        if not self._own_executor or self._executor is None:
            return False
        executor, self._executor = self._executor, None
        killed = kill_workers(executor, pids)
        executor.shutdown(wait=False, cancel_futures=True)
        return killed

    def _store(self, future: cf.Future, claimed: crud.ClaimedRun) -> None:
        try:
            output_json, raw_json, duration_s, summary = future.result()
        except RunFailure as exc:
            self._db(crud.fail_run, owner=self.owner, run_id=claimed.run_id, reason=str(exc))
            self._emit("failed", claimed)
            return
        except cf.process.BrokenProcessPool:
            # the worker process died (killed, out of memory): retry on a fresh pool
            log.error("worker process died during run %s of job %s", claimed.run, claimed.job_id)
            self._db(crud.release_run, owner=self.owner, run_id=claimed.run_id)
            if self._own_executor and self._executor is not None:
                self._executor.shutdown(wait=False, cancel_futures=True)
                self._executor = None
            return
        except Exception as exc:  # noqa: BLE001 - any other failure of a run fails that run only
            reason = f"{type(exc).__name__}: {exc}"
            self._db(crud.fail_run, owner=self.owner, run_id=claimed.run_id, reason=reason)
            self._emit("failed", claimed)
            return
        stored = self._db(
            crud.complete_run,
            owner=self.owner,
            run_id=claimed.run_id,
            output_json=output_json,
            raw_images_json=raw_json,
            duration_s=duration_s,
            summary=summary,
        )
        self._emit("completed" if stored else "lost", claimed)
        if stored and self.settings.figures_at_completion:
            self._queue_figures(claimed, output_json)

    def _queue_figures(self, claimed: crud.ClaimedRun, output_json: str) -> None:
        """Put the console figures of a stored run in the backlog (drawn in free slots)."""
        from oqtant.schemas.job import InputValues
        from oqtant.server.figures import figure_kinds

        try:
            output_values = json.loads(output_json)["values"]
            kinds = figure_kinds(
                InputValues.model_validate_json(claimed.values_json), output_values
            )
        except Exception:  # noqa: BLE001 - the run is stored; its figures are drawn on demand
            log.exception("no figures for run %s of job %s", claimed.run, claimed.job_id)
            return
        values_text = json.dumps(output_values)
        for kind in kinds:
            self._figure_backlog.append(
                (
                    claimed.job_id,
                    claimed.run,
                    claimed.job_name,
                    claimed.values_json,
                    values_text,
                    kind,
                )
            )

    def _renew_if_due(self) -> None:
        now = time.monotonic()
        if not self._inflight or now - self._last_renewal < self.settings.lease_seconds / 3:
            return
        self._last_renewal = now
        ids = [c.run_id for c in self._inflight.values()]
        self._db(
            crud.renew_leases,
            owner=self.owner,
            run_ids=ids,
            lease_seconds=self.settings.lease_seconds,
        )

    def _drain(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self._inflight and time.monotonic() < deadline:
            self._collect(block=True, timeout=min(0.5, max(deadline - time.monotonic(), 0)))

    def _db(self, fn, **kwargs):
        """Call a crud function with a fresh session."""
        with self.session_factory() as session:
            return fn(session=session, **kwargs)

    def _emit(self, event: str, claimed: crud.ClaimedRun) -> None:
        if self.on_event is not None:
            self.on_event(event, claimed)
