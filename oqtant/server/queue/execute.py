"""What a worker process does with one run: load the backend once, run, return JSON.

Everything here is a module-level function of plain arguments, so it can be
sent to a process pool (or, later, a Dask cluster).
"""

from __future__ import annotations

import json
import time

from oqtant.backend import Backend, RunResult, load_backend
from oqtant.schemas.job import InputValues
from oqtant.server.queue.pool import report_start
from oqtant.server.summaries import summary_json

__all__ = ["RunFailure", "execute_run"]

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
    backend: str | Backend, values_json: str, seed: int, run_id: int | None = None
) -> tuple[str, str, float, str]:
    """Run one input through ``backend`` (``run_id``: reported to the pool as the run starts).

    Returns ``(output_json, raw_images_json, duration_s, summary_json)`` (the
    last: the few numbers a list of runs shows, see ``crud.summary_json``);
    raises RunFailure with a readable reason when the backend fails or returns garbage.
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
