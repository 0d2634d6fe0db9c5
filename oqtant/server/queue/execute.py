"""What a worker process does with one run: load the backend once, run, return JSON.

Everything here is a module-level function of plain arguments, so it can be
sent to a process pool or a Dask cluster. With ``figures=True`` the worker also
draws the run's figures once it has run (:mod:`oqtant.server.figures`, which
imports matplotlib on the first figure, not when a worker starts).
"""

from __future__ import annotations

import json
import logging
import time

from oqtant.backend import Backend, RunResult, load_backend
from oqtant.schemas.job import InputValues
from oqtant.server.queue.pool import report_start
from oqtant.server.summaries import summary_json

__all__ = ["RunFailure", "execute_run"]

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
    *,
    figures: bool = False,
    name: str = "",
) -> tuple[str, str, float, str, dict[str, bytes]]:
    """Run one input through ``backend`` (``run_id``: reported to the pool as the run starts).

    Returns ``(output_json, raw_images_json, duration_s, summary_json, figures)``:
    ``summary_json`` holds the few numbers a list of runs shows (see
    ``crud.summary_json``); ``figures`` the run's figures as PNG (``{kind: bytes}``)
    when ``figures`` is true (``name``: the job's name, in their titles), else
    ``{}``. ``duration_s`` is the backend's time alone. A figure that cannot be
    drawn is left out, never failing the run. Raises RunFailure with a readable
    reason when the backend fails or returns garbage.
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
        summary = summary_json(result.output.values)
    except Exception as exc:  # noqa: BLE001 - whatever is wrong with it, the run failed
        raise RunFailure(f"the backend returned an invalid result: {exc}") from None
    duration_s = time.perf_counter() - start
    drawn = _figures(name, values, output_json) if figures else {}
    return output_json, raw_json, duration_s, summary, drawn


def _figures(name: str, values: InputValues, output_json: str) -> dict[str, bytes]:
    """The run's figures; none (logged) if even the drawing module cannot be loaded."""
    try:
        from oqtant.server.figures import draw_run_figures

        return draw_run_figures(name, values, json.loads(output_json)["values"])
    except Exception:  # noqa: BLE001 - figures are drawn on demand later; the run stands
        log.exception("could not draw the figures of a run of job %r", name)
        return {}
