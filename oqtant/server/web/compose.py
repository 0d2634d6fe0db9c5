"""Checking a job composed in the browser with the wire schemas, before anything is sent.

A composed job is one run, optionally with a *sweep*: one numeric field of the
run varied linearly from ``start`` to ``stop`` over ``runs`` runs, which makes
one job of several runs (as ``submit_list_as_batch`` builds it):

    {"name": ..., "inputs": [{"values": ..., "notes": ...}],
     "sweep": {"field": "time_of_flight_ms", "start": 5, "stop": 15, "runs": 6}}
"""

from __future__ import annotations

import copy
import math
import re
from dataclasses import dataclass, field
from typing import Annotated

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, StrictStr
from pydantic import ValidationError as PydanticValidationError

from oqtant.errors import format_pydantic_error
from oqtant.schemas.limits import jset
from oqtant.server.schemas import JobSubmit

__all__ = ["RUN_PREFIX", "Composed", "Sweep", "check_job", "sweep_fields"]

#: the path of the (one) composed run's values in the job; fields are named without it
RUN_PREFIX = "inputs.0.values."

_RUN_FIELD = re.compile(r"^inputs\.(\d+)\.values(?:\.(.*))?$")

_BARRIER_FIELDS = (
    ("positions_um", "final position (µm)"),
    ("heights_khz", "final height (kHz)"),
    ("widths_um", "final width (µm)"),
)


class Sweep(BaseModel):
    """One field of the run varied linearly from ``start`` to ``stop`` over ``runs`` runs."""

    model_config = ConfigDict(extra="forbid")

    field: StrictStr
    start: Annotated[float, Field(allow_inf_nan=False)]
    stop: Annotated[float, Field(allow_inf_nan=False)]
    runs: Annotated[int, Field(ge=2, le=jset.max_runs)]


@dataclass
class Composed:
    """The checked job (None when it has problems) and, for a sweep, what each run sets."""

    job: JobSubmit | None
    problems: list[dict]
    label: str | None = None  # the swept field as people read it
    values: list[float] = field(default_factory=list)  # its value in each run

    def run_label(self, run: int) -> str:
        """``run 3: time of flight (ms) = 7.5`` (or ``run 1`` for a job of one run)."""
        if self.label is None:
            return f"run {run}"
        return f"run {run}: {self.label} = {self.values[run - 1]:g}"


def sweep_fields(values: dict) -> dict[str, str]:
    """The fields of a run's values a sweep can vary, by path, with how people read them.

    ``last`` is the last point of a table: the end of the RF ramp, a barrier's
    final time point.
    """
    fields = {
        "time_of_flight_ms": "time of flight (ms)",
        "end_time_ms": "end of the experiment stage (ms)",
        "rf_evaporation.frequencies_mhz.last": "last RF frequency (MHz)",
        "rf_evaporation.powers_mw.last": "last RF power (mW)",
    }
    for b, _ in enumerate(values.get("optical_barriers") or []):
        for name, text in _BARRIER_FIELDS:
            fields[f"optical_barriers.{b}.{name}.last"] = f"barrier {b + 1}: {text}"
    return fields


def _set(values: dict, path: str, value: float) -> None:
    """Set the field at ``path`` (``a.0.b.last``) of ``values`` to ``value``."""
    *parents, leaf = path.split(".")
    node: object = values
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]  # type: ignore[index]
    if isinstance(node, list):
        node[len(node) - 1 if leaf == "last" else int(leaf)] = value
    else:
        node[leaf] = value  # type: ignore[index]


def _short(field: str) -> str:
    return field.removeprefix(RUN_PREFIX)


def _problems(err: PydanticValidationError, prefix: str = "") -> list[dict]:
    return [
        {"field": prefix + field, "rule": rule}
        for field, rule in format_pydantic_error(err, "Invalid job").errors
    ]


def _run_problems(err: PydanticValidationError) -> list[dict]:
    """The problems of a job of several runs, each naming its run (1-based) and field."""
    problems = []
    for problem in _problems(err):
        match = _RUN_FIELD.match(problem["field"])
        if match is None:
            problems.append(problem)
        else:
            run, rest = int(match.group(1)) + 1, match.group(2) or "(run)"
            problems.append({"run": run, "field": rest, "rule": problem["rule"]})
    return problems


def _one_run(payload: dict) -> tuple[JobSubmit | None, list[dict]]:
    try:
        return JobSubmit.model_validate(payload), []
    except PydanticValidationError as err:
        return None, [{**p, "field": _short(p["field"])} for p in _problems(err)]


def check_job(payload: object) -> Composed:
    """The job (one run, or the runs of its sweep), or its problems as ``[{"field", "rule"}]``.

    Fields of the run's values are named as in the wire format
    (``rf_evaporation.frequencies_mhz``, ``optical_barriers.0.heights_khz``);
    a problem of one run of a sweep also gives that run's number
    (``{"run": 5, "field": "time_of_flight_ms", ...}``), and a problem of the
    sweep itself is named ``sweep.<field>``.
    """
    if not isinstance(payload, dict):
        return Composed(None, [{"field": "(job)", "rule": "expected a JSON object"}])
    payload = dict(payload)
    raw_sweep = payload.pop("sweep", None)
    if raw_sweep is None:
        return Composed(*_one_run(payload))
    sweep, problems = None, []
    try:
        sweep = Sweep.model_validate(raw_sweep)
    except PydanticValidationError as err:
        problems = _problems(err, "sweep.")
    base, base_problems = _one_run(payload)
    if base is None or sweep is None:
        return Composed(None, problems + base_problems)
    if len(base.inputs) != 1:
        rule = "a sweep starts from a job of one run"
        return Composed(None, [{"field": "sweep", "rule": rule}])
    run = base.inputs[0].model_dump(mode="json", include={"values", "notes"})
    fields = sweep_fields(run["values"])
    if sweep.field not in fields:
        rule = f"must be one of {', '.join(fields)}, got {sweep.field!r}"
        return Composed(None, [{"field": "sweep.field", "rule": rule}])
    points = [_tidy(v) for v in np.linspace(sweep.start, sweep.stop, sweep.runs)]
    runs = []
    for value in points:
        one = copy.deepcopy(run)
        _set(one["values"], sweep.field, value)
        runs.append(one)
    try:
        job = JobSubmit.model_validate({**payload, "inputs": runs})
    except PydanticValidationError as err:
        return Composed(None, _run_problems(err), fields[sweep.field], points)
    return Composed(job, [], fields[sweep.field], points)


def _tidy(value: float) -> float:
    """A linearly spaced value without the float noise of the spacing (7.500000000000001)."""
    if value == 0 or not math.isfinite(value):
        return float(value)
    return float(f"{value:.12g}")
