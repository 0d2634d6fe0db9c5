"""What a worker process does with one run: load the backend once, run, return JSON.

Everything here is a module-level function of plain arguments, so it can be
sent to a process pool or a Dask cluster: :func:`execute_run` runs a run,
:func:`draw_figure` draws one console figure of a completed run (sent by the
dispatcher when no run waits for a worker; :mod:`oqtant.server.figures` imports
matplotlib on the first figure, not when a worker starts).
"""

from __future__ import annotations

import json
import logging
import time

from oqtant.backend import Backend, RunResult, load_backend
from oqtant.schemas.job import InputValues
from oqtant.server.queue.pool import report_start
from oqtant.server.summaries import summary_json

__all__ = ["RunFailure", "draw_figure", "execute_run"]

log = logging.getLogger("oqtant.server.execute")

_BACKENDS: dict[str, Backend] = {}


class RunFailure(Exception):
    """The backend raised or returned something that is not a run result."""


def _backend(spec: str | Backend) -> Backend:
    if not isinstance(spec, str):
        return spec
    if spec not in _BACKENDS:
        _BACKENDS[spec] = load_backend(spec)
    return _BACKENDS[spec]


def execute_run(
    backend: str | Backend,
    values_json: str,
    seed: int,
    run_id: int | None = None,
) -> tuple[str, str, float, str]:
    """Run one input through ``backend`` (``run_id``: reported to the pool as the run starts).

    Returns ``(output_json, raw_images_json, duration_s, summary_json)``:
    ``summary_json`` holds the few numbers a list of runs shows (see
    ``crud.summary_json``). Raises RunFailure with a readable reason when the
    backend fails or returns garbage.
    """
    report_start(run_id)  # the dispatcher's run timeout counts from here
    start = time.perf_counter()
    values = InputValues.model_validate_json(values_json)
    try:
        result = _backend(backend).run(values, seed)
    except Exception as exc:  # noqa: BLE001 - the reason goes to the user; the worker survives
        raise RunFailure(f"{type(exc).__name__}: {exc}") from None
    try:
        if not isinstance(result, RunResult):
            result = RunResult.model_validate(result)
        output_json = result.output.model_dump_json()
        raw_json = json.dumps([img.model_dump(mode="json") for img in result.raw_images])
        summary = summary_json(result.output.values, values)
    except Exception as exc:  # noqa: BLE001 - whatever is wrong with it, the run failed
        raise RunFailure(f"the backend returned an invalid result: {exc}") from None
    return output_json, raw_json, time.perf_counter() - start, summary


def draw_figure(name: str, values_json: str, output_values_json: str, kind: str) -> bytes | None:
    """One console figure of a completed run as PNG, or None (logged) when it cannot be drawn.

    ``name``: the job's name (in the titles of the input figures). A figure that
    is not drawn here is drawn by the console when it is first asked for.
    """
    try:
        from oqtant.server.figures import draw_run_figure

        return draw_run_figure(name, values_json, output_values_json, kind)
    except Exception:  # noqa: BLE001 - a figure is never worth more than a log line
        log.exception("could not draw the %s figure of job %r; it is drawn when asked", kind, name)
        return None
